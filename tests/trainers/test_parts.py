"""The trainer's parts on their own: settings, schedule, RNG states, samplers, resume paths."""
import math
import os
import random

import numpy as np
import pytest
import torch
from torch.utils.data import Dataset

from trainers import checkpoints
from trainers.data import ResumableSampler, SeededSamples
from trainers.distributed import World
from trainers.rng import capture_rng, restore_rng
from trainers.schedule import cosine_lr
from trainers.settings import TrainingError, per_rank, read_settings
from utils.checkpoint import save_atomic

BASE = {
    "exp_name": "x", "epochs": 2, "lr": "2e-4", "lr_min": "2e-5",
    "network": {"name": "AMT-S"}, "losses": [{"name": "CharbonnierLoss"}],
    "data": {"train": {"name": "A"}, "val": {"name": "B"}, "train_loader": {"batch_size": 24}},
}


def _cfg(**changes):
    cfg = {k: (dict(v) if isinstance(v, dict) else v) for k, v in BASE.items()}
    cfg.update(changes)
    return cfg


def test_settings_cast_yaml_strings_and_keep_defaults():
    s = read_settings(_cfg())
    assert (s.lr, s.lr_min, s.batch_size, s.seed, s.amp) == (2e-4, 2e-5, 24, 2023, "none")
    assert s.run_dir.endswith("work_dir/x")


@pytest.mark.parametrize("changes, message", [
    ({"lr": "fast"}, "'lr' = 'fast' is not a valid float"),
    ({"lr": -1}, "'lr' = -1: must be a positive number"),
    ({"lr_min": 1.0}, "lr_min .* is larger than lr"),
    ({"epochs": 2.5}, "'epochs' = 2.5 is not a valid _int"),
    ({"amp": "fp8"}, "must be one of none, bf16, fp16"),
    ({"deterministic": "yes"}, "'deterministic' = 'yes' is not a valid _bool"),
    ({"exp_name": None}, "missing 'exp_name'"),
    ({"losses": []}, "missing 'losses'"),
    ({"data": {"train": {"name": "A"}, "train_loader": {"batch_size": 2}}}, "data.val"),
    ({"data": {"train": {"name": "A"}, "val": {"name": "B"}}}, "data.train_loader.batch_size"),
])
def test_bad_settings_raise_one_line(changes, message):
    with pytest.raises(TrainingError, match=message):
        read_settings(_cfg(**changes))


def test_global_batch_splits_evenly_or_fails():
    assert per_rank(24, 4) == 6
    with pytest.raises(TrainingError, match="does not split evenly over 5"):
        per_rank(24, 5)


def test_cosine_schedule_endpoints_and_midpoint():
    assert cosine_lr(0, 100, 2e-4, 2e-5) == pytest.approx(2e-4)
    assert cosine_lr(50, 100, 2e-4, 2e-5) == pytest.approx(1.1e-4)
    assert cosine_lr(100, 100, 2e-4, 2e-5) == pytest.approx(2e-5)
    lrs = [cosine_lr(i, 100, 2e-4, 2e-5) for i in range(101)]
    assert all(a >= b for a, b in zip(lrs, lrs[1:]))


def test_rng_states_survive_a_weights_only_round_trip(tmp_path):
    gen = torch.Generator().manual_seed(5)
    random.seed(1)
    np.random.seed(2)
    np.random.standard_normal()  # leaves a cached Gaussian in the NumPy state
    state = capture_rng(gen)
    save_atomic({"rng": [state]}, str(tmp_path / "c.pth"))
    expected = (random.random(), np.random.standard_normal(), torch.rand(3), torch.rand(2, generator=gen))
    random.seed(9)
    np.random.seed(9)
    torch.manual_seed(9)
    gen.manual_seed(9)
    loaded = torch.load(tmp_path / "c.pth", weights_only=True)["rng"][0]
    restore_rng(loaded, gen)
    got = (random.random(), np.random.standard_normal(), torch.rand(3), torch.rand(2, generator=gen))
    assert got[0] == expected[0] and got[1] == expected[1]
    assert torch.equal(got[2], expected[2]) and torch.equal(got[3], expected[3])


class _Draws(Dataset):
    """Each item is a draw from the three global RNGs, as augmentations would make."""

    def __len__(self):
        return 10

    def __getitem__(self, i):
        return (random.random(), float(np.random.rand()), float(torch.rand(())))


