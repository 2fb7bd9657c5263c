"""Multi-process and GPU set-up without a GPU: where collectives run, which GPU a process
takes, the process-group timeout, and rank 0's resume decision."""
import datetime
import subprocess
import sys
import time
from dataclasses import dataclass

import pytest
import torch
import torch.distributed as dist

import train
from tests.trainers.helpers import REPO, env, run, tiny_config, torchrun_cmd, write_config
from trainers import distributed
from trainers.settings import TrainingError, read_settings
from trainers.trainer import Trainer


@dataclass(frozen=True)
class _NcclWorld:
    """A world whose process group is NCCL on `device`: what trainers see on GPUs."""
    device: torch.device
    rank: int = 0
    local_rank: int = 0
    size: int = 2
    backend: str = "nccl"
    local_size: int = 2
    distributed: bool = True
    is_main: bool = True


class _ReachedCollective(Exception):
    """The collective got a tensor on the right device (the test stops there)."""


def _nccl_like_all_reduce(world):
    def all_reduce(tensor, op=None, **kwargs):
        if tensor.device != world.device:
            raise RuntimeError(f"Tensors must be CUDA and dense (got a {tensor.device} tensor; "
                               f"this process group is on {world.device})")
        raise _ReachedCollective()
    return all_reduce


@pytest.fixture(scope="module")
def cpu_trainer(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("collectives"))
    cfg = tiny_config(root, tensorboard=False, image_interval=0)
    trainer = Trainer(cfg, read_settings(cfg), distributed.World(0, 0, 1, torch.device("cpu")))
    yield trainer
    trainer.log.close()


def test_step_statistics_are_reduced_on_the_backends_device(cpu_trainer, monkeypatch):
    """NCCL has no CPU tensors: the step's statistics go to the collective on the GPU. The
    meta device stands in for the GPU (shapes, no data), so the model runs there too."""
    trainer = cpu_trainer
    batch = next(iter(trainer.loader))
    world = _NcclWorld(torch.device("meta"))
    monkeypatch.setattr(dist, "all_reduce", _nccl_like_all_reduce(world))
    monkeypatch.setattr(trainer, "world", world)
    monkeypatch.setattr(trainer, "model", trainer.net.to("meta"))
    try:
        with pytest.raises(_ReachedCollective):
            trainer._step(batch)
    finally:
        trainer.net.to_empty(device="cpu")


def test_validation_sums_are_reduced_on_the_backends_device(cpu_trainer, monkeypatch):
    world = _NcclWorld(torch.device("meta"))
    monkeypatch.setattr(dist, "all_reduce", _nccl_like_all_reduce(world))
    monkeypatch.setattr(cpu_trainer, "world", world)
    monkeypatch.setattr(cpu_trainer, "val_loader", None)
    with pytest.raises(_ReachedCollective):
        cpu_trainer.validate()


def test_gloo_collectives_take_cpu_tensors_and_results_come_back(monkeypatch):
    world = _NcclWorld(torch.device("cpu"), backend="gloo")
    seen = []

    def all_reduce(tensor, op=None, **kwargs):
        seen.append(tensor.device)
        tensor.mul_(2)  # two processes holding the same values
    monkeypatch.setattr(dist, "all_reduce", all_reduce)
    x = torch.arange(3.0)
    assert distributed.all_reduce_sum(x, world) is x
    assert seen == [torch.device("cpu")] and x.tolist() == [0.0, 2.0, 4.0]


@pytest.mark.parametrize("preference, count, local_rank, expected", [
    ("auto", 0, 0, None),        # no GPU: the CPU
    ("cpu", 8, 3, None),         # asked for the CPU
    ("auto", 1, 0, 0),
    ("auto", 1, 3, 0),           # SLURM --gpus-per-task=1: its one GPU, whatever the rank
    ("cuda", 1, 7, 0),
    ("auto", 8, 3, 3),           # torchrun on an 8-GPU node
    ("cuda", 4, 0, 0),
    ("auto", 2, 1, 1),
])
def test_gpu_choice(preference, count, local_rank, expected):
    assert distributed.choose_gpu(preference, count, local_rank) == expected


@pytest.mark.parametrize("preference, count, local_rank, message", [
    ("cuda", 0, 0, "device is 'cuda' but no CUDA GPU is available"),
    ("auto", 2, 2, "local rank 2 has no GPU: only 2 are visible"),
    ("cuda", 4, 5, "local rank 5 has no GPU: only 4 are visible"),
])
def test_gpu_choice_that_cannot_work_is_one_line(preference, count, local_rank, message):
    with pytest.raises(TrainingError, match=message):
        distributed.choose_gpu(preference, count, local_rank)


def test_backend_choice():
    cuda, cpu = torch.device("cuda", 0), torch.device("cpu")
    choose = distributed.choose_backend
    assert choose("auto", cuda) == "nccl" and choose("auto", cpu) == "gloo"
    assert choose("gloo", cuda) == "gloo"
    with pytest.raises(TrainingError, match="'nccl' but this process trains on the CPU"):
        choose("nccl", cpu)


def _torchrun_env(monkeypatch, rank=1, size=2):
    for name, value in {"RANK": rank, "LOCAL_RANK": rank, "WORLD_SIZE": size,
                        "LOCAL_WORLD_SIZE": size, "MASTER_ADDR": "127.0.0.1",
                        "MASTER_PORT": "29999"}.items():
        monkeypatch.setenv(name, str(value))


