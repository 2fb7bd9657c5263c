"""Everything GPU-related in one command: parity, precision, collectives, DDP, resume, speed.

    python benchmarks/gpu_check.py                          # a CUDA machine, at most ~10 minutes
    python benchmarks/gpu_check.py --device cpu --quick     # every section a CPU can run, < 3 min

Each section runs on its own and reports ok, failed (with its one-line cause) or skipped (with
the reason); a global time budget skips what would not fit, so the command always ends. Prints
a markdown table and writes one JSON report (--json). The exit status is 1 if any section
failed or any bar was missed, else 0.
"""
from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(REPO, "tests", "fixtures")
SAMPLE = os.path.join(REPO, "demos", "samples", "bikes.mp4")
SIZES = {"256x448": (256, 448), "720p": (720, 1280), "1080p": (1080, 1920), "4K": (2160, 3840)}
VARIANTS = ("AMT-S", "AMT-L", "AMT-G")
PARITY_ATOL = 2e-5          # the fixtures' imgt_pred tolerance (tests/fixtures/README.md)
LOW_PRECISION_DB = 45.0     # fp16/bf16 against fp32
FPS_BARS = {("AMT-S", "1080p", "bf16"): 60.0, ("AMT-G", "1080p", "bf16"): 10.0}
DEMO_FPS_BAR = 30.0
MEMORY_BAR_GB = 24.0        # AMT-S 4K without --scale fits a 24 GB card...
CARD_FREE_BYTES = 22 * 2 ** 30  # ...which leaves about this much free for the plan


@dataclass
class Check:
    """What one section found: rows of figures, bars with their verdicts, notes."""
    rows: List[Dict[str, object]] = field(default_factory=list)
    bars: List[Dict[str, object]] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)

    def bar(self, name: str, value: float, target: float, higher_is_better: bool = True) -> None:
        ok = value >= target if higher_is_better else value <= target
        self.bars.append({"bar": name, "value": float(f"{float(value):.4g}"),
                          "target": ("≥ " if higher_is_better else "≤ ") + f"{target:g}",
                          "ok": bool(ok)})


@dataclass
class Context:
    device: "object"           # torch.device
    quick: bool
    deadline: float
    work: str                  # scratch folder
    threads: int

    @property
    def cuda(self) -> bool:
        return self.device.type == "cuda"

    def left(self) -> float:
        return self.deadline - time.monotonic()


class Skip(Exception):
    """A section that cannot run here; str() says why."""


# --------------------------------------------------------------------------- helpers

def _psnr(a, b) -> float:
    mse = float(((a.float() - b.float()) ** 2).mean())
    return float("inf") if mse == 0 else 10 * math.log10(1.0 / mse)


def _real_pair(size: Tuple[int, int]):
    """Frames 0 and 1 of the bundled sample clip resized to `size`: (1, 3, H, W) each."""
    import cv2
    from utils.inference import to_tensor
    from utils.video_io import video_frames
    frames = []
    for frame in video_frames(SAMPLE):
        frames.append(cv2.resize(frame, (size[1], size[0]), interpolation=cv2.INTER_AREA))
        if len(frames) == 2:
            break
    return to_tensor(frames[0]), to_tensor(frames[1])