def test_seeded_samples_depend_on_seed_epoch_index_only():
    ds = SeededSamples(_Draws(), seed=3)
    first = [ds[i] for i in range(4)]
    random.seed(0)
    outer = random.random()
    random.seed(0)
    assert [ds[i] for i in reversed(range(4))] == first[::-1]   # order does not matter
    assert random.random() == outer                                 # the caller's RNG untouched
    assert len(set(first)) == 4
    ds.epoch = 1
    assert ds[0] != first[0]
    assert SeededSamples(_Draws(), seed=4)[0] != first[0]


def _world(rank, size):
    return World(rank, rank, size, torch.device("cpu"))


def test_resumable_sampler_continues_where_it_stopped():
    data = list(range(23))
    for rank in range(2):
        full = ResumableSampler(data, _world(rank, 2), seed=7)
        full.set_position(3, 0)
        order = list(full)
        assert len(order) == 11
        resumed = ResumableSampler(data, _world(rank, 2), seed=7)
        resumed.set_position(3, 4)
        assert list(resumed) == order[4:] and len(resumed) == 7
    # the two processes' shares are disjoint and the epoch reshuffles
    a, b = (ResumableSampler(data, _world(r, 2), seed=7) for r in range(2))
    assert not set(a) & set(b)
    a.set_position(1, 0)
    assert list(a) != list(ResumableSampler(data, _world(0, 2), seed=7))


def test_resume_path_choices(tmp_path):
    run = str(tmp_path / "run")
    assert checkpoints.resume_path("auto", None, run) is None
    save_atomic({"x": torch.zeros(1)}, checkpoints.latest_path(run))
    assert checkpoints.resume_path("auto", None, run) == checkpoints.latest_path(run)
    assert checkpoints.resume_path(None, None, run) is None
    with pytest.raises(TrainingError, match="not found"):
        checkpoints.resume_path(None, str(tmp_path / "nope.pth"), run)
    # auto falls back to the config's resume_state only while the run has no latest.pth
    elsewhere = str(tmp_path / "other.pth")
    save_atomic({"x": torch.zeros(1)}, elsewhere)
    assert checkpoints.resume_path("auto", elsewhere, str(tmp_path / "new")) == elsewhere
    assert checkpoints.resume_path("auto", elsewhere, run) == checkpoints.latest_path(run)
    with pytest.raises(TrainingError, match="not a training checkpoint.*no state_dict, optim"):
        checkpoints.read(checkpoints.latest_path(run))
    (tmp_path / "bad.pth").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(TrainingError, match="not a readable PyTorch checkpoint"):
        checkpoints.read(str(tmp_path / "bad.pth"))


def test_schedule_total_zero_is_safe():
    assert math.isfinite(cosine_lr(0, 0, 1e-3, 1e-4))


def test_gpu_settings_defaults_and_checks():
    s = read_settings(_cfg())
    assert (s.dist_timeout_s, s.dist_backend, s.tf32) == (600.0, "auto", False)
    assert s.num_workers is None and s.val_num_workers == 0   # 'auto' / the published 0
    loaders = {"batch_size": 4, "num_workers": "auto"}
    s = read_settings(_cfg(dist_timeout_s="30", tf32=True, dist_backend="gloo",
                           data={**BASE["data"], "train_loader": {**loaders, "num_workers": 6},
                                 "val_loader": loaders}))
    assert (s.dist_timeout_s, s.tf32, s.dist_backend, s.num_workers, s.val_num_workers) == \
        (30.0, True, "gloo", 6, None)


@pytest.mark.parametrize("changes, message", [
    ({"dist_timeout_s": 0}, "'dist_timeout_s' = 0: must be a positive number"),
    ({"dist_backend": "mpi"}, "must be one of auto, nccl, gloo"),
    ({"tf32": "on"}, "'tf32' = 'on' is not a valid _bool"),
    ({"data": {**BASE["data"], "train_loader": {"batch_size": 2, "num_workers": -1}}},
     r"'data.train_loader.num_workers' = -1 is not a valid worker count \(an integer >= 0 or 'auto'\)"),
    ({"data": {**BASE["data"], "train_loader": {"batch_size": 2, "num_workers": "many"}}},
     "is not a valid worker count"),
])
def test_bad_gpu_settings_raise_one_line(changes, message):
    with pytest.raises(TrainingError, match=message):
        read_settings(_cfg(**changes))


