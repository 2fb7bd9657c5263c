"""The interpolation tool: frames in, more frames out, streaming.

Frames are read in a background thread, interpolated pair by pair (on a GPU several
consecutive pairs per network call: _Batches) and written as they go, so memory does not
grow with the length of the video. Output times are mapped onto the
source timeline: output frame k sits at source position p_k = k * src_fps / out_fps; frame
k comes from the pair (floor(p_k), floor(p_k) + 1) at t = frac(p_k), and positions that land
on a source frame copy it unchanged. The last output is the last position at or before the
last source frame (so 48 frames at 24 fps become 118 frames at 60 fps). A variable-rate
video is mapped by its frames' own times instead (timed_positions). Frames are (H, W, C)
uint8 or uint16 arrays, C = 3 or 4 (RGBA), and the output keeps their depth and colour
where its codec can (utils.video_io.choose_output).
"""
from __future__ import annotations

import math
import os
import queue
import re
import threading
from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache
from typing import Callable, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from tqdm import tqdm

from networks import VARIANTS
from networks.plan import free_memory_bytes
from utils.evaluation.core import EvaluationError, Predictor, Protocol
from utils.evaluation.predictors import baseline_method, model_method
from utils.atomic import (OutputError, atomic_path, commit, discard, refuse_overwriting,
                          temp_name)
from utils.checkpoint import CheckpointError
from utils.config import ConfigError
from utils.images import full_scale, image_size, to_depth, write_image
from utils.inference import (DEFAULT_CHECKPOINT, DTYPES, InputError, _pad_divisor,
                             is_out_of_memory, load_model)
from utils.names import DEFAULT_IMAGE_FPS, DEFAULT_SCENE_THRESHOLD
from utils.pair_batching import MAX_PAIRS_PER_CALL, pairs_per_call
from utils.scene_cuts import is_scene_cut
from utils.video_formats import (CODEC_TABLE, CODECS, COLORSPACES, IMAGE_CODECS, VIDEO_EXTS,
                                 parse_rate, rate_text, to_rate)
from utils.video_io import (ImageSequenceWriter, OutputFormat, Source, VideoIOError, VideoWriter,
                            check_writable_ext, choose_output, copy_audio, ended_early,
                            open_source, read_frames)
from utils.video_probe import last_line
from utils.runtimes import BackendError, check_backend, load_network

MAX_FRAMES_PER_PAIR = 256   # what -n 8 gives; more is a typo, not a slow-motion request
MAX_FPS = 1000.0            # --fps and -r above this are refused
MAX_SCALE = 4.0
TIMES_PER_CALL = 16         # output times of one pair per call of a direct-time model
OOM_HINT = "try --scale 0.5, --dtype fp16 or smaller frames"


# Set while a run closes and moves its outputs into place: the command line's signal handler
# then lets the run finish (stopping there would throw the finished frames away).
CLOSING = threading.Event()