def _timed(fn: Callable[[], object], ctx: Context, repeats: int, warmup: int) -> List[float]:
    from utils.memory import sync
    for _ in range(warmup):
        fn()
    sync(ctx.device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync(ctx.device)
        times.append(time.perf_counter() - start)
    return times


def _env(ctx: Context, **extra: str) -> Dict[str, str]:
    """The environment of a child process; training children on a CPU get one thread each,
    so two ranks do not fight over the cores (and the arithmetic is the same in every run)."""
    path = os.pathsep.join(p for p in (REPO, os.environ.get("PYTHONPATH", "")) if p)
    threads = ctx.threads if ctx.cuda else 1
    return dict(os.environ, PYTHONPATH=path, OMP_NUM_THREADS=str(threads), **extra)


def _run(cmd: Sequence[str], ctx: Context, timeout: float, **extra: str
         ) -> subprocess.CompletedProcess:
    timeout = max(5.0, min(timeout, ctx.left()))
    return subprocess.run(list(cmd), cwd=REPO, env=_env(ctx, **extra), capture_output=True,
                          text=True, timeout=timeout)


def _tail(proc: subprocess.CompletedProcess) -> str:
    lines = (proc.stderr or proc.stdout or "").strip().splitlines()
    return lines[-1] if lines else f"exit status {proc.returncode}"


# --------------------------------------------------------------------------- sections

def environment(ctx: Context) -> Check:
    import torch
    c = Check()
    row: Dict[str, object] = {"torch": torch.__version__, "python": platform.python_version(),
                              "cpu_cores": os.cpu_count(), "device": str(ctx.device)}
    if ctx.cuda:
        free, total = torch.cuda.mem_get_info(ctx.device)
        row.update(gpu=torch.cuda.get_device_name(ctx.device),
                   capability=".".join(map(str, torch.cuda.get_device_capability(ctx.device))),
                   cuda=torch.version.cuda, free_gb=round(free / 1e9, 1),
                   total_gb=round(total / 1e9, 1),
                   nccl=".".join(map(str, torch.cuda.nccl.version())))
    else:
        row.update(cpu=platform.processor() or platform.machine(), threads=torch.get_num_threads())
    c.rows.append(row)
    return c


def parity(ctx: Context) -> Check:
    """The fixture cases on this device against the published outputs, TF32 off (and on)."""
    import numpy as np
    import torch
    from networks import build_model
    from utils.inference import tf32_mode
    from utils.parity import frames, load_cases, parity_weights
    c = Check()
    cases = load_cases(FIXTURES)
    names = sorted({k.split("/")[0] for k in cases if k.endswith("/imgt_pred")})
    for tf32 in ((False, True) if ctx.cuda else (False,)):
        for case in names:
            model = build_model(str(cases[f"{case}/model"]), corr_mode="auto")
            salt = str(cases[f"{case}/salt"])
            model.load_state_dict(parity_weights(FIXTURES, model.variant, salt))
            model = model.to(ctx.device).eval()
            x0 = frames(cases[f"{case}/img0"]).to(ctx.device)
            x1 = frames(cases[f"{case}/img1"]).to(ctx.device)
            embt = torch.from_numpy(cases[f"{case}/embt"]).reshape(-1, 1, 1, 1).to(ctx.device)
            with tf32_mode(tf32), torch.inference_mode():
                out = model(x0, x1, embt, float(cases[f"{case}/scale_factor"]))["imgt_pred"]
            ref = torch.from_numpy(np.asarray(cases[f"{case}/imgt_pred"]))
            err = float((out.float().cpu() - ref).abs().max())
            c.rows.append({"case": case, "tf32": tf32, "max_abs_err": f"{err:.2e}"})
            if not tf32:
                c.bar(f"parity {case} (TF32 off)", err, PARITY_ATOL, higher_is_better=False)
    if ctx.cuda:
        c.notes.append("TF32 on is reported, not held to the parity tolerance")
    return c


def precision(ctx: Context) -> Check:
    """fp16 / bf16 against fp32 on real frames with the bundled weights, per frame size."""
    from utils.inference import DTYPES, Interpolator, load_model
    c = Check()
    model = load_model(device=ctx.device)
    sizes = ["256x448"] if ctx.quick else list(SIZES)
    dtypes = ["bf16"] if not ctx.cuda else ["fp16", "bf16"]
    for name in sizes:
        if ctx.left() < 20:
            c.notes.append(f"time budget: sizes from {name} on not run")
            break
        x0, x1 = (x.to(ctx.device) for x in _real_pair(SIZES[name]))
        ref = Interpolator(model, ctx.device).interpolate(x0, x1, 0.5)
        for dt in dtypes:
            out = Interpolator(model, ctx.device, dtype=DTYPES[dt]).interpolate(x0, x1, 0.5)
            db = _psnr(out, ref)
            c.rows.append({"size": name, "dtype": dt, "psnr_vs_fp32_db": round(db, 2)})
            c.bar(f"{dt} vs fp32 at {name}", db, LOW_PRECISION_DB)
        del x0, x1, ref
    return c


def collectives(ctx: Context) -> Check:
    """A real collective on the backend the trainer uses here (NCCL on CUDA, else Gloo),
    through the trainer's own helpers, with a CPU tensor handed in as the trainer does."""
    import torch
    import torch.distributed as dist
    from trainers.distributed import World, all_reduce_sum
    c = Check()
    backend = "nccl" if ctx.cuda else "gloo"
    store = dist.FileStore(os.path.join(ctx.work, "store"), 1)
    dist.init_process_group(backend, store=store, rank=0, world_size=1)
    try:
        world = World(0, 0, 2, ctx.device, backend)  # size 2: the helper really calls it
        x = all_reduce_sum(torch.arange(4, dtype=torch.float32), world)
        ok = torch.equal(x.cpu(), torch.arange(4, dtype=torch.float32))
        c.rows.append({"backend": backend, "all_reduce": "ok" if ok else f"wrong: {x.tolist()}"})
        if not ok:
            raise RuntimeError(f"{backend} all_reduce returned {x.tolist()}")
    finally:
        dist.destroy_process_group()
    return c


def _photos(ctx: Context) -> str:
    """A few smooth random photos for the synthetic training set (no downloads)."""
    import cv2
    import numpy as np
    folder = os.path.join(ctx.work, "photos")
    if not os.path.isdir(folder):
        os.makedirs(folder)
        rng = np.random.default_rng(0)
        for i in range(3):
            coarse = rng.uniform(0, 255, (12, 12, 3)).astype(np.float32)
            img = cv2.resize(coarse, (192, 192), interpolation=cv2.INTER_CUBIC)
            img += rng.normal(0, 12, img.shape)
            cv2.imwrite(os.path.join(folder, f"p{i}.png"), np.clip(img, 0, 255).astype(np.uint8))
    return folder


def _train_config(ctx: Context, name: str, iters: int, batch: int = 2, **top) -> str:
    """A tiny synthetic-data AMT-S run of `iters` iterations per epoch (one epoch with
    --quick, else two)."""
    from utils.config import load_config, save_config
    cfg = load_config(os.path.join(REPO, "cfgs", "AMT-S.yaml"))
    synthetic = {"photo_dir": _photos(ctx), "size": [128, 128], "max_motion": 4.0}
    cfg.update(exp_name=name, save_dir=os.path.join(ctx.work, "runs"), epochs=1 if ctx.quick else 2,
               seed=7,
               device=ctx.device.type, log_interval=1, image_interval=0, tensorboard=False,
               checkpoint={"latest_every_iters": 1, "keep_every_epochs": 0, "keep_every_iters": 0},
               **top)
    cfg["data"] = {
        "train": {"name": "SyntheticMotion", "params": {**synthetic, "length": iters * batch}},
        "val": {"name": "SyntheticMotion",
                "params": {**synthetic, "length": 2, "augment": False, "seed": 1}},
        "train_loader": {"batch_size": batch, "num_workers": 0},
        "val_loader": {"batch_size": 2, "num_workers": 0},
    }
    path = os.path.join(ctx.work, f"{name}.yaml")
    save_config(cfg, path)
    return path


def _torchrun(nproc: int, *args: str) -> List[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone",
            f"--nproc_per_node={nproc}", *args]


def _max_rel(a: Dict[int, float], b: Dict[int, float]) -> float:
    common = sorted(set(a) & set(b))
    if not common:
        raise RuntimeError("the two runs logged no common iteration")
    return max(abs(a[i] - b[i]) / max(abs(b[i]), 1e-12) for i in common)


def ddp(ctx: Context) -> Check:
    """Two torchrun processes on this one device against one process with the same global
    batch. Two ranks cannot share a GPU under NCCL, so on CUDA this uses Gloo with CUDA
    tensors (`dist_backend: gloo`); the collectives section covers NCCL itself."""
    from trainers.logger import logged_losses
    c = Check()
    train = os.path.join(REPO, "train.py")
    one = _train_config(ctx, "ddp1", iters=2 if ctx.quick else 3)
    two = _train_config(ctx, "ddp2", iters=2 if ctx.quick else 3, dist_backend="gloo")
    p1 = _run([sys.executable, train, "-c", one], ctx, 240)
    if p1.returncode:
        raise RuntimeError(f"1-process run failed: {_tail(p1)}")
    p2 = _run(_torchrun(2, train, "-c", two), ctx, 300)
    if p2.returncode:
        raise RuntimeError(f"2-process run failed: {_tail(p2)}")
    runs = os.path.join(ctx.work, "runs")
    a, b = logged_losses(os.path.join(runs, "ddp1")), logged_losses(os.path.join(runs, "ddp2"))
    rel = _max_rel(b, a)
    c.rows.append({"processes": "2 vs 1", "iterations": len(a), "max_rel_loss_diff": f"{rel:.2e}"})
    c.bar("2-process DDP losses match 1 process (rel.)", rel, 1e-3 if ctx.cuda else 1e-4,
          higher_is_better=False)
    return c


def _kill_after(cmd: List[str], ctx: Context, ready: Callable[[], bool], pattern: Optional[str],
                timeout: float) -> int:
    """Start `cmd`, SIGKILL it (or its worker matching `pattern`) once `ready()`; returns its
    exit status."""
    proc = subprocess.Popen(cmd, cwd=REPO, env=_env(ctx), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    end = time.monotonic() + min(timeout, ctx.left())
    try:
        while not ready():
            if proc.poll() is not None or time.monotonic() > end:
                raise RuntimeError("the run ended or stalled before it could be killed")
            time.sleep(0.2)
        if pattern is None:
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            _kill_child(proc.pid, pattern)
        return proc.wait(timeout=max(5.0, end - time.monotonic()))
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _kill_child(parent: int, pattern: str) -> None:
    import psutil
    for child in psutil.Process(parent).children(recursive=True):
        if pattern in " ".join(child.cmdline()) and "LOCAL_RANK" in child.environ() and \
                child.environ().get("LOCAL_RANK") == "1":
            child.kill()
            return
    raise RuntimeError("no worker with LOCAL_RANK 1 found to kill")


def _latest_at(run: str, iteration: int) -> Callable[[], bool]:
    """Whether the run has logged `iteration` and holds a latest.pth."""
    from trainers.logger import LOG_NAME, logged_losses
    def ready() -> bool:
        if not (os.path.exists(os.path.join(run, "latest.pth"))
                and os.path.exists(os.path.join(run, LOG_NAME))):
            return False
        return max(logged_losses(run), default=0) >= iteration
    return ready


def resume(ctx: Context) -> Check:
    """SIGKILL mid-run, then `--resume auto`: the logged losses continue the uninterrupted run."""
    from trainers.logger import logged_losses
    c = Check()
    train = os.path.join(REPO, "train.py")
    ref_cfg = _train_config(ctx, "full", iters=4, deterministic=True)
    ref = _run([sys.executable, train, "-c", ref_cfg], ctx, 240)
    if ref.returncode:
        raise RuntimeError(f"uninterrupted run failed: {_tail(ref)}")
    cut_cfg = _train_config(ctx, "cut", iters=4, deterministic=True)
    run = os.path.join(ctx.work, "runs", "cut")
    _kill_after([sys.executable, train, "-c", cut_cfg], ctx, _latest_at(run, 2), None, 240)
    again = _run([sys.executable, train, "-c", cut_cfg, "--resume", "auto"], ctx, 240)
    if again.returncode:
        raise RuntimeError(f"resumed run failed: {_tail(again)}")
    full, cut = logged_losses(os.path.join(ctx.work, "runs", "full")), logged_losses(run)
    rel = _max_rel(cut, full)
    c.rows.append({"run": "SIGKILL + --resume auto", "iterations": len(cut),
                   "max_rel_loss_diff": f"{rel:.2e}"})
    # bitwise on a CPU; on CUDA grid_sample's and interpolate's backward kernels add in no
    # fixed order even with deterministic: true (PyTorch only warns), so rounding remains
    c.bar("resumed losses match the uninterrupted run (rel.)", rel, 1e-4 if ctx.cuda else 0.0,
          higher_is_better=False)
    if ctx.quick:
        c.notes.append("the elastic restart (torchrun --max-restarts 1) is not run with --quick")
    else:
        _elastic(ctx, train, c)
    return c


def _elastic(ctx: Context, train: str, c: Check) -> None:
    """torchrun --max-restarts 1 with one worker SIGKILLed: the restarted round resumes and
    finishes, within bounded time."""
    from trainers.logger import LOG_NAME, logged_losses
    iters = 4
    cfg = _train_config(ctx, "elastic", iters=iters, dist_backend="gloo", dist_timeout_s=60)
    run = os.path.join(ctx.work, "runs", "elastic")
    cmd = _torchrun(2, "--max-restarts=1", train, "-c", cfg, "--resume", "auto")
    start = time.monotonic()
    status = _kill_after(cmd, ctx, _latest_at(run, 2), "train.py", 300)
    with open(os.path.join(run, LOG_NAME), encoding="utf-8") as f:
        resumed = "resumed from" in f.read()
    logged = len(logged_losses(run))
    c.rows.append({"run": "torchrun --max-restarts 1, a worker SIGKILLed", "exit_status": status,
                   "resumed": resumed, "iterations_logged": logged,
                   "seconds": round(time.monotonic() - start, 1)})
    c.bar("elastic restart resumed and finished (1 = yes)",
          float(status == 0 and resumed and logged == 2 * iters), 1.0)


def _model_speed(ctx: Context, variant: str, size: str, dt: str, compiled: bool,
                 free_bytes: Optional[int] = None) -> Dict[str, object]:
    """One configuration's median time and peak memory; `free_bytes` plans the network as
    for a device with that much free memory instead of this one's."""
    import torch
    from networks import build_model
    from utils.inference import DTYPES, Interpolator
    from utils.memory import peak_bytes, reset_peak
    dtype = DTYPES[dt]
    from networks.amt import VARIANTS as SETTINGS
    from networks.plan import plan_for
    model = build_model(variant).to(ctx.device).eval()
    if free_bytes is not None:
        v = SETTINGS[variant]
        model.plan = plan_for(ctx.device.type, free_bytes, SIZES[size], 1, DTYPES[dt].itemsize,
                              num_flows=v.num_flows, first_channels=v.channels[0])
    # inductor's CPU compile takes minutes on a few cores: --quick checks the compiled path
    # (graphs captured, run and timed) with the aot_eager backend instead
    backend = "aot_eager" if ctx.quick else "inductor"
    ip = Interpolator(model, ctx.device, dtype=dtype, compile=compiled, compile_backend=backend)
    g = torch.Generator().manual_seed(0)
    x0 = torch.rand(1, 3, *SIZES[size], generator=g).to(ctx.device)
    x1 = torch.rand(1, 3, *SIZES[size], generator=g).to(ctx.device)
    reset_peak(ctx.device)
    repeats = 2 if ctx.quick else 5
    times = _timed(lambda: ip.interpolate(x0, x1, 0.5), ctx, repeats, 3 if compiled else 1)
    med = statistics.median(times)
    return {"variant": variant, "size": size, "dtype": dt, "compiled": compiled,
            "planned_for_free_gb": None if free_bytes is None else round(free_bytes / 2 ** 30, 1),
            "backend": backend if compiled else "eager",
            "median_ms": round(med * 1e3, 2), "fps": round(1 / med, 2),
            "peak_gb": round(peak_bytes(ctx.device) / 1e9, 3)}


def speed(ctx: Context) -> Check:
    """Interpolated frames per second of the model alone and its peak memory; then AMT-S at
    4K in fp32 planned as for a 24 GB card."""
    c = Check()
    if ctx.quick:
        grid = [("AMT-S", "256x448", dt, False) for dt in ("fp32", "bf16")]
    else:
        grid = [(v, s, dt, False) for v in VARIANTS for s in SIZES
                for dt in ("fp32", "fp16", "bf16")]
    _speed_rows(ctx, c, grid)
    if ctx.cuda and ctx.left() > 30:
        row = _model_speed(ctx, "AMT-S", "4K", "fp32", False, CARD_FREE_BYTES)
        c.rows.append(row)
        c.bar("AMT-S 4K fp32 peak memory planned for a 24 GB card (GB)", row["peak_gb"],
              MEMORY_BAR_GB, higher_is_better=False)
    return c


def compiled_speed(ctx: Context) -> Check:
    """`Interpolator(compile=True)` against eager, AMT-S (compile time not counted)."""
    c = Check()
    size, dt = ("256x448", "fp32") if ctx.quick else ("1080p", "bf16")
    grid = [("AMT-S", size, dt, comp) for comp in (False, True)]
    _speed_rows(ctx, c, grid)
    return c


def _speed_rows(ctx: Context, c: Check, grid: List[Tuple[str, str, str, bool]]) -> None:
    import torch
    for variant, size, dt, comp in grid:
        if ctx.left() < 15:
            c.notes.append(f"time budget: {len(grid) - len(c.rows)} configurations not run")
            break
        try:
            row = _model_speed(ctx, variant, size, dt, comp)
        except torch.OutOfMemoryError:
            row = {"variant": variant, "size": size, "dtype": dt, "compiled": comp,
                   "median_ms": "out of memory"}
        finally:
            if ctx.cuda:
                torch.cuda.empty_cache()
        c.rows.append(row)
        bar = FPS_BARS.get((variant, size, dt))
        if ctx.cuda and bar and not comp and isinstance(row.get("fps"), float):
            c.bar(f"{variant} {size} {dt} model fps", row["fps"], bar)


def training(ctx: Context) -> Check:
    """Training throughput (forward, losses, backward, AdamW) with and without AMP."""
    from benchmarks.training_speed import step_times
    from utils.config import load_config
    c = Check()
    cfg = load_config(os.path.join(REPO, "cfgs", "AMT-S.yaml"))
    batch, size, steps = (1, 128, 2) if ctx.quick else (24, 224, 10)
    for amp in (("none", "bf16") if ctx.quick else ("none", "bf16", "fp16")):
        times = step_times(cfg, batch, size, ctx.device, amp, 1 if ctx.quick else 3, steps)
        med = statistics.median(times)
        c.rows.append({"variant": "AMT-S", "batch": batch, "crop": size, "amp": amp,
                       "median_step_s": round(med, 4), "samples_per_s": round(batch / med, 1)})
    return c


def _clip(ctx: Context, path: str, size: Tuple[int, int], frames: int) -> None:
    import imageio_ffmpeg
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i",
           f"testsrc2=size={size[1]}x{size[0]}:rate=30:duration={frames / 30}",
           "-frames:v", str(frames), "-c:v", "libx264", "-pix_fmt", "yuv420p", "-crf", "18", path]
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)


