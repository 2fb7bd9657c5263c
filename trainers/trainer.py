"""The trainer: one code path for one process or many (torchrun), CPU or GPU."""
from __future__ import annotations

import copy
import math
import os
import signal
import time
from contextlib import nullcontext
from typing import Any, Dict, List, Mapping, Optional

import torch
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from losses import build_losses, compute_losses
from networks import build_model
from trainers import checkpoints
from trainers.data import SeededSamples, build_dataset, close_workers, train_loader, val_loader
from trainers.distributed import (World, all_gather_objects, all_reduce_sum, barrier,
                                  broadcast_object)
from trainers.logger import RunLog, sample_grid
from trainers.rng import capture_rng, restore_rng, seed_everything
from trainers.schedule import cosine_lr
from trainers.settings import TrainSettings, TrainingError, auto_workers, per_rank
from trainers.stopping import StopSignals, Stopped
from utils.checkpoint import CheckpointError, describe_mismatch, load_state_dict, mismatched_names
from utils.config import save_config
from utils.evaluation.core import Protocol, evaluate, samples_from_batches
from utils.evaluation.predictors import interpolator_predictor
from utils.inference import DTYPES, Interpolator

# cuBLAS picks reproducible reductions only with a fixed workspace (CUDA's documented value)
CUBLAS_DETERMINISTIC = ":4096:8"


def _to_device(batch: Mapping[str, Any], device: torch.device) -> Dict[str, Any]:
    return {k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}


def _local_resume_decision(resume: Optional[str], s: TrainSettings) -> Optional[str]:
    """The checkpoint to continue from as this process's disk sees it (None: fresh start);
    raises when a fresh start would overwrite an existing run."""
    path = checkpoints.resume_path(resume, s.resume_state, s.run_dir)
    if path is None and os.path.isfile(checkpoints.latest_path(s.run_dir)):
        raise TrainingError(f"{s.run_dir} already holds a run; continue it with "
                            "--resume auto or choose another exp_name/save_dir")
    return path


def agreed_resume_path(resume: Optional[str], s: TrainSettings, world: World) -> Optional[str]:
    """Rank 0 (the one process that writes checkpoints) decides what the run continues from,
    or that it must not start; every process follows, and all fail together when some cannot
    read the file rank 0 named (save_dir must be one folder that every node sees)."""
    decision: Dict[str, Optional[str]] = {"path": None, "error": None}
    if world.is_main:
        try:
            decision["path"] = _local_resume_decision(resume, s)
        except TrainingError as e:
            decision["error"] = str(e)
    decision = broadcast_object(decision, world)
    if decision["error"]:
        raise TrainingError(decision["error"])
    path = decision["path"]
    if path is None:
        return None
    seen = all_gather_objects(os.path.isfile(path), world)
    blind = [rank for rank, ok in enumerate(seen) if not ok]
    if blind:
        raise TrainingError(f"rank 0 resumes from {path}, but process(es) of rank "
                            f"{', '.join(map(str, blind))} cannot see that file: save_dir must be "
                            "a folder shared by every node (only rank 0 writes checkpoints)")
    return path


def configure_cuda_numerics(deterministic: bool, tf32: bool) -> List[str]:
    """Reproducibility and TF32 switches, set before the first CUDA kernel; returns the
    lines to log."""
    notes = []
    if deterministic:
        current = os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_DETERMINISTIC)
        if current not in (CUBLAS_DETERMINISTIC, ":16:8"):
            notes.append(f"note: CUBLAS_WORKSPACE_CONFIG={current} is kept; deterministic "
                         f"cuBLAS needs {CUBLAS_DETERMINISTIC} (or :16:8)")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
    else:
        torch.backends.cudnn.benchmark = True
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    notes.append(f"tf32 {'on' if tf32 else 'off'} for matmuls and convolutions, deterministic "
                 f"{'on' if deterministic else 'off'}")
    return notes


