"""A small web page for the interpolation tool: drop two images or a short video, get a video.

    python demos/app.py                 # http://127.0.0.1:7860
    python demos/app.py --port 8000 --host 0.0.0.0 --max-pixels 8300000 --max-frames 2000

Requests over a limit (--max-pixels per frame, --max-frames output frames, --max-upload-mb per
file) are refused at once with the limit named; --concurrency requests run at a time and at
most --max-queue wait. SIGTERM or Ctrl-C stops the server (exit 0) and deletes every upload
and result, also those of a request that was running.

Everything runs through demos.pipeline.run, the same code as demos/demo_2x.py. Needs the
`web` extra (pip install -e ".[web]"); nothing is fetched from the internet.
"""
from __future__ import annotations

import argparse
import glob
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Dict, List, Optional

from utils.video_formats import CODEC_TABLE

if TYPE_CHECKING:  # imported where used, after parsing: --help answers without torch
    from demos.pipeline import Limits

AVERAGE, DIS = "frame averaging (no network)", "DIS optical flow (no network)"
RANDOM = "random AMT-S (no checkpoint found: for testing only)"
MODES = ("2^n frames per pair", "target frame rate")
# The page's output choices: (codec, container). Only H.264 plays in every browser; the
# others are for downloading into an editor. Image sequences (a folder) are left to the CLI.
OUTPUTS = {"H.264 MP4 (plays in the browser)": ("libx264", ".mp4"),
           "H.265 MP4 (10-bit for 10/12-bit input)": ("libx265", ".mp4"),
           "FFV1 MKV (lossless, keeps depth and alpha)": ("ffv1", ".mkv"),
           "ProRes MOV (422 HQ; 4444 with alpha)": ("prores", ".mov")}
DEFAULT_OUTPUT = next(iter(OUTPUTS))
KEEP_S = 3600  # results (ours and gradio's cached uploads) are deleted after an hour
# Safe defaults for a page others share: a 1080p frame, 20 s at 30 fps, a short clip's upload.
MAX_PIXELS, MAX_FRAMES, MAX_UPLOAD_MB, CONCURRENCY, MAX_QUEUE = 1920 * 1080, 600, 50, 1, 16
OOM_HINT = "try smaller frames or fewer output frames"
STOPPING = threading.Event()  # set on SIGTERM / Ctrl-C: running requests stop at their next frame
_running = [0]                 # requests interpolating now, guarded by _idle
_idle = threading.Condition()


def weight_choices(folder: Optional[str] = None) -> Dict[str, Optional[str]]:
    """Label -> checkpoint path (None: the default model); then the two baselines.
    folder: where to look (default the project's pretrained/)."""
    if folder is None:
        from utils.inference import PROJECT_ROOT
        folder = os.path.join(PROJECT_ROOT, "pretrained")
    found = sorted(glob.glob(os.path.join(folder, "*.pth")))
    choices: Dict[str, Optional[str]] = {os.path.basename(p): p for p in found}
    if not choices:
        choices[RANDOM] = None
    choices[DIS] = None
    choices[AVERAGE] = None
    return choices


def default_crf(output: str) -> Optional[int]:
    """The CRF the codec of `output` (a key of OUTPUTS) uses when none is given (None: it has
    no quality scale), so the page's slider starts where the command line would."""
    spec = CODEC_TABLE[OUTPUTS[output][0]].crf
    return spec[2] if spec else None