def demo(ctx: Context) -> Check:
    """The demo's end-to-end fps on a generated clip: two clip lengths, so that start-up
    (imports, model load, encoder start) cancels out of the frame rate."""
    c = Check()
    size = (256, 448) if ctx.quick else SIZES["1080p"]
    counts = (4, 8) if ctx.quick else (20, 80)
    extra = [] if not ctx.cuda else ["--bf16"]
    walls = []
    for n in counts:
        clip, out = os.path.join(ctx.work, f"clip{n}.mp4"), os.path.join(ctx.work, f"out{n}.mp4")
        _clip(ctx, clip, size, n)
        start = time.monotonic()
        p = _run([sys.executable, os.path.join(REPO, "demos", "demo_2x.py"), "-i", clip, "-o", out,
                  "--device", ctx.device.type, *extra], ctx, 300)
        walls.append(time.monotonic() - start)
        if p.returncode:
            raise RuntimeError(f"demo failed on {n} frames: {_tail(p)}")
    made = 2 * (counts[1] - counts[0])  # output frames the longer clip adds
    fps = made / max(walls[1] - walls[0], 1e-9)
    c.rows.append({"clip": f"{size[0]}p testsrc2, {counts[0]} and {counts[1]} frames",
                   "wall_s": [round(w, 2) for w in walls], "output_fps": round(fps, 1),
                   "options": " ".join(extra) or "defaults"})
    if ctx.cuda:
        c.bar("demo end-to-end output frames/s at 1080p", fps, DEMO_FPS_BAR)
    return c