@pytest.mark.parametrize("cpus, local_size, expected", [
    (64, 8, 8),     # 8 GPUs on a 64-core node
    (32, 8, 4),
    (128, 1, 8),    # capped: more workers than this do not make one GPU faster
    (2, 1, 2),
    (4, 8, 0),      # fewer cores than processes: load in the training process
    (None, 1, 1),   # os.cpu_count() may not know
])
def test_auto_workers(cpus, local_size, expected):
    from trainers.settings import auto_workers
    assert auto_workers(cpus, local_size) == expected


@pytest.fixture
def _restore_numerics():
    saved = (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.benchmark,
             torch.backends.cudnn.deterministic, torch.backends.cuda.matmul.allow_tf32,
             torch.backends.cudnn.allow_tf32)
    yield
    torch.use_deterministic_algorithms(saved[0])
    (torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic,
     torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) = saved[1:]


def test_deterministic_runs_fix_the_cublas_workspace(monkeypatch, _restore_numerics):
    from trainers.trainer import configure_cuda_numerics
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    notes = configure_cuda_numerics(deterministic=True, tf32=False)
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
    assert torch.are_deterministic_algorithms_enabled() and not torch.backends.cudnn.benchmark
    assert notes == ["tf32 off for matmuls and convolutions, deterministic on"]
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", ":0:0")      # the user's own: kept, noted
    notes = configure_cuda_numerics(deterministic=True, tf32=False)
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":0:0"
    assert "CUBLAS_WORKSPACE_CONFIG=:0:0 is kept" in notes[0]
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG")
    configure_cuda_numerics(deterministic=False, tf32=False)
    assert "CUBLAS_WORKSPACE_CONFIG" not in os.environ           # only deterministic runs pay


@pytest.mark.parametrize("tf32", [True, False])
def test_tf32_follows_the_config(tf32, _restore_numerics):
    from trainers.trainer import configure_cuda_numerics
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = not tf32
    notes = configure_cuda_numerics(deterministic=False, tf32=tf32)
    assert torch.backends.cuda.matmul.allow_tf32 is tf32 and torch.backends.cudnn.allow_tf32 is tf32
    assert notes == [f"tf32 {'on' if tf32 else 'off'} for matmuls and convolutions, deterministic off"]


class _WorkerFacts(Dataset):
    """An augmentation draw and the OpenCV thread count of whoever makes the item."""

    def __len__(self):
        return 8

    def __getitem__(self, i):
        import cv2
        return torch.tensor([float(np.random.rand()), float(cv2.getNumThreads())])


def _epochs_of_draws(workers):
    from trainers.data import train_loader
    ds = SeededSamples(_WorkerFacts(), seed=3)
    loader = train_loader(ds, _world(0, 1), 2, workers, torch.Generator().manual_seed(0))
    epochs = []
    for epoch in range(2):
        loader.sampler.set_position(epoch, 0)
        epochs.append(torch.cat(list(loader)))
    return loader, epochs


def test_persistent_workers_draw_each_epochs_augmentation_with_one_cv2_thread():
    import cv2
    cv2.setNumThreads(2)
    # OpenCV's pool busy in the training process before the fork: a worker must not hang
    cv2.resize(np.ones((1500, 1500, 3), np.float32), (700, 700))
    loader, (first, second) = _epochs_of_draws(workers=1)
    assert loader.persistent_workers
    _, (first_in_process, second_in_process) = _epochs_of_draws(workers=0)
    # the workers outlive epoch 0, yet epoch 1 draws its own samples, as without workers
    assert torch.equal(first[:, 0], first_in_process[:, 0])
    assert torch.equal(second[:, 0], second_in_process[:, 0])
    assert not torch.equal(first[:, 0], second[:, 0])
    assert first[:, 1].eq(1).all() and second[:, 1].eq(1).all()


def test_shipped_configs_state_the_gpu_settings():
    import glob
    from utils.config import load_config
    paths = glob.glob(os.path.join(os.path.dirname(__file__), "..", "..", "cfgs", "*.yaml"))
    assert paths
    for path in paths:
        s = read_settings(load_config(path))
        assert (s.tf32, s.dist_backend, s.dist_timeout_s) == (False, "auto", 600.0), path