def interpolate(image0: Optional[str], image1: Optional[str], video: Optional[str], weights: str,
                mode: str, n_iter: float, fps: float, choices: Dict[str, Optional[str]],
                workdir: str, report=None, limits: Optional[Limits] = None,
                max_upload_mb: float = MAX_UPLOAD_MB, output: str = DEFAULT_OUTPUT,
                crf: Optional[float] = None) -> tuple:
    """Inputs from the page -> (output video path, one line about what was done).
    `output` is a key of OUTPUTS; `crf` applies to the H.264/H.265 ones (None: the default).

    Raises DemoError (one line) for a request that is refused or does not finish; nothing of
    it is left in `workdir` then."""
    from demos.pipeline import DemoError, InterpolationOptions, Interrupted, Limits, run
    from utils.devices import check_device
    if video:
        inputs: List[str] = [video]
    elif image0 and image1:
        inputs = [image0, image1]
    else:
        raise DemoError("give two images or a video")
    if weights not in choices:
        raise DemoError(f"unknown weights {weights!r}")
    for path in inputs:
        size = os.path.getsize(path) if os.path.isfile(path) else 0
        if size > max_upload_mb * 1e6:
            raise DemoError(f"{os.path.basename(path)} is {size / 1e6:.1f} MB, over the limit "
                            f"of {max_upload_mb:g} MB per upload")
    if output not in OUTPUTS:
        raise DemoError(f"unknown output {output!r}")
    codec, ext = OUTPUTS[output]
    quality = dict(crf=int(crf)) if crf is not None and default_crf(output) is not None else {}
    rate = dict(fps=float(fps)) if mode == MODES[1] else dict(n_iter=int(n_iter))
    # refused here, before any work; the output goes in a folder of its own made below
    options = InterpolationOptions(
        inputs, f"interpolated{ext}", codec=codec, **quality, checkpoint=choices[weights],
        baseline={AVERAGE: "average", DIS: "dis"}.get(weights),
        device=check_device("auto"),
        limits=limits or Limits(MAX_PIXELS, MAX_FRAMES), oom_hint=OOM_HINT, **rate)
    prune(workdir)
    out = tempfile.mkdtemp(prefix="run-", dir=workdir)

    def progress(done: int, total: int) -> None:
        if STOPPING.is_set():
            raise Interrupted("the server is shutting down")
        if report:
            report(done, total)
    with _idle:
        _running[0] += 1
    try:
        if STOPPING.is_set():
            raise DemoError("the server is shutting down")
        summary = run(replace(options, output=os.path.join(out, options.output)), progress)
        if summary.partial:  # a page gets a whole video or an error, not half a clip
            raise DemoError(f"stopped early after {summary.frames} frames: {summary.stopped}")
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise
    finally:
        with _idle:
            _running[0] -= 1
            _idle.notify_all()
    return summary.output, (f"{summary.frames} frames at {summary.fps_text} fps; weights: "
                            f"{summary.weights}; {summary.video}"
                            + "".join(f"; {note}" for note in summary.notes))


def wait_for_requests(timeout_s: float = 5) -> bool:
    """After STOPPING is set: wait until no request is running (True) or the timeout."""
    with _idle:
        return _idle.wait_for(lambda: _running[0] == 0, timeout=timeout_s)


def prune(workdir: str, keep_s: float = KEEP_S) -> None:
    """Deletes the results of earlier requests older than keep_s, so a server left running
    does not fill the disk."""
    cutoff = time.time() - keep_s
    for old in glob.glob(os.path.join(workdir, "run-*")):
        if os.path.getmtime(old) < cutoff:
            shutil.rmtree(old, ignore_errors=True)


def _stop(signum, frame) -> None:
    STOPPING.set()  # a running request stops at its next frame and removes its files
    raise KeyboardInterrupt  # gradio then closes its server and main() cleans up