def out_of_memory(ctx: Context) -> Check:
    """A real CUDA out-of-memory error is recognised as one (the demo's one-line message)."""
    import torch
    from utils.inference import Interpolator, is_out_of_memory, load_model
    if not ctx.cuda:
        raise Skip("needs CUDA (the unit tests inject the error on CPU)")
    c = Check()
    torch.cuda.set_per_process_memory_fraction(0.005, ctx.device)
    try:
        ip = Interpolator(load_model(device=ctx.device), ctx.device)
        x = torch.rand(1, 3, *SIZES["4K"], device=ctx.device)
        ip.interpolate(x, x.flip(-1), 0.5)
        raise RuntimeError("4K with 0.5% of the device memory did not run out of memory")
    except RuntimeError as e:
        if not is_out_of_memory(e):
            raise
        c.rows.append({"error": type(e).__name__, "recognised": True})
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0, ctx.device)
        torch.cuda.empty_cache()
    return c


# seconds a section needs on a GPU before it is started (compiling takes minutes)
MIN_SECONDS = {"compile": 180, "speed": 60, "demo": 60}

SECTIONS: List[Tuple[str, Callable[[Context], Check]]] = [
    ("environment", environment), ("parity", parity), ("collectives", collectives),
    ("ddp", ddp), ("resume", resume), ("precision", precision), ("speed", speed),
    ("demo", demo), ("compile", compiled_speed), ("training", training),
    ("out_of_memory", out_of_memory),
]