class DemoError(ValueError):
    """Bad input or output for the interpolation tool (one line for the user)."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C or a termination signal; `reason` says which (e.g. 'stopped by SIGTERM')."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Stop(Exception):
    """The run cannot go on (network output not finite, a limit reached); str() says why."""


@dataclass(frozen=True)
class Limits:
    """Bounds on one run, so that a typo or a hostile upload is refused before it starts
    instead of filling memory (None: no bound)."""
    max_pixels: Optional[int] = None       # pixels per input frame
    max_frames: Optional[int] = None       # output frames per run
    max_frames_per_pair: int = MAX_FRAMES_PER_PAIR


@dataclass(frozen=True)
class InterpolationOptions:
    """Everything one run is told, checked when it is made: a bad option is refused with one
    line (DemoError, named by its command-line flag) before any input is read or output
    written.

    The output rate is `fps`, or `factor` x the source rate, or 2^n_iter x the source rate.
    `frame_rate` (the published -r) is the rate the 2^n frames are played at; None or 0
    keeps the source timing (source fps x 2^n; 30 fps x 2^n for images). `baseline`
    ('average' or 'dis') replaces the network, and then checkpoint, config, dtype and scale
    are not used. `keep_still` copies the pixels that are identical in both frames of a pair.
    `fps` may be a Fraction or a string such as '24000/1001' (exact). `codec` (None: H.264,
    or H.265 Main 10 for a deeper source), `crf`, `lossless` and `colorspace` ('input': the
    source's) choose the output (utils.video_formats); `keep_alpha` keeps a source's alpha
    where the codec stores it.
    `backend` runs the network in PyTorch or as ONNX in ONNX Runtime or OpenVINO
    (utils.runtimes). `pairs_per_call` consecutive frame pairs go to the network in one call
    (None: utils.pair_batching.pairs_per_call, 1 on the CPU); the frames are the same.
    """
    inputs: Sequence[str]             # a video, a glob, a folder, or 2+ images (kept as a tuple)
    output: str                       # a video (.mp4, .m4v, .mkv, .mov, .avi) or, for --codec
                                      # png/tiff, the folder of images
    n_iter: int = 1
    fps: Optional[Union[float, Fraction, str]] = None
    factor: Optional[int] = None
    frame_rate: Optional[float] = None
    checkpoint: Optional[str] = None
    config: Optional[str] = None
    device: str = "cpu"
    dtype: str = "fp32"               # a key of utils.inference.DTYPES
    backend: str = "torch"            # one of utils.runtimes.BACKENDS
    scale: float = 1.0                # network resolution factor
    baseline: Optional[str] = None
    keep_still: bool = False
    arbitrary_time: Optional[bool] = None  # None: the checkpoint or config says (load_model)
    save_images: bool = False         # also a PNG sequence, <stem>_frames/
    gif: bool = False                 # also <stem>.gif
    scene_detect: bool = True
    scene_threshold: float = DEFAULT_SCENE_THRESHOLD  # utils.scene_cuts.cut_distance above it
    limits: Limits = field(default_factory=Limits)
    oom_hint: str = OOM_HINT          # the advice an out-of-memory line ends with
    codec: Optional[str] = None       # a key of utils.video_formats.CODEC_TABLE
    crf: Optional[int] = None
    lossless: bool = False
    colorspace: Optional[str] = None  # one of COLORSPACES; None or 'input': the source's
    keep_alpha: bool = True
    pairs_per_call: Optional[int] = None

    def __post_init__(self) -> None:
        # one path is one input, not its characters
        inputs = (self.inputs,) if isinstance(self.inputs, str) else tuple(self.inputs)
        object.__setattr__(self, "inputs", inputs)
        self._check_rate()
        self._check_output_choices()
        if not (math.isfinite(self.scene_threshold) and 0 <= self.scene_threshold <= 1):
            raise DemoError(f"--scene-threshold must be between 0 and 1, "
                            f"got {self.scene_threshold:g}")
        if not (math.isfinite(self.scale) and 0 < self.scale <= MAX_SCALE):
            raise DemoError(f"--scale must be above 0 and at most {MAX_SCALE:g} (e.g. 0.5 for "
                            f"4K), got {self.scale:g}")
        if self.dtype not in DTYPES:
            raise DemoError(f"--dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}")
        batch = self.pairs_per_call
        if batch is not None and not (isinstance(batch, int) and not isinstance(batch, bool)
                                      and 1 <= batch <= MAX_PAIRS_PER_CALL):
            raise DemoError(f"--pairs-per-call must be a whole number from 1 to "
                            f"{MAX_PAIRS_PER_CALL}, got {batch!r}")
        if self.baseline:  # the model-free methods do not use the network's scale
            return
        try:
            check_backend(self.backend, self.dtype, self.device)
        except BackendError as e:
            raise DemoError(str(e)) from None
        if self.backend != "torch" and self.scale != 1:
            raise DemoError(f"--backend {self.backend} runs the network at --scale 1 only; "
                            "use --backend torch for a scale")
        try:
            _pad_divisor(self.scale)  # the Interpolator's own check, now, not at the first pair
        except InputError as e:
            raise DemoError(f"--scale: {e}") from None

    def _check_output_choices(self) -> None:
        """--codec, --crf, --lossless and --colorspace on their own and together; whether the
        output's extension fits the codec is checked with the output."""
        if self.codec is not None and self.codec not in CODECS:
            raise DemoError(f"--codec must be one of {', '.join(CODECS)}, got {self.codec!r}")
        if self.colorspace is not None and self.colorspace not in COLORSPACES:
            raise DemoError(f"--colorspace must be one of {', '.join(COLORSPACES)}, "
                            f"got {self.colorspace!r}")
        spec = CODEC_TABLE[self.codec or "libx264"]
        if self.lossless and spec.lossless == "never":
            raise DemoError(f"--lossless: {spec.label} is not lossless; use --codec ffv1")
        if self.crf is not None:
            if spec.crf is None:
                raise DemoError(f"--crf does not apply to {spec.label} "
                                + ("(lossless)" if spec.lossless == "always"
                                   else "(fixed-quality profiles)"))
            if self.lossless:
                raise DemoError("give --crf or --lossless, not both")
            lo, hi, _ = spec.crf
            whole = isinstance(self.crf, int) and not isinstance(self.crf, bool)
            if not (whole and lo <= self.crf <= hi):
                raise DemoError(f"--crf must be a whole number from {lo} to {hi} for "
                                f"{spec.label}, got {self.crf!r}")

    def _check_rate(self) -> None:
        """The rate options; a --fps target is checked against the source once it is open
        (how many frames a pair makes depends on the source rate)."""
        per_pair = self.limits.max_frames_per_pair
        if self.fps is not None:
            if self.factor is not None:
                raise DemoError("give --fps or --factor, not both")
            object.__setattr__(self, "fps", _finite_rate(self.fps, "--fps"))
            return
        if self.factor is not None:
            if self.factor < 1:
                raise DemoError(f"--factor must be a whole number >= 1, got {self.factor}")
            made, what = self.factor, f"--factor {self.factor}"
        else:
            if not 0 <= self.n_iter <= 8:
                raise DemoError(f"-n must be between 0 and 8, got {self.n_iter}")
            if self.frame_rate:
                _finite_rate(self.frame_rate, "-r", allow_zero=True)
            made, what = 2 ** self.n_iter, f"-n {self.n_iter}"
        _check_per_pair(made, what, per_pair)

    @property
    def cut_threshold(self) -> Optional[float]:
        """The scene-cut threshold, None when scene detection is off."""
        return self.scene_threshold if self.scene_detect else None


@dataclass
class RunSummary:
    output: str
    frames: int = 0
    fps: float = 0.0
    weights: str = ""
    times: str = ""               # how non-midpoint times are produced
    cuts: int = 0                 # pairs treated as scene cuts (frames repeated)
    copies: int = 0               # identical pairs copied without the model
    audio: bool = False
    partial: bool = False
    images_dir: Optional[str] = None
    stopped: str = ""             # why a partial run stopped early
    notes: List[str] = field(default_factory=list)
    rate: Optional[Fraction] = None  # the exact playback rate
    video: str = ""               # the output's codec, depth and colour tags

    @property
    def fps_text(self) -> str:
        return rate_text(self.rate) if self.rate is not None else f"{self.fps:g}"

    def line(self) -> str:
        """The one summary line, the same in every front end."""
        if self.partial:
            return (f"partial: {self.frames} frames kept in {self.output}; "
                    f"stopped early: {self.stopped}")
        extra = [f"{self.cuts} scene cut(s) repeated"] if self.cuts else []
        extra += [f"{self.copies} identical pair(s) copied"] if self.copies else []
        extra += ["audio copied"] if self.audio else []
        extra += [self.video] if self.video else []
        return (f"wrote {self.output}: {self.frames} frames at {self.fps_text} fps"
                + (f" ({'; '.join(extra)})" if extra else ""))


class Frames:
    """A predictor (utils.evaluation.predictors: the model and the baselines alike) behind the one
    call the stream makes. `recursive`: the method reaches times off the midpoint by
    recursive halving (all of a pair's times then go in one call); `device`: where the
    predictor wants its input frames; `variant`: the AMT variant (networks.VARIANTS) whose
    memory sizes a batch of pairs, None for a baseline."""

    def __init__(self, predictor: Predictor, recursive: bool, device: str,
                 variant: Optional[str] = None) -> None:
        self.predictor, self.recursive, self.device = predictor, recursive, device
        self.variant = variant

    def interpolate(self, img0: torch.Tensor, img1: torch.Tensor, ts: List[float]) -> torch.Tensor:
        """img0, img1: (B, C, H, W) floats in [0, 1], C = 3 or 4 (RGBA): B pairs ->
        (T, B, C, H, W)."""
        return self.predictor(img0, img1, list(ts))


def load_interpolator(options: InterpolationOptions) -> Tuple[Frames, str]:
    """(the run's predictor, description of the weights). The model and the baselines take
    the same path as in the benchmarks: a Method, its predictor under a Protocol that holds
    the scale and the still-pixel copy."""
    protocol = Protocol(pad_divisor=None, scale_factor=options.scale,
                        keep_still=options.keep_still)
    if options.baseline:
        try:
            method = baseline_method(options.baseline)
        except EvaluationError as e:  # an unknown name
            raise DemoError(str(e)) from None
        return Frames(method.predictor(protocol), False, "cpu"), method.info["model"]
    checkpoint, config = options.checkpoint, options.config
    if checkpoint is None and config is None and not os.path.isfile(DEFAULT_CHECKPOINT):
        model = load_model(variant="AMT-S", device=options.device,
                           arbitrary_time=options.arbitrary_time)
        label = ("randomly initialised AMT-S (no checkpoint given and none bundled: output is "
                 "not meaningful)")
    else:
        model = load_model(checkpoint, config, device=options.device,
                           arbitrary_time=options.arbitrary_time)
        label = f"{model.variant} from {model.checkpoint}" if model.checkpoint else \
            f"randomly initialised {model.variant} (config without checkpoint)"
    network = load_network(options.backend, model)
    method = model_method(model, options.device, dtype=options.dtype, network=network,
                          backend=options.backend)
    return (Frames(method.predictor(protocol), method.recursive, options.device, model.variant),
            label)


def timeline(src_fps: Fraction, out_fps: Fraction) -> Iterator[Fraction]:
    """Source positions of output frames 0, 1, 2, ..."""
    k = 0
    while True:
        yield k * src_fps / out_fps
        k += 1


def timed_positions(times: Sequence[Fraction], out_fps: Fraction) -> Iterator[Fraction]:
    """Source positions of output frames 0, 1, 2, ... at `out_fps` when source frame i is
    shown at `times[i]` (seconds from the first; a variable-rate source): output time
    k / out_fps between frames i and i + 1 is position i + its fraction of that interval.
    Frames that share a time are passed over; past the last frame the positions keep
    growing, so the stream ends there."""
    i, k = 0, 0
    while True:
        tau = Fraction(k) / out_fps
        while i + 1 < len(times) and times[i + 1] <= tau:
            i += 1
        if i + 1 < len(times):
            yield i + (tau - times[i]) / (times[i + 1] - times[i])
        else:
            yield Fraction(i) + (tau - times[i]) * out_fps
        k += 1


def _background(items: Iterable, maxsize: int = 4) -> Iterator:
    """Iterate `items` in a thread, through a bounded queue (errors re-raised here)."""
    q: "queue.Queue" = queue.Queue(maxsize)
    done = object()
    stop = threading.Event()

    def put(item: object) -> bool:
        """Queue `item` unless the consumer has left (then False): a blocking put would wait
        for ever on a full queue nobody reads."""
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def fill() -> None:
        try:
            for item in items:
                if not put(item):
                    return
            put(done)
        except BaseException as e:  # handed to the consumer
            put(e)

    thread = threading.Thread(target=fill, daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()


class _Output:
    """The video or image sequence (and optional PNG sequence), written in a background
    thread to unique temporaries beside their targets; nothing under a final name is
    touched here."""

    def __init__(self, path: str, fps: Fraction, size_hw: tuple, images_dir: Optional[str],
                 fmt: OutputFormat, dtype=np.uint8) -> None:
        self.tmp = temp_name(path, directory=fmt.images)
        self.images_tmp = temp_name(images_dir, directory=True) if images_dir else None
        try:
            self.writer = (ImageSequenceWriter(self.tmp, fmt) if fmt.images
                           else VideoWriter(self.tmp, fps, size_hw, fmt, dtype))
        except BaseException:
            self.discard()
            raise
        self.q: "queue.Queue" = queue.Queue(8)
        self.error: Optional[BaseException] = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            frame = self.q.get()
            if frame is None:
                return
            if self.error is not None:
                continue
            try:
                if self.images_tmp:  # at the frames' own depth (16 bits from deeper sources)
                    png = os.path.join(self.images_tmp, f"{self.writer.frames:07d}.png")
                    write_image(png, frame, atomic=False)
                self.writer.write(frame)
            except BaseException as e:  # any kind: a dead thread would leave put() blocked
                self.error = e

    def put(self, frame: np.ndarray) -> None:
        if self.error is not None:
            raise self.error
        self.q.put(frame)

    def close(self) -> int:
        """Finish the encode; OutputError if any frame or the file's end failed to write."""
        self.q.put(None)
        self.thread.join()
        if self.error is not None:
            self.writer.abort()
            raise self.error
        self.writer.close()
        return self.writer.frames

    def abort(self) -> None:
        """Stop writing and remove the temporaries (a run that failed or was refused)."""
        self.error = self.error or OutputError(0, "aborted")
        self.q.put(None)
        self.thread.join()
        self.writer.abort()
        self.discard()

    def discard(self) -> None:
        discard(self.tmp)
        discard(self.images_tmp)


Progress = Callable[[int, int], None]  # (frames written, frames expected) after each frame


def run(options: InterpolationOptions, progress: Optional[Progress] = None) -> RunSummary:
    """Interpolate `options.inputs` into the video `options.output`.

    Outputs appear complete under their names or not at all; inputs are never replaced.
    A run that stops early (Ctrl-C, a signal, input that breaks off, out of memory, ...)
    returns a summary with `partial` set: the finished frames are in `<stem>.partial<ext>`
    (and `<stem>.partial_frames/`), and an existing output is left as it was. Raises
    DemoError (one line) when nothing could be written.
    """
    try:
        return _run(options, progress)
    except (VideoIOError, InputError, CheckpointError, ConfigError, OutputError) as e:
        raise DemoError(str(e)) from None
    except RuntimeError as e:  # e.g. moving the model to a full GPU, before any frame
        if is_out_of_memory(e):
            raise DemoError(f"out of memory on {options.device} ({last_line(e)}); "
                            f"{options.oom_hint}") from None
        raise


def _finite_rate(value: Union[float, Fraction, str], flag: str,
                 allow_zero: bool = False) -> Fraction:
    """The exact rate a flag names: a Fraction as given, a string parsed ('24000/1001'), a
    float to the nearest ratio (29.97 is 30000/1001, see utils.video_formats.to_rate)."""
    if isinstance(value, str):
        try:
            value = parse_rate(value)
        except ValueError as e:
            raise DemoError(f"{flag}: {e}") from None
    number = float(value)
    low_ok = number >= 0 if allow_zero else number > 0
    if not (math.isfinite(number) and low_ok and number <= MAX_FPS):
        raise DemoError(f"{flag} must be {'0 or ' if allow_zero else ''}between 0 and "
                        f"{MAX_FPS:g} fps, got {number:g}")
    return to_rate(value)


def _check_per_pair(made: int, what: str, per_pair: int) -> None:
    if made > per_pair:
        raise DemoError(f"{what} makes {made} frames per input pair; the limit is {per_pair}")


def _rates(src: Source, options: InterpolationOptions) -> Tuple[Fraction, Fraction, Fraction]:
    """(source fps, timeline output fps, playback fps) as exact fractions.
    The options are valid already; a --fps target is checked against the source here."""
    src_fps = Fraction(src.fps or DEFAULT_IMAGE_FPS)
    if options.fps is not None:
        out = play = _finite_rate(options.fps, "--fps")
        _check_per_pair(math.ceil(out / src_fps), f"--fps {float(out):g} from a "
                        f"{float(src_fps):g} fps source", options.limits.max_frames_per_pair)
    elif options.factor is not None:
        out = play = src_fps * options.factor
    else:
        out = src_fps * 2 ** options.n_iter
        play = (_finite_rate(options.frame_rate, "-r", allow_zero=True)
                if options.frame_rate else None) or out
    return src_fps, out, play


def _check_pixels(hw: Optional[tuple], limits: Limits, what: str) -> None:
    if hw and limits.max_pixels and hw[0] * hw[1] > limits.max_pixels:
        raise DemoError(f"{what} is {hw[1]}x{hw[0]} = {hw[0] * hw[1]:,} pixels, over the limit "
                        f"of {limits.max_pixels:,} pixels per frame")


def _output_ext(output: str, codec: Optional[str]) -> str:
    """The container extension of `output`; an image-sequence folder has none (a dot in its
    name, as in clip_29.97fps, is part of the name), unless it names a video container."""
    ext = os.path.splitext(output)[1]
    if codec in IMAGE_CODECS and ext.lower() not in VIDEO_EXTS:
        return ""
    return ext


def _outputs(output: str, save_images: bool, gif: bool, codec: Optional[str] = None) -> dict:
    """Every path a run may write, by role."""
    ext = _output_ext(output, codec)
    stem = output[:len(output) - len(ext)]
    paths = {"video": output, "partial": f"{stem}.partial{ext}"}
    if save_images:
        paths.update(images=f"{stem}_frames", partial_images=f"{stem}.partial_frames")
    if gif:
        paths["gif"] = f"{stem}.gif"
    return paths


def _check_output(output: str, src: Source, paths: dict, options: InterpolationOptions) -> None:
    """Refuse, before anything starts, an output that is a folder (a file for an image
    sequence), has a container the writer cannot make or that cannot hold the codec, cannot
    be created, or would be or replace one of the inputs."""
    images = options.codec in IMAGE_CODECS
    if images and os.path.isfile(output):
        raise DemoError(f"the output {output} is a file; --codec {options.codec} writes a "
                        "folder of images")
    if not images and os.path.isdir(output):
        raise DemoError(f"the output {output} is a folder; give a file name such as "
                        f"{os.path.join(output, src.name + '_2x.mp4')}")
    if not images:
        check_writable_ext(output)
    # the codec against the container now; the depth is known with the first frame
    choose_output(_output_ext(output, options.codec), options.codec, 8, False, src.colour)
    refuse_overwriting(list(paths.values()), src.paths)
    folders = ("images", "partial_images") + (("video", "partial") if images else ())
    for role in folders:
        if role in paths:
            _check_frames_folder(paths[role], src)
    _check_output_folder(os.path.dirname(output))


def _check_output_folder(out_dir: str) -> None:
    """The outputs' folder exists and is writable, or can be made: its nearest existing
    ancestor is a writable folder. It is made only once the first frame is in hand
    (_make_output_folder), so a run refused before then leaves nothing behind."""
    parent = out_dir
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise DemoError(f"cannot create output folder {out_dir}: {parent} is a file")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise DemoError(f"output folder {out_dir} is not writable" if parent == out_dir else
                        f"cannot create output folder {out_dir}: {parent} is not writable")


def _make_output_folder(out_dir: str) -> None:
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as e:
        raise DemoError(f"cannot create output folder {out_dir}: {e.strerror}") from None


# The names ImageSequenceWriter and the frames folder give their files
_FRAME_FILE = re.compile(r"\d{7}\.(png|tif)")


def _check_frames_folder(folder: str, src: Source) -> None:
    """Refuse an existing image folder output that holds anything but frames of an earlier
    run, or holds an input: the new folder replaces it as a whole (utils.atomic.commit)."""
    try:
        names = os.listdir(folder)
    except OSError:  # not there (or a file, refused elsewhere): nothing to replace
        return
    inside = [p for p in src.paths if _is_within(p, folder)]
    if inside:
        raise OutputError(0, f"the output is the input: {folder} holds the input {inside[0]}; "
                             "choose another -o")
    other = sorted(n for n in names if not _FRAME_FILE.fullmatch(n))
    if other:
        raise OutputError(0, f"the output folder {folder} holds files this tool did not write "
                             f"({other[0]}{', ...' if len(other) > 1 else ''}); it would be "
                             "replaced as a whole: empty it or choose another -o")


def _is_within(path: str, folder: str) -> bool:
    real, top = os.path.realpath(path), os.path.realpath(folder)
    return os.path.commonpath([real, top]) == top


def _run(options: InterpolationOptions, progress: Optional[Progress]) -> RunSummary:
    limits = options.limits
    src = open_source(list(options.inputs))
    output = os.path.abspath(options.output)
    paths = _outputs(output, options.save_images, options.gif, options.codec)
    _check_output(output, src, paths, options)
    src_fps, out_fps, play_fps = _rates(src, options)
    for image in src.images[:1]:  # the header is enough to refuse a huge image undecoded
        _check_pixels(image_size(image), limits, image)
    n_src = src.frames if src.frames else (len(src.images) or None)
    total = int((n_src - 1) * out_fps / src_fps) + 1 if n_src else None
    times = src.times.times if src.times and not src.times.constant else None
    if times:  # a variable-rate source: its frames' own times, its longest gap
        gap = max(b - a for a, b in zip(times, times[1:]))
        _check_per_pair(math.ceil(gap * out_fps), f"a {float(gap):.3g} s gap between frames at "
                        f"{float(out_fps):g} fps", limits.max_frames_per_pair)
        total = int(times[-1] * out_fps) + 1
    if limits.max_frames and total and total > limits.max_frames:
        raise DemoError(f"this makes {total:,} output frames, over the limit of "
                        f"{limits.max_frames:,} output frames")
    frames = _background(read_frames(src, keep_alpha=_keeps_alpha(src, options)))
    try:
        first = next(frames)
    except StopIteration:
        raise DemoError("the input has no frames") from None
    _check_pixels(first.shape[:2], limits, "the input")
    depth = src.depth(first)
    fmt = choose_output(_output_ext(output, options.codec), options.codec, depth,
                        src.alpha or first.shape[2] == 4, src.colour, options.crf,
                        options.lossless, options.colorspace, options.keep_alpha)
    if first.shape[2] == 4 and not fmt.alpha:
        first, frames = first[..., :3], _without_alpha(frames)
    try:
        _check_backend_alpha(options, fmt)
        # after the first frame: an ONNX backend's export takes minutes, and it must not run
        # for an input refused above
        ip, weights = load_interpolator(options)
    except BaseException:
        frames.close()
        raise
    summary = RunSummary(output, fps=float(play_fps), weights=weights,
                         times="recursive 2x (fixed-time model)" if ip.recursive else "direct t")
    if options.baseline and (options.checkpoint or options.config):
        summary.notes.append(f"--baseline {options.baseline}: the checkpoint/config were not used")
    if options.keep_still:
        summary.notes.append("--keep-still: pixels identical in both frames of a pair are copied")
    if src.colour.assumed:
        summary.notes.append(f"input colour {src.colour.assumed}")
    if times and options.fps is None:
        summary.notes.append(f"variable frame rate input: written at a constant "
                             f"{rate_text(out_fps)} fps from its mean rate; --fps sets the rate")
    summary.rate = play_fps
    summary.notes += fmt.notes
    summary.video = fmt.describe()
    _make_output_folder(os.path.dirname(output))
    sink = _Output(output, play_fps, first.shape[:2], paths.get("images"), fmt, first.dtype)
    # disable=None: no bar when stderr is not a terminal (logs, pipes), so the outcome line is
    # the only one there
    bar = tqdm(total=total, unit="frame", desc="interpolating", dynamic_ncols=True, disable=None)
    try:
        emit = _emitter(sink, bar, progress, total, limits.max_frames)
        positions = timed_positions(times, out_fps) if times else timeline(src_fps, out_fps)
        read = _interpolate_stream(first, frames, positions, ip=ip, emit=emit,
                                   summary=summary, cut_threshold=options.cut_threshold,
                                   pairs_per_call=_batch_size(options, ip, first.shape[:2]))
        if read == 1:
            raise DemoError("the input has a single frame; interpolation needs at least two")
        summary.stopped = ended_early(src, read) or ""
    except Interrupted as e:
        summary.stopped = e.reason
    except KeyboardInterrupt:
        summary.stopped = "interrupted (Ctrl-C)"
    except _Stop as e:
        summary.stopped = str(e)
    except VideoIOError as e:
        summary.stopped = f"the input broke off: {e}"
    except BaseException as e:
        if is_out_of_memory(e):
            summary.stopped = (f"out of memory on {options.device} ({last_line(e)}); "
                               f"{options.oom_hint}")
        elif isinstance(e, RuntimeError):
            said = f": {last_line(e)}" if str(e).strip() else ""
            summary.stopped = f"the network failed ({type(e).__name__}{said})"
        else:  # refused (DemoError) or the output failed (OutputError): nothing is kept
            bar.close()
            frames.close()
            sink.abort()
            raise
    CLOSING.set()
    try:
        bar.close()
        frames.close()
        try:
            summary.frames = sink.close()
        except BaseException:
            sink.discard()
            raise
        if summary.stopped:
            _keep_partial(sink, paths, summary)
        else:
            _finish(src, sink, paths, summary, play_fps, fmt)
    finally:
        CLOSING.clear()
    return summary


def _check_backend_alpha(options: InterpolationOptions, fmt: OutputFormat) -> None:
    """DemoError when the output keeps an alpha channel that an ONNX backend cannot take: it
    does only for a codec the user named, so the choice (drop it, or run in torch) is theirs."""
    if fmt.alpha and options.backend != "torch" and not options.baseline:
        raise DemoError(f"--backend {options.backend} takes RGB frames only, and --codec "
                        f"{fmt.codec} would keep this input's alpha: add --no-alpha to drop "
                        "it, or use --backend torch")


def _keeps_alpha(src: Source, options: InterpolationOptions) -> bool:
    """Whether a video's alpha is decoded: the source has it and the output stores it."""
    codec = options.codec or "libx264"
    return options.keep_alpha and src.alpha and CODEC_TABLE[codec].alpha


def _without_alpha(frames: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    try:
        for frame in frames:
            yield frame[..., :3]
    finally:
        frames.close()


def _keep_partial(sink: _Output, paths: dict, summary: RunSummary) -> None:
    """The finished frames of a run that stopped early, under names that say partial."""
    if summary.frames == 0:
        sink.discard()
        raise DemoError(summary.stopped)
    commit(sink.tmp, paths["partial"])
    if sink.images_tmp:
        commit(sink.images_tmp, paths["partial_images"])
        summary.images_dir = paths["partial_images"]
    summary.partial, summary.output = True, paths["partial"]


def _emitter(sink: _Output, bar: tqdm, progress: Optional[Progress], total: Optional[int],
             max_frames: Optional[int]) -> Callable[[np.ndarray], None]:
    """The function that writes one output frame and counts it (bar, progress, limit)."""
    done = [0]  # the bar's own count stays 0 when it is disabled (no terminal)

    def emit(frame: np.ndarray) -> None:
        if max_frames and done[0] >= max_frames:
            raise _Stop(f"reached the limit of {max_frames:,} output frames")
        sink.put(frame)
        done[0] += 1
        bar.update(1)
        if progress:
            progress(done[0], total or done[0])
    return emit


def _batch_size(options: InterpolationOptions, ip: Frames,
                size: Tuple[int, int]) -> Callable[[int], int]:
    """Pairs per network call as a function of the times each pair asks in it: the option,
    else utils.pair_batching.pairs_per_call for this device, its free memory now (the model
    is loaded: a snapshot, so jobs sharing the GPU rely on the out-of-memory fallback) and
    frames of `size` (H, W); 1 off CUDA and for a baseline."""
    if options.pairs_per_call is not None:
        return lambda times: options.pairs_per_call
    device = torch.device(ip.device)
    if device.type != "cuda" or ip.variant is None:
        return lambda times: 1
    variant, free = VARIANTS[ip.variant], free_memory_bytes(device)
    itemsize = DTYPES[options.dtype].itemsize

    @lru_cache()
    def per_call(times: int) -> int:
        return pairs_per_call(device.type, free, size, itemsize, times, options.scale,
                              variant.num_flows, variant.channels[0])
    return per_call


def _interpolate_stream(first: np.ndarray, frames: Iterator[np.ndarray],
                        positions: Iterator[Fraction], *, ip: Frames,
                        emit: Callable[[np.ndarray], None], summary: RunSummary,
                        cut_threshold: Optional[float],
                        pairs_per_call: Callable[[int], int] = lambda times: 1) -> int:
    """Emits the output frames at the source `positions`; returns how many input frames
    were read. Consecutive pairs that ask the network the same times go to it together,
    up to pairs_per_call(times asked per pair) at a time (_Batches); the frames and their
    order are those of one pair per call."""
    prev, index = first, 0
    batches = _Batches(ip, emit, summary, Uploads(ip.device), cut_threshold, pairs_per_call)
    pos = next(positions)
    while True:
        try:
            frame = next(frames)
        except StopIteration:
            break
        except Exception:
            # input that breaks off: the pairs read before it are finished first, as one
            # pair per call would have finished them
            batches.flush()
            raise
        ts = []
        while pos < index + 1:
            ts.append(pos - index)
            pos = next(positions)
        batches.add(prev, frame, ts, index)
        prev, index = frame, index + 1
    batches.flush()
    if index > 0 and pos == index:  # the last output lands exactly on the last source frame
        emit(prev)
    return index + 1


class Uploads:
    """The model-side copies of the input frames. Each frame is converted (and on CUDA
    uploaded) once although two pairs use it; on CUDA the integer frame goes through pinned
    memory and becomes float on the device (a quarter of the bytes of float32 for uint8, half
    for uint16)."""

    def __init__(self, device) -> None:
        self.device = torch.device(device)
        self.cached: dict = {}

    def tensor(self, index: int, frame: np.ndarray) -> torch.Tensor:
        """(1, C, H, W) float32 in [0, 1] on the device for input frame number `index`:
        (H, W, C) uint8 or uint16 over its `full_scale`."""
        if index not in self.cached:
            if not frame.flags.writeable:  # decoded video buffers; torch wants writable memory
                frame = frame.copy()
            wide = frame.dtype == np.uint16
            # torch has no general uint16: the bits travel as int16 and are read back below
            x = torch.from_numpy(np.ascontiguousarray(frame.view(np.int16) if wide else frame))
            if self.device.type == "cuda":
                x = x.pin_memory().to(self.device, non_blocking=True)
            # frames before the pair's first are not needed again
            self.cached = {i: t for i, t in self.cached.items() if i >= index - 1}
            x = x.permute(2, 0, 1).unsqueeze(0)
            x = (x.to(torch.int32) & 0xFFFF) if wide else x
            self.cached[index] = x.float().div_(full_scale(frame.dtype))
        return self.cached[index]


def to_pair_frames(out: torch.Tensor, dtype: np.dtype = np.uint8) -> List[List[np.ndarray]]:
    """(T, B, C, H, W) floats in [0, 1] -> for each of the B pairs its T (H, W, C) uint8 (or
    uint16) frames, rounded on the device so that one integer batch, not T x B float frames,
    is downloaded."""
    x = (out.clamp(0, 1) * full_scale(dtype)).round_()
    if np.dtype(dtype) == np.uint16:  # torch has no general uint16: through int32
        x = x.to(torch.int32).permute(1, 0, 3, 4, 2).cpu().numpy().astype(np.uint16)
    else:
        x = x.to(torch.uint8).permute(1, 0, 3, 4, 2).cpu().numpy()
    return [list(pair) for pair in x]


def to_frames(out: torch.Tensor, dtype=np.uint8) -> List[np.ndarray]:
    """(T, 1, C, H, W) floats in [0, 1] -> T (H, W, C) uint8 (or uint16) frames."""
    return to_pair_frames(out, dtype)[0]


NON_FINITE = ("the network produced non-finite values (NaN or infinity); those frames were "
              "not written (broken weights, or try --dtype fp32)")


def _pair_kind(a: np.ndarray, b: np.ndarray, ts: List[Fraction],
               cut_threshold: Optional[float]) -> str:
    """How the pair (a, b) at times ts (t = 0 is `a` itself) is made: 'none' (no time inside
    it), 'copy' (identical frames), 'cut' (over `cut_threshold`, None: no detection) or
    'network'."""
    if all(t == 0 for t in ts):
        return "none"
    if np.array_equal(a, b):
        return "copy"
    if cut_threshold is not None and is_scene_cut(a, b, cut_threshold):
        return "cut"
    return "network"


def _copied_frames(a: np.ndarray, b: np.ndarray, ts: List[Fraction], kind: str,
                   summary: RunSummary) -> Iterator[np.ndarray]:
    """Output frames of a pair the network is not asked for: a copy repeats `a`, a scene cut
    repeats the frame before it (t < 0.5) or after it."""
    if kind == "copy":
        summary.copies += 1
    if kind == "cut":
        summary.cuts += 1
        yield from (a if t < Fraction(1, 2) else b for t in ts)
        return
    yield from (a for _ in ts)


def _groups(ts: List[Fraction], ip: Frames) -> List[List[Fraction]]:
    """A pair's times in the groups asked in one call each: a direct-time model
    TIMES_PER_CALL at a time, so that memory does not grow with the frames per pair;
    recursive halving all together (it builds each midpoint once per call)."""
    step = len(ts) if ip.recursive else TIMES_PER_CALL
    return [ts[start:start + step] for start in range(0, len(ts), step)]


def _network_frames(a: np.ndarray, b: np.ndarray, ts: List[Fraction], *, ip: Frames,
                    uploads: Uploads, index: int) -> Iterator[np.ndarray]:
    """Output frames for the pair (a, b) = input frames (index, index + 1) at times ts, in
    order, one call per group of times; each group is checked before any of its frames is
    given out."""
    for group in _groups(ts, ip):
        asked = [t for t in group if t != 0]
        made = {}
        if asked:
            out = ip.interpolate(uploads.tensor(index, a), uploads.tensor(index + 1, b),
                                 [float(t) for t in asked])
            if not torch.isfinite(out).all():  # would be written as black (NaN) frames
                raise _Stop(NON_FINITE)
            made = dict(zip(asked, to_frames(out, a.dtype)))
        yield from (a if t == 0 else made[t] for t in group)


@dataclass
class _Pair:
    index: int            # input frames (index, index + 1)
    a: np.ndarray
    b: np.ndarray
    ts: List[Fraction]


class _Batches:
    """Output frames pair by pair, in order: consecutive pairs that need the network, ask
    it the same times and fit one call each are gathered (up to size(times asked) of them,
    so B + 1 input frames are held) and go to it in one call; every other pair is handled
    alone, after the gathered ones are given out. A batched call that runs out of memory is
    done again one pair per call, and so is the rest of the run (one note says so)."""

    def __init__(self, ip: Frames, emit: Callable[[np.ndarray], None], summary: RunSummary,
                 uploads: Uploads, cut_threshold: Optional[float],
                 size: Callable[[int], int]) -> None:
        self.ip, self.emit, self.summary, self.uploads = ip, emit, summary, uploads
        self.cut_threshold, self.size = cut_threshold, size
        self.pending: List[_Pair] = []
        self.single = False  # set by an out-of-memory in a batched call

    def add(self, a: np.ndarray, b: np.ndarray, ts: List[Fraction], index: int) -> None:
        """The pair (a, b) = input frames (index, index + 1) at times ts, the one after the
        pair added last."""
        kind = _pair_kind(a, b, ts, self.cut_threshold)
        if kind != "network":
            self.flush()
            for out in _copied_frames(a, b, ts, kind, self.summary):
                self.emit(out)
            return
        limit = 1
        if not self.single and len(_groups(ts, self.ip)) == 1:
            limit = self.size(sum(t != 0 for t in ts))
        if self.pending and (limit == 1 or self.pending[0].ts != ts):
            self.flush()
        self.pending.append(_Pair(index, a, b, ts))
        if len(self.pending) >= limit:
            self.flush()

    def flush(self) -> None:
        """Give out the frames of the gathered pairs."""
        pairs, self.pending = self.pending, []
        if len(pairs) == 1:
            self._one_by_one(pairs)
        elif pairs:
            self._together(pairs)

    def _one_by_one(self, pairs: List[_Pair]) -> None:
        for p in pairs:
            for out in _network_frames(p.a, p.b, p.ts, ip=self.ip, uploads=self.uploads,
                                       index=p.index):
                self.emit(out)

    def _together(self, pairs: List[_Pair]) -> None:
        asked = [t for t in pairs[0].ts if t != 0]
        out = self._call(pairs, asked)
        if out is None:
            self.single = True
            self.summary.notes.append(
                f"out of memory with {len(pairs)} frame pairs per call on {self.ip.device}; "
                f"one pair per call from input frame {pairs[0].index} on")
            self._one_by_one(pairs)
            return
        # the pairs before the first non-finite one are given out, as one by one they would be
        finite = torch.isfinite(out).flatten(2).all(dim=2).all(dim=0).tolist()
        good = finite.index(False) if False in finite else len(pairs)
        for p, made in zip(pairs, to_pair_frames(out[:, :good], pairs[0].a.dtype)):
            by_time = dict(zip(asked, made))
            for t in p.ts:
                self.emit(p.a if t == 0 else by_time[t])
        if good < len(pairs):
            raise _Stop(NON_FINITE)

    def _call(self, pairs: List[_Pair], asked: List[Fraction]) -> Optional[torch.Tensor]:
        """(T, B, C, H, W) for the B consecutive `pairs` at the times `asked`; None when the
        device ran out of memory (returned, not raised: the handler's traceback would keep
        the failed call's tensors alive while the pairs are done again)."""
        # consecutive pairs share their frames: B + 1 of them, each converted once
        frames = [p.a for p in pairs] + [pairs[-1].b]
        try:
            x = torch.cat([self.uploads.tensor(pairs[0].index + i, f)
                           for i, f in enumerate(frames)])
            return self.ip.interpolate(x[:-1], x[1:], [float(t) for t in asked])
        except RuntimeError as e:  # torch.OutOfMemoryError is one
            if not is_out_of_memory(e):
                raise
            return None


def _audio_plan(src: Source, summary: RunSummary, play_fps: Fraction,
                fmt: OutputFormat) -> Tuple[bool, float]:
    """(copy the audio, the video's start offset in seconds). Audio is copied when the output
    lasts as long as the input, within one frame (output or source, the longer: the output
    ends on the last source frame); otherwise a note says why not."""
    if not (src.video and src.has_audio):
        return False, 0.0
    if fmt.images:
        summary.notes.append("the audio was not copied: an image sequence holds none")
        return False, 0.0
    src_fps = Fraction(src.fps or DEFAULT_IMAGE_FPS)
    if src.times:
        source_s, last, offset = src.times.duration, src.times.last_duration, \
            max(0.0, float(src.times.first))
    else:
        source_s, last, offset = Fraction(src.frames or 0) / src_fps, 1 / src_fps, 0.0
    output_s = Fraction(summary.frames) / play_fps
    if abs(output_s - source_s) <= max(1 / play_fps, last):
        return True, offset
    summary.notes.append(f"the audio was not copied: the output lasts {float(output_s):.3g} s "
                         f"and the input {float(source_s):.3g} s (played at "
                         f"{rate_text(play_fps)} fps the frames change the duration)")
    return False, 0.0


def _finish(src: Source, sink: _Output, paths: dict, summary: RunSummary,
            play_fps: Fraction, fmt: OutputFormat) -> None:
    """Move the finished video into place, with the source's audio when the output keeps the
    source's duration; then the frames folder and the GIF."""
    output = paths["video"]
    try:
        audio, offset = _audio_plan(src, summary, play_fps, fmt)
        if audio:
            muxed = temp_name(output)
            why = copy_audio(sink.tmp, src.video, muxed, float(summary.frames / play_fps),
                             offset)
            if why is None:
                commit(muxed, output)
                summary.audio = True
            else:
                discard(muxed)
                summary.notes.append(f"the audio track could not be copied: {why}")
        if not summary.audio:
            commit(sink.tmp, output)
        if sink.images_tmp:
            commit(sink.images_tmp, paths["images"])
            summary.images_dir = paths["images"]
    finally:
        sink.discard()
    if "gif" in paths:
        _write_gif(output, paths["gif"], summary)


def _write_gif(output: str, gif_path: str, summary: RunSummary) -> None:
    import imageio.v3 as iio
    frames = [to_depth(f[..., :3], np.uint8)[0] for f in read_frames(open_source([output]))]
    with atomic_path(gif_path) as tmp:
        iio.imwrite(tmp, np.stack(frames), duration=1000 / max(summary.fps, 1), loop=0)
    summary.notes.append(f"GIF written to {gif_path}")
