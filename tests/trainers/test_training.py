"""End-to-end training on tiny synthetic data: loss goes down, checkpoints hold everything,
a SIGKILLed run resumes step for step, so does one stopped by SIGINT/SIGTERM (which saves first),
two torchrun processes stay in sync and stop together."""
import os
import signal
import subprocess
import time

import pytest
import torch

import train
from tests.trainers.helpers import (REPO, env, log_lines, logged_losses, run, run_dir,
                                    tiny_config, torchrun_cmd, train_cmd, write_config)
from networks import build_model
from trainers.checkpoints import REQUIRED
from trainers.rng import seed_everything
from utils.inference import load_model


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """8 epochs of one batch: the same two fixed (seeded, unaugmented) samples every step,
    so the loss curve shows the optimisation, not the sample-to-sample spread."""
    root = str(tmp_path_factory.mktemp("trained"))
    cfg = tiny_config(root, epochs=8, eval_interval=4,
                      checkpoint={"latest_every_iters": 0, "keep_every_epochs": 4, "keep_every_iters": 3})
    fixed = {**cfg["data"]["train"]["params"], "length": 2, "augment": False, "seed": 3}
    cfg["data"]["train"] = {"name": "SyntheticMotion", "params": fixed}
    path = write_config(cfg, os.path.join(root, "cfg.yaml"))
    assert train.main(["-c", path]) == 0
    return cfg, path


def test_training_lowers_the_loss(trained):
    cfg, _ = trained
    losses = logged_losses(run_dir(cfg))
    assert sorted(losses) == list(range(8))
    assert losses[7] < 0.8 * losses[0], losses


def test_checkpoints_hold_everything_and_load_for_inference(trained):
    cfg, _ = trained
    run = run_dir(cfg)
    names = sorted(f for f in os.listdir(run) if f.endswith(".pth"))
    assert names == ["best.pth", "epoch_0004.pth", "epoch_0008.pth", "iter_00000003.pth",
                     "iter_00000006.pth", "latest.pth"]
    ckpt = torch.load(os.path.join(run, "latest.pth"), weights_only=True)
    assert set(REQUIRED) <= set(ckpt)
    assert ckpt["iter"] == 8 and ckpt["epoch"] == 8 and ckpt["scheduler"]["iter"] == 8
    assert not any(k.startswith("module.") for k in ckpt["state_dict"])
    assert ckpt["config"] == cfg
    assert len(ckpt["rng"]) == 1 and torch.is_tensor(ckpt["rng"][0]["torch"])
    assert ckpt["optim"]["state"] and ckpt["meta"]["variant"] == "AMT-S"
    psnrs = [float(line.split("val PSNR ")[1].split()[0]) for line in log_lines(run, ": val PSNR")]
    assert len(psnrs) == 2 and ckpt["best_psnr"] == pytest.approx(max(psnrs), abs=1e-4)
    mid = torch.load(os.path.join(run, "iter_00000003.pth"), weights_only=True)
    assert mid["iter"] == 3 and mid["epoch"] == 3
    model = load_model(checkpoint=os.path.join(run, "latest.pth"))
    for key, value in model.state_dict().items():
        assert torch.equal(value, ckpt["state_dict"][key]), key


def test_tensorboard_has_scalars_and_images(trained):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    cfg, _ = trained
    events = EventAccumulator(os.path.join(run_dir(cfg), "tb"), size_guidance={"images": 0})
    events.Reload()
    tags = events.Tags()
    for tag in ("train/loss", "train/l_rec", "train/l_ter", "train/l_flo", "train/lr",
                "train/samples_per_s", "val/psnr"):
        assert tag in tags["scalars"], tag
    assert len(events.Scalars("train/loss")) == 8
    assert {"train/sample", "val/worst"} <= set(tags["images"])


def test_a_finished_run_is_not_overwritten(trained, capsys):
    _, path = trained
    assert train.main(["-c", path]) == 2
    assert "already holds a run; continue it with --resume auto" in capsys.readouterr().err


