"""A small web page for the interpolation tool: drop two images or a short video, get a video.

    python demos/app.py                 # http://127.0.0.1:7860
    python demos/app.py --port 8000 --host 0.0.0.0

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
import time
from typing import Dict, List, Optional

import torch

from demos.pipeline import DemoError, run
from utils.inference import PROJECT_ROOT

AVERAGE, DIS = "frame averaging (no network)", "DIS optical flow (no network)"
RANDOM = "random AMT-S (no checkpoint found: for testing only)"
MODES = ("2^n frames per pair", "target frame rate")
KEEP_S = 3600  # results (ours and gradio's cached uploads) are deleted after an hour


def weight_choices(folder: str = os.path.join(PROJECT_ROOT, "pretrained")) -> Dict[str, Optional[str]]:
    """Label -> checkpoint path (None: the default model); then the two baselines."""
    found = sorted(glob.glob(os.path.join(folder, "*.pth")))
    choices: Dict[str, Optional[str]] = {os.path.basename(p): p for p in found}
    if not choices:
        choices[RANDOM] = None
    choices[DIS] = None
    choices[AVERAGE] = None
    return choices


def interpolate(image0: Optional[str], image1: Optional[str], video: Optional[str], weights: str,
                mode: str, n_iter: float, fps: float, choices: Dict[str, Optional[str]],
                workdir: str, report=None) -> tuple:
    """Inputs from the page -> (output video path, one line about what was done)."""
    if video:
        inputs: List[str] = [video]
    elif image0 and image1:
        inputs = [image0, image1]
    else:
        raise DemoError("give two images or a video")
    if weights not in choices:
        raise DemoError(f"unknown weights {weights!r}")
    baseline = {AVERAGE: "average", DIS: "dis"}.get(weights)
    prune(workdir)
    out = tempfile.mkdtemp(prefix="run-", dir=workdir)
    rate = dict(fps=float(fps)) if mode == MODES[1] else dict(n_iter=int(n_iter))
    summary = run(inputs, os.path.join(out, "interpolated.mp4"), checkpoint=choices[weights],
                  baseline=baseline, device="cuda" if torch.cuda.is_available() else "cpu",
                  progress=report, **rate)
    return summary.output, f"{summary.frames} frames at {summary.fps:g} fps; weights: {summary.weights}"


def prune(workdir: str, keep_s: float = KEEP_S) -> None:
    """Deletes the results of earlier requests older than keep_s, so a server left running
    does not fill the disk."""
    cutoff = time.time() - keep_s
    for old in glob.glob(os.path.join(workdir, "run-*")):
        if os.path.getmtime(old) < cutoff:
            shutil.rmtree(old, ignore_errors=True)


def _stop(signum, frame) -> None:
    raise KeyboardInterrupt  # gradio then closes its server and main() cleans up


def build_app(choices: Dict[str, Optional[str]], workdir: str):
    import gradio as gr

    def on_click(image0, image1, video, weights, mode, n_iter, fps, progress=gr.Progress()):
        def report(done: int, total: int) -> None:
            progress((done, total), desc="interpolating", unit="frames")
        try:
            return interpolate(image0, image1, video, weights, mode, n_iter, fps, choices,
                               workdir, report)
        except DemoError as e:
            raise gr.Error(str(e)) from None

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
        go = gr.Button("Interpolate", variant="primary", elem_id="run")
        result = gr.Video(label="result", elem_id="result", autoplay=True)
        info = gr.Textbox(label="details", elem_id="info", interactive=False)
        go.click(on_click, [image0, image1, video, weights, mode, n_iter, fps], [result, info])
    return app


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=7860)
    args = p.parse_args(argv)
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no calls home
    try:
        import gradio  # noqa: F401
    except ImportError:
        print('error: the web demo needs gradio: pip install -e ".[web]"', file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _stop)  # `kill`, service managers: clean up as on Ctrl-C
    workdir = tempfile.mkdtemp(prefix="amt-web-")
    try:
        app = build_app(weight_choices(), workdir)
        app.queue().launch(server_name=args.host, server_port=args.port, ssr_mode=False,
                           allowed_paths=[workdir])
    except OSError as e:
        print(f"error: cannot serve on {args.host}:{args.port}: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        pass
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