def test_the_process_group_gets_the_timeout(monkeypatch):
    _torchrun_env(monkeypatch)
    calls = []
    monkeypatch.setattr(dist, "is_initialized", lambda: False)
    monkeypatch.setattr(dist, "init_process_group", lambda **kw: calls.append(kw))
    monkeypatch.setattr(distributed, "_round_store", lambda timeout: f"store {timeout}")
    world = distributed.init_world("cpu", timeout_s=42)
    timeout = datetime.timedelta(seconds=42)
    assert calls == [{"backend": "gloo", "timeout": timeout, "store": f"store {timeout}",
                      "rank": 1, "world_size": 2}]
    assert (world.rank, world.size, world.local_size, world.backend) == (1, 2, 2, "gloo")


def test_a_process_group_that_never_forms_is_one_line(tmp_path, monkeypatch, capsys):
    """The config's dist_timeout_s reaches init_process_group, and its timeout is the
    one-line error of train.py."""
    _torchrun_env(monkeypatch)
    got = []

    def never_forms(**kwargs):
        got.append(kwargs["timeout"])
        raise dist.DistStoreError("Timed out after 3 seconds waiting for clients. 1/2 clients joined.")
    monkeypatch.setattr(dist, "is_initialized", lambda: False)
    monkeypatch.setattr(dist, "init_process_group", never_forms)
    monkeypatch.setattr(distributed, "_round_store", lambda timeout: None)
    cfg = tiny_config(str(tmp_path), dist_timeout_s=3)
    assert train.main(["-c", write_config(cfg, str(tmp_path / "cfg.yaml"))]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert got == [datetime.timedelta(seconds=3)]
    assert len(err) == 1 and "rank 1 could not join the 2 training processes within " \
                              "dist_timeout_s = 3 s (gloo at 127.0.0.1:29999)" in err[0], err


RESUME_SCRIPT = """\
import datetime
import os
import sys

import torch
import torch.distributed as dist

from trainers.distributed import World
from trainers.settings import read_settings
from trainers.trainer import Trainer
from utils.config import load_config

dist.init_process_group("gloo", timeout=datetime.timedelta(seconds=20))
rank = dist.get_rank()
world = World(rank, rank, 2, torch.device("cpu"))
cfg = load_config(sys.argv[1])
os.chdir(os.path.join(sys.argv[2], f"node{rank}"))  # each node's own disk...
cfg["save_dir"] = "work_dir"                          # ...under the same relative save_dir
results = []
for resume in (None, "auto"):
    try:
        Trainer(cfg, read_settings(cfg), world, resume).log.close()
        results.append("started")
    except Exception as e:
        results.append(str(e).splitlines()[0])
with open(os.path.join(sys.argv[2], f"rank{rank}.txt"), "w") as f:
    f.write("\\n".join(results))
dist.destroy_process_group()
"""


def test_every_rank_follows_rank_0s_resume_decision(tmp_path):
    """Two nodes with their own save_dir, only rank 0's holding a run: both refuse a fresh
    start, and both refuse to resume from a file rank 1 cannot read, naming it."""
    cfg = tiny_config(str(tmp_path), tensorboard=False)
    (tmp_path / "node1").mkdir()
    latest = tmp_path / "node0" / "work_dir" / "run" / "latest.pth"
    latest.parent.mkdir(parents=True)
    latest.write_bytes(b"rank 0's checkpoint")
    script = tmp_path / "resume_script.py"
    script.write_text(RESUME_SCRIPT)
    res = run(torchrun_cmd(2, str(script), write_config(cfg, str(tmp_path / "cfg.yaml")),
                           str(tmp_path)), timeout=180)
    assert res.returncode == 0, res.stderr[-3000:]
    fresh, auto = zip(*((tmp_path / f"rank{r}.txt").read_text().splitlines() for r in (0, 1)))
    assert fresh[0] == fresh[1] and "already holds a run" in fresh[0], fresh
    assert auto[0] == auto[1], auto
    assert "rank 0 resumes from work_dir/run/latest.pth, but process(es) of rank 1 cannot " \
           "see" in auto[0]
    assert "save_dir must be a folder shared by every node" in auto[0]


JOIN_SCRIPT = """\
import sys
import torch
from trainers.distributed import all_reduce_sum, close_world, init_world

world = init_world("cpu", timeout_s=float(sys.argv[1]))
print(all_reduce_sum(torch.ones(1), world).item())
close_world(world)
"""


def _join(script, store_port, rank, restart):
    """One worker of torchrun round `restart`, its agent's store at `store_port`."""
    variables = dict(env(), RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2",
                     LOCAL_WORLD_SIZE="2", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(store_port),
                     TORCHELASTIC_USE_AGENT_STORE="True", TORCHELASTIC_RESTART_COUNT=str(restart))
    return subprocess.Popen([sys.executable, str(script), "20"], env=variables, cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_a_restart_round_does_not_join_the_dead_rounds_processes(tmp_path):
    """torchrun's agent keeps its store across restart rounds. Round 1's rank 1 starts
    before its rank 0 has written anything, with round 0's keys still in the store: it must
    wait for the new rank 0, not connect to the old one's address."""
    store = dist.TCPStore("127.0.0.1", 0, is_master=True, wait_for_workers=False,
                          timeout=datetime.timedelta(seconds=60))
    script = tmp_path / "join.py"
    script.write_text(JOIN_SCRIPT)
    first = [_join(script, store.port, rank, restart=0) for rank in (0, 1)]
    assert [p.communicate(timeout=120)[0].strip() for p in first] == ["2.0", "2.0"]
    late_rank_1 = _join(script, store.port, 1, restart=1)
    time.sleep(8)  # rank 1 is in init_process_group by now
    rank_0 = _join(script, store.port, 0, restart=1)
    outs = []
    for p in (rank_0, late_rank_1):
        try:
            out, err = p.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
        outs.append((p.returncode, out.strip(), err.strip().splitlines()[-1:]))
    assert [o[:2] for o in outs] == [(0, "2.0"), (0, "2.0")], outs