def test_resume_refuses_a_different_batch_split(trained, capsys):
    _, path = trained
    assert train.main(["-c", path, "data.train_loader.batch_size=1", "--resume", "auto"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "iterations per epoch" in err


def test_resume_refuses_a_weights_only_file(tmp_path, capsys):
    cfg = tiny_config(str(tmp_path))
    weights = str(tmp_path / "weights.pth")
    torch.save({"state_dict": {"w": torch.zeros(1)}}, weights)
    path = write_config(cfg, str(tmp_path / "cfg.yaml"))
    assert train.main(["-c", path, "--resume", weights]) == 2
    assert "cannot be resumed" in capsys.readouterr().err


def test_init_weights_fine_tunes_from_a_weights_file(trained, tmp_path):
    """A fresh run starts from the weights of another (lr ~0: they come through unchanged)."""
    cfg, _ = trained
    source = os.path.join(run_dir(cfg), "latest.pth")
    tune = tiny_config(str(tmp_path), epochs=1, lr=1e-12, lr_min=0.0, eval_interval=0,
                       init_weights=source)
    assert train.main(["-c", write_config(tune, str(tmp_path / "cfg.yaml"))]) == 0
    assert log_lines(run_dir(tune), f"network initialised from {source}")
    tuned = torch.load(os.path.join(run_dir(tune), "latest.pth"), weights_only=True)
    start = torch.load(source, weights_only=True)["state_dict"]
    assert tuned["iter"] == 2 and tuned["optim"]["state"]
    for key, value in start.items():
        assert torch.allclose(tuned["state_dict"][key], value, atol=1e-6), key
    fresh = build_model(cfg["network"]).state_dict()
    assert any(not torch.allclose(fresh[k], v) for k, v in start.items() if v.is_floating_point())


@pytest.mark.parametrize("weights, message", [
    ("missing.pth", "error: init_weights: checkpoint not found"),
    ("other.pth", "does not fit this config's network"),
])
def test_init_weights_that_cannot_be_used_give_one_line(tmp_path, capsys, weights, message):
    torch.save({"state_dict": {"w": torch.zeros(1)}}, str(tmp_path / "other.pth"))
    cfg = tiny_config(str(tmp_path), init_weights=str(tmp_path / weights))
    assert train.main(["-c", write_config(cfg, str(tmp_path / "cfg.yaml"))]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err


@pytest.mark.parametrize("args, message", [
    (["-c", "/nonexistent.yaml"], "config file not found"),
    (["lr"], "is not of the form key.path=value"),
    (["data.train.name=NoSuchSet"], "unknown dataset 'NoSuchSet'"),
    (["data.train.params.photo_dir=/nonexistent"], "photo folder not found"),
    (["lr=abc"], "'lr' = 'abc' is not a valid float"),
])
def test_bad_input_gives_one_error_line(tmp_path, capsys, args, message):
    path = write_config(tiny_config(str(tmp_path)), str(tmp_path / "cfg.yaml"))
    argv = args if args[0] == "-c" else ["-c", path, *args]
    assert train.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ") and message in err[-1], err


def test_non_finite_losses_stop_the_run_without_a_checkpoint(tmp_path, capsys):
    # lr 1e30 blows the weights up in the first step; every later loss is non-finite.
    # Step 1 ends epoch 1 with a non-finite loss (no checkpoint then), step 2 stops the run.
    cfg = tiny_config(str(tmp_path), lr=1e30, lr_min=1e30, max_nonfinite=2, epochs=2,
                      checkpoint={"latest_every_iters": 0, "keep_every_epochs": 1})
    path = write_config(cfg, str(tmp_path / "cfg.yaml"))
    assert train.main(["-c", path]) == 2
    err = capsys.readouterr().err
    assert "error: the loss or gradient was non-finite for 2 consecutive steps" in err
    assert not [f for f in os.listdir(run_dir(cfg)) if f.endswith(".pth")]
    assert len(log_lines(run_dir(cfg), "step skipped")) == 2
    assert log_lines(run_dir(cfg), "not saving latest.pth, epoch_0001.pth")


def test_bf16_autocast_trains(tmp_path):
    cfg = tiny_config(str(tmp_path), epochs=1, amp="bf16", grad_clip=0.1, eval_interval=0)
    assert train.main(["-c", write_config(cfg, str(tmp_path / "cfg.yaml"))]) == 0
    losses = logged_losses(run_dir(cfg))
    assert len(losses) == 2 and all(0 < v < 1 for v in losses.values())


def _kill_after(cmd, run, step, timeout=180, sig=signal.SIGKILL):
    """Start a training process and send it `sig` once it has logged `step`; returns its
    exit status and stderr."""
    proc = subprocess.Popen(cmd, env=env(), cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + timeout
    try:
        while step not in (logged_losses(run) if os.path.exists(os.path.join(run, "train_log.txt"))
                           else {}):
            assert proc.poll() is None, "training ended before it could be killed"
            assert time.monotonic() < deadline, "training too slow to reach the kill point"
            time.sleep(0.05)
    finally:
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=timeout)
    return proc.returncode, err


@pytest.mark.slow
def test_sigkill_and_resume_reproduce_the_loss_curve(tmp_path):
    base = tiny_config(str(tmp_path), epochs=3, deterministic=True, tensorboard=False,
                       image_interval=0, checkpoint={"latest_every_iters": 3})
    base["data"]["train"]["params"]["length"] = 8          # 4 steps per epoch, 12 in all
    base["data"]["train_loader"]["num_workers"] = 1        # samples made in a worker process
    full, killed = dict(base, exp_name="full"), dict(base, exp_name="killed")
    res = run(train_cmd(write_config(full, str(tmp_path / "full.yaml"))))
    assert res.returncode == 0, res.stderr[-2000:]

    killed_cfg = write_config(killed, str(tmp_path / "killed.yaml"))
    _kill_after(train_cmd(killed_cfg), run_dir(killed), step=7)
    partial = logged_losses(run_dir(killed))
    assert 7 in partial and 11 not in partial
    res = run(train_cmd(killed_cfg, "--resume", "auto"))
    assert res.returncode == 0, res.stderr[-2000:]

    resumed = log_lines(run_dir(killed), "resumed from")
    assert len(resumed) == 1 and "at iteration 6 " in resumed[0]
    a, b = logged_losses(run_dir(full)), logged_losses(run_dir(killed))
    assert sorted(a) == sorted(b) == list(range(12))
    assert max(abs(a[i] - b[i]) for i in a) <= 1e-6
    psnr = [log_lines(run_dir(c), "epoch 3: val PSNR") for c in (full, killed)]
    assert psnr[0][0].split("val PSNR")[1] == psnr[1][0].split("val PSNR")[1]


def _four_steps(root):
    cfg = tiny_config(root, epochs=1, eval_interval=0, deterministic=True, tensorboard=False,
                      image_interval=0, checkpoint={"latest_every_iters": 1000, "keep_every_epochs": 0})
    cfg["data"]["train"]["params"]["length"] = 8           # 4 steps in all
    return cfg


@pytest.fixture(scope="module")
def four_step_losses(tmp_path_factory):
    """The losses of an uninterrupted 4-step run, for the signal tests to match."""
    root = str(tmp_path_factory.mktemp("four_steps"))
    cfg = _four_steps(root)
    res = run(train_cmd(write_config(cfg, os.path.join(root, "cfg.yaml"))))
    assert res.returncode == 0, res.stderr[-2000:]
    return logged_losses(run_dir(cfg))


@pytest.mark.slow
@pytest.mark.parametrize("sig, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)],
                         ids=["SIGINT", "SIGTERM"])
def test_a_signal_saves_latest_and_resume_continues_the_loss_curve(tmp_path, four_step_losses,
                                                                   sig, status):
    """Ctrl-C or SIGTERM in iteration 3 of 4 (no periodic save before it): latest.pth holds the
    3 iterations done, and --resume auto finishes with the uninterrupted run's losses."""
    cfg = _four_steps(str(tmp_path))
    path = write_config(cfg, str(tmp_path / "cfg.yaml"))
    # the signal comes while iteration 3 (logged as step 2) computes; it ends that one first
    code, err = _kill_after(train_cmd(path), run_dir(cfg), step=1, sig=sig)
    assert code == status, err[-2000:]
    latest = os.path.join(run_dir(cfg), "latest.pth")
    assert err.strip().splitlines()[-1] == (f"stopped by {sig.name} after iteration 3: saved "
                                            f"{latest}; continue with --resume auto"), err[-2000:]
    assert sorted(logged_losses(run_dir(cfg))) == [0, 1, 2]
    res = run(train_cmd(path, "--resume", "auto"))
    assert res.returncode == 0, res.stderr[-2000:]

    resumed = log_lines(run_dir(cfg), "resumed from")
    assert len(resumed) == 1 and "at iteration 3 " in resumed[0]
    losses = logged_losses(run_dir(cfg))
    assert sorted(losses) == sorted(four_step_losses) == list(range(4))
    assert max(abs(losses[i] - four_step_losses[i]) for i in losses) <= 1e-6


RANK_SCRIPT = """\
import sys
import torch
from trainers.distributed import close_world, init_world
from trainers.settings import read_settings
from trainers.trainer import Trainer
from utils.config import load_config

world = init_world("cpu")
cfg = load_config(sys.argv[1])
trainer = Trainer(cfg, read_settings(cfg), world)
trainer.fit()
torch.save(trainer.net.state_dict(), f"{sys.argv[2]}/rank{world.rank}.pth")
close_world(world)
"""


@pytest.mark.slow
def test_two_torchrun_processes_match_one_process(tmp_path):
    base = tiny_config(str(tmp_path), epochs=1, eval_interval=1, tensorboard=False,
                       image_interval=0, checkpoint={"latest_every_iters": 0})
    base["data"]["train"]["params"]["length"] = 6          # 3 steps of global batch 2
    base["data"]["val"]["params"]["length"] = 3            # uneven shares: 2 and 1 samples
    two, one = dict(base, exp_name="two"), dict(base, exp_name="one")
    script = tmp_path / "rank_script.py"
    script.write_text(RANK_SCRIPT)
    res = run(torchrun_cmd(2, str(script), write_config(two, str(tmp_path / "two.yaml")),
                           str(tmp_path)))
    assert res.returncode == 0, res.stderr[-3000:]
    res = run(train_cmd(write_config(one, str(tmp_path / "one.yaml"))))
    assert res.returncode == 0, res.stderr[-2000:]

    # gradients were all-reduced: both processes hold identical weights after the updates
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pth", weights_only=True) for r in (0, 1))
    assert all(torch.equal(r0[k], r1[k]) for k in r0)
    seed_everything(base["seed"])  # the trainer's initial weights
    start = build_model(base["network"]).state_dict()
    assert not all(torch.equal(r0[k], start[k]) for k in r0)  # ...and they did train
    # one sample per process gives the same global batches, so the same loss curve
    a, b = logged_losses(run_dir(two)), logged_losses(run_dir(one))
    assert sorted(a) == sorted(b) == [0, 1, 2]
    for i in a:
        assert a[i] == pytest.approx(b[i], rel=1e-4)
    assert "2 process(es)" in log_lines(run_dir(two), "training AMT-S")[0]
    p2, p1 = (log_lines(run_dir(c), "val PSNR")[0].split("val PSNR ")[1].split()[0] for c in (two, one))
    assert float(p2) == pytest.approx(float(p1), abs=1e-2)


STOP_SCRIPT = """\
import os
import signal
import sys
from trainers import Stopped
from trainers.distributed import close_world, init_world
from trainers.settings import read_settings
from trainers.trainer import Trainer
from utils.config import load_config

world = init_world("cpu")
cfg = load_config(sys.argv[1])
trainer = Trainer(cfg, read_settings(cfg), world)
step = trainer._step


def signalled_step(batch):
    if world.rank == 1 and trainer.iter == 1:  # as if only rank 1 got the signal
        os.kill(os.getpid(), signal.SIGTERM)
    return step(batch)


trainer._step = signalled_step
try:
    trainer.fit()
except Stopped as e:
    with open(f"{sys.argv[2]}/rank{world.rank}.txt", "w") as f:
        f.write(f"{e.iteration} {e.exit_status}")
close_world(world)
"""


def test_a_signal_to_one_torchrun_process_stops_all_after_the_same_iteration(tmp_path):
    """The step's all-reduce carries the signal: rank 0, which got none, stops with rank 1
    after iteration 2 (no process waits in a collective) and saves it."""
    cfg = tiny_config(str(tmp_path), epochs=1, eval_interval=0, tensorboard=False,
                      image_interval=0, checkpoint={"latest_every_iters": 1000,
                                                    "keep_every_epochs": 0})
    cfg["data"]["train"]["params"]["length"] = 8          # 4 steps of global batch 2
    script = tmp_path / "stop_script.py"
    script.write_text(STOP_SCRIPT)
    res = run(torchrun_cmd(2, str(script), write_config(cfg, str(tmp_path / "cfg.yaml")),
                           str(tmp_path)))
    assert res.returncode == 0, res.stderr[-3000:]
    assert [(tmp_path / f"rank{r}.txt").read_text() for r in (0, 1)] == ["2 143"] * 2
    ckpt = torch.load(os.path.join(run_dir(cfg), "latest.pth"), weights_only=True)
    assert ckpt["iter"] == 2 and len(ckpt["rng"]) == 2


def test_the_log_says_how_the_run_computes(trained):
    """Correlation mode, TF32, determinism and loader workers: what decides speed and
    reproducibility on a GPU is in the log from the first lines on."""
    cfg, _ = trained
    run = run_dir(cfg)
    assert log_lines(run, "correlation: corr_mode auto")
    assert log_lines(run, "tf32 off for matmuls and convolutions, deterministic off")
    assert log_lines(run, "data loader workers per process: 0 (train), 0 (val)")