# --------------------------------------------------------------------------- report

def run_sections(ctx: Context, names: Sequence[str],
                 save: Callable[[Dict[str, Dict[str, object]]], None]
                 ) -> Dict[str, Dict[str, object]]:
    """Each named section in order; `save` gets the results after every section, so a run
    killed from outside still leaves the report of what it finished."""
    results: Dict[str, Dict[str, object]] = {}
    for name, fn in SECTIONS:
        if name not in names:
            continue
        start = time.monotonic()
        entry: Dict[str, object]
        needs = MIN_SECONDS.get(name, 10) if ctx.cuda else 10
        if ctx.left() < needs:
            entry = {"status": "skipped", "why": f"time budget: under {needs} s left"}
        else:
            try:
                check = fn(ctx)
                missed = [b for b in check.bars if not b["ok"]]
                entry = {"status": "missed bar" if missed else "ok", "rows": check.rows,
                         "bars": check.bars, "notes": check.notes}
            except Skip as e:
                entry = {"status": "skipped", "why": str(e)}
            except Exception as e:  # one section's failure must not hide the others
                lines = str(e).strip().splitlines()
                entry = {"status": "failed",
                         "why": f"{type(e).__name__}: {lines[0] if lines else ''}"}
        entry["seconds"] = round(time.monotonic() - start, 1)
        results[name] = entry
        save(results)
        print(f"[{entry['seconds']:7.1f} s] {name}: {entry['status']}"
              + (f" ({entry['why']})" if "why" in entry else ""), file=sys.stderr, flush=True)
    return results