def build_app(choices: Dict[str, Optional[str]], workdir: str, limits: Optional[Limits] = None,
              max_upload_mb: float = MAX_UPLOAD_MB):
    import gradio as gr

    from demos.pipeline import DemoError

    def on_click(image0, image1, video, weights, mode, n_iter, fps, output, crf,
                 progress=gr.Progress()):
        def report(done: int, total: int) -> None:
            progress((done, total), desc="interpolating", unit="frames")
        try:
            path, info = interpolate(image0, image1, video, weights, mode, n_iter, fps,
                                     choices, workdir, report, limits, max_upload_mb,
                                     output, crf)
        except DemoError as e:
            raise gr.Error(str(e)) from None
        playable = OUTPUTS[output][0] == "libx264"
        return (path if playable else None), path, info

    with gr.Blocks(title="AMT frame interpolation", delete_cache=(KEEP_S, KEEP_S)) as app:
        gr.Markdown("# AMT frame interpolation\nDrop two images **or** a short video.")
        with gr.Row():
            image0 = gr.Image(type="filepath", label="first frame", elem_id="frame0")
            image1 = gr.Image(type="filepath", label="second frame", elem_id="frame1")
            video = gr.Video(label="or a video", elem_id="video_in")
        with gr.Row():
            weights = gr.Dropdown(list(choices), value=next(iter(choices)), label="weights",
                                  elem_id="weights")
            mode = gr.Radio(list(MODES), value=MODES[0], label="output rate", elem_id="mode")
            n_iter = gr.Slider(1, 5, value=2, step=1, label="n (2^n frames per pair)",
                               elem_id="n_iter")
            fps = gr.Number(value=60, label="target fps", elem_id="fps")
        with gr.Row():
            output = gr.Dropdown(list(OUTPUTS), value=DEFAULT_OUTPUT, label="output",
                                 elem_id="output")
            crf = gr.Slider(0, 51, value=default_crf(DEFAULT_OUTPUT), step=1,
                            label="quality (CRF, H.264/H.265; lower is better)", elem_id="crf")
        # each codec's own default (H.264 10, H.265 12) unless the user moves the slider
        output.change(lambda o: gr.update(value=default_crf(o)) if default_crf(o) is not None
                      else gr.update(), output, crf)
        go = gr.Button("Interpolate", variant="primary", elem_id="run")
        result = gr.Video(label="result", elem_id="result", autoplay=True)
        download = gr.File(label="download", elem_id="download")
        info = gr.Textbox(label="details", elem_id="info", interactive=False)
        go.click(on_click, [image0, image1, video, weights, mode, n_iter, fps, output, crf],
                 [result, download, info])
    return app


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--max-pixels", type=int, default=MAX_PIXELS,
                   help=f"pixels per input frame (default {MAX_PIXELS:,}: 1920x1080)")
    p.add_argument("--max-frames", type=int, default=MAX_FRAMES,
                   help=f"output frames per request (default {MAX_FRAMES})")
    p.add_argument("--max-upload-mb", type=float, default=MAX_UPLOAD_MB,
                   help=f"size of one uploaded file in MB (default {MAX_UPLOAD_MB})")
    p.add_argument("--concurrency", type=int, default=CONCURRENCY,
                   help=f"requests interpolated at the same time (default {CONCURRENCY})")
    p.add_argument("--max-queue", type=int, default=MAX_QUEUE,
                   help=f"requests waiting their turn; more are turned away (default {MAX_QUEUE})")
    a = p.parse_args(argv)
    for name in ("max_pixels", "max_frames", "max_upload_mb", "concurrency", "max_queue"):
        if not getattr(a, name) > 0:
            p.error(f"--{name.replace('_', '-')} must be positive")
    return a


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no calls home
    try:
        import gradio  # noqa: F401
    except ImportError:
        print('error: the web demo needs gradio: pip install -e ".[web]"', file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _stop)  # `kill`, service managers: clean up as on Ctrl-C
    signal.signal(signal.SIGINT, _stop)
    workdir = tempfile.mkdtemp(prefix="amt-web-")
    # gradio's uploads go inside our folder, so that removing it on exit removes them too
    os.environ["GRADIO_TEMP_DIR"] = os.path.join(workdir, "uploads")
    from demos.pipeline import Limits
    limits = Limits(max_pixels=args.max_pixels, max_frames=args.max_frames)
    try:
        app = build_app(weight_choices(), workdir, limits, args.max_upload_mb)
        app.queue(default_concurrency_limit=args.concurrency, max_size=args.max_queue).launch(
            server_name=args.host, server_port=args.port, ssr_mode=False,
            allowed_paths=[workdir], max_file_size=f"{args.max_upload_mb:g}mb")
    except OSError as e:
        print(f"error: cannot serve on {args.host}:{args.port}: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        pass
    finally:
        STOPPING.set()
        # a request stops at its next frame; one inside a long network call is not waited
        # for beyond a few seconds (the process then exits under it, see below)
        wait_for_requests()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Interpreter shutdown with gradio's and torch's worker threads still alive can abort
    # ("terminate called without an active exception", status 134); everything is cleaned
    # up by now, so leave without it.
    os._exit(code)