class Trainer:
    """Builds model, data, losses and optimiser from a config and trains to the last epoch.

    `s`: the config's settings (`read_settings(cfg)`, read once by the caller). `resume`:
    None (fresh, or the config's resume_state), 'auto' (run_dir/latest.pth when present) or
    a checkpoint path.
    """

    def __init__(self, cfg: Mapping[str, Any], s: TrainSettings, world: World,
                 resume: Optional[str] = None) -> None:
        self.cfg = copy.deepcopy(dict(cfg))
        self.s = s
        self.world = world
        self.run_dir = s.run_dir
        ckpt_path = agreed_resume_path(resume, s, world)
        notes = configure_cuda_numerics(s.deterministic, s.tf32)
        seed_everything(s.seed)  # the same initial weights on every process
        self.net = build_model(self.cfg["network"]).to(world.device).train()
        self.losses = build_losses(self.cfg["losses"])
        self.batch = per_rank(s.batch_size, world.size)
        self.train_set = SeededSamples(build_dataset(self.cfg["data"]["train"], "train"), s.seed)
        self.val_set = SeededSamples(build_dataset(self.cfg["data"]["val"], "val"), s.seed)
        self.generator = torch.Generator().manual_seed(s.seed + world.rank)
        workers, val_workers = (auto_workers(os.cpu_count(), world.local_size) if n is None else n
                                for n in (s.num_workers, s.val_num_workers))
        self.loader = train_loader(self.train_set, world, self.batch, workers, self.generator)
        self.val_loader = val_loader(self.val_set, world, max(1, s.val_batch_size // world.size),
                                     val_workers)
        self.iters_per_epoch = self.loader.sampler.num_samples // self.batch
        self.total_iters = s.epochs * self.iters_per_epoch
        self.optim = torch.optim.AdamW(self.net.parameters(), lr=s.lr, weight_decay=s.weight_decay)
        self.scaler = torch.amp.GradScaler(world.device.type, enabled=s.amp == "fp16")
        self.model = (DistributedDataParallel(self.net, device_ids=[world.device.index]
                                              if world.device.type == "cuda" else None)
                      if world.size > 1 else self.net)
        self.iter, self.best_psnr, self.bad_run = 0, -math.inf, 0
        self.signals = StopSignals()
        self.agreed_signal: Optional[int] = None  # the stop every process saw in the last step
        self.log = RunLog(self.run_dir, world.is_main, s.tensorboard)
        for line in [*notes, f"data loader workers per process: {workers} (train), "
                             f"{val_workers} (val)",
                     f"correlation: corr_mode {self.net.corr_mode}"]:
            self.log.info(line, echo=False)
        try:
            if ckpt_path:
                self._load(ckpt_path)
            elif s.init_weights:
                self._init_weights(s.init_weights)
        except TrainingError:
            self.log.close()
            raise
        if not ckpt_path:
            seed_everything(s.seed + world.rank)
        if world.is_main:
            save_config(self.cfg, os.path.join(self.run_dir, "config.yaml"))

    # ---- set-up -------------------------------------------------------------------------
    def _load_network(self, state_dict: Mapping[str, torch.Tensor], source: str) -> None:
        """Strict load, with the names or shapes that differ when it does not fit."""
        own = {k: tuple(v.shape) for k, v in self.net.state_dict().items()}
        wrong = mismatched_names(own, state_dict)
        if wrong:
            raise TrainingError(f"{source} does not fit this config's network "
                                f"({self.net.variant}): {describe_mismatch(wrong)}")
        self.net.load_state_dict(state_dict, strict=True)

    def _init_weights(self, path: str) -> None:
        """Fine-tuning: the network starts from `path` (any checkpoint the inference loader
        reads), the optimiser, schedule and iteration count start fresh."""
        try:
            weights = load_state_dict(path)
        except CheckpointError as e:
            raise TrainingError(f"init_weights: {e}") from None
        self._load_network(weights, f"init_weights {path}")
        self.log.info(f"network initialised from {path} (fresh optimiser and schedule)")

    def _load(self, path: str) -> None:
        ckpt = checkpoints.read(path)
        meta = ckpt["meta"]
        if int(meta.get("iters_per_epoch", -1)) != self.iters_per_epoch:
            raise TrainingError(f"{path} was written with {meta.get('iters_per_epoch')} iterations "
                                f"per epoch, this config gives {self.iters_per_epoch}: the data set "
                                "or the global batch size changed, so the run cannot continue")
        self._load_network(ckpt["state_dict"], path)
        try:
            self.optim.load_state_dict(ckpt["optim"])
        except (RuntimeError, ValueError, KeyError) as e:
            raise TrainingError(f"{path}: its optimiser state does not fit this config's: "
                                f"{str(e).strip().splitlines()[0][:200]}") from None
        if ckpt["scaler"] and self.scaler.is_enabled():
            self.scaler.load_state_dict(ckpt["scaler"])
        self.iter, self.best_psnr = int(ckpt["iter"]), float(ckpt["best_psnr"])
        rng = ckpt["rng"]
        if len(rng) == self.world.size:
            restore_rng(rng[self.world.rank], self.generator)
        else:
            seed_everything(self.s.seed + self.world.rank + self.iter)
            self.log.info(f"warning: {path} was written by {len(rng)} processes, this run has "
                          f"{self.world.size}; random states are re-seeded and the sample order "
                          "differs from an uninterrupted run")
        self.log.info(f"resumed from {path} at iteration {self.iter} "
                      f"(epoch {self.iter // self.iters_per_epoch}), best PSNR {self.best_psnr:.4f}")

    # ---- checkpoints --------------------------------------------------------------------
    def _checkpoint(self) -> Dict[str, Any]:
        """Collective: every process contributes its random state."""
        rng = all_gather_objects(capture_rng(self.generator), self.world)
        return {
            "state_dict": {k: v.detach().cpu() for k, v in self.net.state_dict().items()},
            "optim": self.optim.state_dict(),
            "scheduler": {"iter": self.iter, "total": self.total_iters, "lr": self.s.lr,
                          "lr_min": self.s.lr_min},
            "scaler": self.scaler.state_dict(),
            "epoch": self.iter // self.iters_per_epoch,
            "iter": self.iter,
            "best_psnr": self.best_psnr,
            "rng": rng,
            "config": copy.deepcopy(self.cfg),
            "meta": {"variant": self.net.variant, "world_size": self.world.size,
                     "iters_per_epoch": self.iters_per_epoch,
                     "arbitrary_time": self.net.arbitrary_time},
        }

    def _save(self, names: List[str]) -> None:
        if not names:
            return
        if self.bad_run:
            # the weights just produced a non-finite loss: keep the last good files instead
            self.log.info(f"not saving {', '.join(names)}: the last step was non-finite")
            return
        if not all(torch.isfinite(p).all() for p in self.net.parameters()):
            raise TrainingError(f"the weights became non-finite at iteration {self.iter}; "
                                f"stopping without writing a checkpoint (last good one in "
                                f"{self.run_dir}). Lower lr or set grad_clip")
        ckpt = self._checkpoint()
        if self.world.is_main:
            for name in names:
                checkpoints.write(ckpt, self.run_dir, name)
            self.log.info(f"saved {', '.join(names)} after {self.iter} iterations", echo=False)

    # ---- one step -----------------------------------------------------------------------
    def _autocast(self):
        if self.s.amp == "none":
            return nullcontext()
        return torch.autocast(self.world.device.type, dtype=DTYPES[self.s.amp])

    def _step(self, batch: Mapping[str, Any]) -> Optional[Dict[str, float]]:
        """Forward, backward, update. Returns the process-averaged losses, lr and gradient
        norm, or None when the step was skipped for a non-finite loss or gradient."""
        batch = _to_device(batch, self.world.device)
        lr = cosine_lr(self.iter, self.total_iters, self.s.lr, self.s.lr_min)
        for group in self.optim.param_groups:
            group["lr"] = lr
        with self._autocast():
            out = self.model(batch["img0"], batch["img1"], batch["embt"])
        total, terms = compute_losses(self.losses, {**batch, **out})
        # one collective for the logged values, the skip decision and a signal any process
        # received, so all processes agree on each (and stop after the same iteration)
        values = torch.stack([total.detach(), *(t.detach() for t in terms.values())]).double()
        signalled = values.new_tensor([float(self.signals.signum == sig)
                                       for sig in (signal.SIGINT, signal.SIGTERM)])
        flags = torch.cat([(~torch.isfinite(values)).any().double().view(1), signalled])
        stats = all_reduce_sum(torch.cat([values, flags]), self.world).cpu()
        self.agreed_signal = (signal.SIGINT if stats[-2] > 0 else
                              signal.SIGTERM if stats[-1] > 0 else None)
        stats = stats[:-2]
        if stats[-1] > 0:
            self.optim.zero_grad(set_to_none=True)
            return None
        self.scaler.scale(total).backward()
        self.scaler.unscale_(self.optim)
        grads = [p.grad for p in self.net.parameters() if p.grad is not None]
        norm = torch.nn.utils.get_total_norm(grads)
        if not torch.isfinite(norm) and not self.scaler.is_enabled():
            self.optim.zero_grad(set_to_none=True)
            return None
        if self.s.grad_clip > 0:
            torch.nn.utils.clip_grads_with_norm_(grads, self.s.grad_clip, norm)
        self.scaler.step(self.optim)
        self.scaler.update()
        self.optim.zero_grad(set_to_none=True)
        if self.s.image_interval and self.iter % self.s.image_interval == 0 and self.world.is_main:
            self.log.images("train/sample", sample_grid(batch, out), self.iter)
        avg = (stats[:-1] / self.world.size).tolist()
        return {"loss": avg[0], **dict(zip(terms, avg[1:])), "lr": lr, "grad_norm": float(norm)}

    def _skipped(self) -> None:
        self.bad_run += 1
        self.log.info(f"iter {self.iter}: non-finite loss or gradient, step skipped "
                      f"({self.bad_run} in a row)")
        if self.bad_run >= self.s.max_nonfinite:
            raise TrainingError(
                f"the loss or gradient was non-finite for {self.bad_run} consecutive steps "
                f"(up to iteration {self.iter}); stopping without writing a checkpoint (the last "
                f"good one is kept in {self.run_dir}). Lower lr, set grad_clip, use amp bf16 "
                "instead of fp16, or check the data")

    # ---- validation ---------------------------------------------------------------------
    def validate(self) -> float:
        """Mean PSNR over the whole validation set; every process scores its share."""
        sums = torch.zeros(2, dtype=torch.float64)
        worst = []
        if self.val_loader is not None:
            predictor = interpolator_predictor(Interpolator(self.net, device=self.world.device),
                                               1.0, 16)
            res = evaluate(predictor, samples_from_batches(self.val_loader), Protocol(),
                           self.world.device, worst=1, progress=False)
            sums += torch.tensor([res.psnr * res.frames, res.frames], dtype=torch.float64)
            worst = res.worst
        all_reduce_sum(sums, self.world)
        if self.world.is_main and worst:
            case = worst[0]
            tiles = [*case.inputs, case.pred, case.truth]
            grid = torch.cat([torch.from_numpy(t).permute(2, 0, 1) for t in tiles], dim=2)
            self.log.images("val/worst", grid, self.iter)
        return float(sums[0] / sums[1])

    # ---- the loop -----------------------------------------------------------------------
    def _log_step(self, stats: Dict[str, float], epoch: int, rate: float) -> None:
        terms = " ".join(f"{k} {v:.9g}" for k, v in stats.items() if k not in ("loss", "lr", "grad_norm"))
        self.log.info(f"iter {self.iter}/{self.total_iters} epoch {epoch} loss {stats['loss']:.9g} "
                      f"{terms} lr {stats['lr']:.6g} grad_norm {stats['grad_norm']:.4g} "
                      f"samples/s {rate:.3g}", echo=False)
        self.log.scalars({f"train/{k}": v for k, v in stats.items()}, self.iter)
        self.log.scalars({"train/samples_per_s": rate}, self.iter)

    def _after_step(self) -> None:
        s, i = self.s, self.iter
        names = []
        if s.latest_every_iters and i % s.latest_every_iters == 0 and i % self.iters_per_epoch:
            names.append(checkpoints.LATEST)
        if s.keep_every_iters and i % s.keep_every_iters == 0:
            names.append(checkpoints.iter_name(i))
        self._save(names)

    def _end_epoch(self, epoch: int) -> None:
        """`epoch` epochs are complete: validate when due, then latest/best/periodic files."""
        s, names = self.s, [checkpoints.LATEST]
        if s.eval_interval and (epoch % s.eval_interval == 0 or epoch == s.epochs):
            psnr = self.validate()
            self.log.scalars({"val/psnr": psnr}, self.iter)
            improved = psnr > self.best_psnr
            self.best_psnr = max(self.best_psnr, psnr)
            self.log.info(f"epoch {epoch}: val PSNR {psnr:.4f} dB (best {self.best_psnr:.4f})")
            if improved:
                names.append(checkpoints.BEST)
        if s.keep_every_epochs and epoch % s.keep_every_epochs == 0:
            names.append(checkpoints.epoch_name(epoch))
        self._save(names)

    def _stop_signal(self) -> Optional[int]:
        """The signal to stop on now, if any. Alone, one received at any time; under torchrun
        only one that the last step's all-reduce told every process of, so that all stop
        after the same iteration and none waits in a collective."""
        return self.signals.signum if self.world.size == 1 else self.agreed_signal

    def _stop(self, signum: int, save: bool) -> None:
        """Save the iterations done as latest.pth (unless the epoch end just did) and stop."""
        if save:
            self._save([checkpoints.LATEST])
        # _save keeps the previous file after a non-finite step: then nothing new was written
        saved = not self.bad_run and os.path.isfile(checkpoints.latest_path(self.run_dir))
        stopped = Stopped(signum, self.iter, checkpoints.latest_path(self.run_dir) if saved else None)
        self.log.info(str(stopped), echo=False)
        raise stopped

    def fit(self) -> Dict[str, float]:
        s, ipe = self.s, self.iters_per_epoch
        self.log.info(f"training {self.net.variant} in {self.run_dir}: {self.world.size} process(es) "
                      f"on {self.world.device.type}, global batch {s.batch_size} ({self.batch} per "
                      f"process), {ipe} iterations per epoch, {s.epochs} epochs, from iteration "
                      f"{self.iter}")
        bar = tqdm(total=self.total_iters, initial=self.iter, disable=not self.world.is_main,
                   dynamic_ncols=True, unit="it")
        try:
            with self.signals:
                last = self._epochs(bar)
        finally:
            close_workers(self.loader)
            close_workers(self.val_loader)
            bar.close()
            self.log.close()
        return {"iter": self.iter, "best_psnr": self.best_psnr, **last}

    def _epochs(self, bar: tqdm) -> Dict[str, float]:
        s, ipe = self.s, self.iters_per_epoch
        last = {}
        tick, ticks = time.perf_counter(), 0
        for epoch in range(self.iter // ipe, s.epochs):
            self.loader.sampler.set_position(epoch, (self.iter - epoch * ipe) * self.batch)
            for batch in self.loader:
                stats = self._step(batch)
                ticks += 1
                if stats is None:
                    self._skipped()
                else:
                    self.bad_run = 0
                    last = stats
                    if self.iter % s.log_interval == 0 or self.iter + 1 == self.total_iters:
                        rate = ticks * s.batch_size / (time.perf_counter() - tick)
                        self._log_step(stats, epoch, rate)
                        tick, ticks = time.perf_counter(), 0
                    bar.set_postfix(loss=f"{stats['loss']:.4f}", refresh=False)
                self.iter += 1
                bar.update()
                self._after_step()
                # at an epoch's last iteration the stop waits for the epoch end's validation
                # and files, which a resume would skip
                signum = self._stop_signal() if self.iter % ipe else None
                if signum is not None:
                    self._stop(signum, save=True)
            self._end_epoch(epoch + 1)
            signum = self._stop_signal() if epoch + 1 < s.epochs else None
            if signum is not None:
                self._stop(signum, save=False)
            tick, ticks = time.perf_counter(), 0
        barrier(self.world)
        self.log.info(f"finished at iteration {self.iter}; best val PSNR {self.best_psnr:.4f}")
        return last