def markdown(results: Dict[str, Dict[str, object]]) -> str:
    lines = ["| section | status | figures |", "|---|---|---|"]
    for name, entry in results.items():
        figures = "; ".join(", ".join(f"{k} {v}" for k, v in row.items())
                            for row in entry.get("rows", [])) or entry.get("why", "")
        lines.append(f"| {name} | {entry['status']} | {figures} |")
    bars = [(n, b) for n, e in results.items() for b in e.get("bars", [])]
    if bars:
        lines += ["", "| bar | value | target | held |", "|---|---|---|---|"]
        lines += [f"| {b['bar']} | {b['value']:g} | {b['target']} | {'yes' if b['ok'] else 'NO'} |"
                  for _, b in bars]
    return "\n".join(lines)


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="sections: " + ", ".join(n for n, _ in SECTIONS))
    p.add_argument("--device", default="cuda", help="cuda (default) or cpu")
    p.add_argument("--quick", action="store_true", help="small sizes and few repeats")
    p.add_argument("--only", nargs="+", metavar="SECTION", help="run only these sections")
    p.add_argument("--budget-s", type=float, default=540.0,
                   help="stop starting new work after this many seconds (default 540)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: all)")
    p.add_argument("--json", default=None,
                   help="report file (default out/gpu_check/gpu_check_<device>_<date>.json)")
    return p.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    names = args.only or [n for n, _ in SECTIONS]
    unknown = sorted(set(names) - {n for n, _ in SECTIONS})
    if unknown:
        print(f"error: unknown section {unknown[0]!r}; choose from "
              f"{', '.join(n for n, _ in SECTIONS)}", file=sys.stderr)
        return 2
    if args.device not in ("cuda", "cpu"):
        print(f"error: --device must be cuda or cpu, not {args.device!r}", file=sys.stderr)
        return 2
    import torch
    if args.device == "cuda" and not torch.cuda.is_available():
        print("error: no CUDA GPU is visible here; use --device cpu --quick on a CPU",
              file=sys.stderr)
        return 2
    threads = args.threads or os.cpu_count() or 1
    torch.set_num_threads(threads)
    work = tempfile.mkdtemp(prefix="amt-gpu-check-")
    # an indexed device: some CUDA calls (set_per_process_memory_fraction) refuse bare 'cuda'
    device = torch.device("cuda", torch.cuda.current_device()) if args.device == "cuda" \
        else torch.device("cpu")
    ctx = Context(device, args.quick, time.monotonic() + args.budget_s, work, threads)
    day = datetime.date.today().isoformat()
    path = args.json or os.path.join(REPO, "out", "gpu_check",
                                     f"gpu_check_{args.device}_{day}.json")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    command = " ".join([os.path.relpath(__file__, REPO), *(sys.argv[1:] if argv is None else argv)])

    def save(results: Dict[str, Dict[str, object]]) -> None:
        from utils.atomic import write_text
        now = datetime.datetime.now(datetime.timezone.utc)
        report = {"date": now.isoformat(timespec="seconds"), "command": command,
                  "quick": args.quick, "sections": results}
        write_text(path, json.dumps(report, indent=1, default=str) + "\n")

    try:
        results = run_sections(ctx, names, save)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(markdown(results))
    print(f"report: {path}", file=sys.stderr)
    bad = [n for n, e in results.items() if e["status"] in ("failed", "missed bar")]
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
