import os

import torch

from benchmarks.training_loss import main
from networks import build_model
from tests.trainers.helpers import tiny_config, write_config
from trainers.rng import seed_everything


def test_initial_weights_score_the_same_and_trained_ones_differ(tmp_path, capsys):
    cfg = tiny_config(str(tmp_path))
    path = write_config(cfg, str(tmp_path / "cfg.yaml"))
    seed_everything(cfg["seed"])
    net = build_model(cfg["network"])
    torch.save({"state_dict": net.state_dict()}, tmp_path / "init.pth")
    assert main(["-c", path, "-p", str(tmp_path / "init.pth")]) == 0
    out = capsys.readouterr().out
    assert "2 fixed samples" in out and "(1.00x)" in out
    before, after = (float(out.split(w)[0].split()[-1]) for w in (" with the initial", " with /"))
    assert before == after > 0
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(0.5)
    torch.save({"state_dict": net.state_dict()}, tmp_path / "other.pth")
    assert main(["-c", path, "-p", str(tmp_path / "other.pth")]) == 0
    assert "(1.00x)" not in capsys.readouterr().out


def test_a_missing_checkpoint_is_one_line(tmp_path, capsys):
    path = write_config(tiny_config(str(tmp_path)), str(tmp_path / "cfg.yaml"))
    assert main(["-c", path, "-p", os.path.join(str(tmp_path), "none.pth")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1


def test_training_speed_prints_samples_per_second(capsys):
    """On the CPU by name, so that the figure's line reads the same on a CUDA machine."""
    from benchmarks.training_speed import main as speed
    assert speed(["--device", "cpu", "--batch", "1", "--size", "128", "--warmup", "0",
                  "--steps", "2", "--data-batches", "0"]) == 0
    out = capsys.readouterr().out
    assert "AMT-S 128x128 batch 1 amp none on cpu" in out and "samples/s" in out
    assert "ms/sample)" in out and "data loading" not in out
    assert speed(["--device", "cuda:0"] if not __import__("torch").cuda.is_available()
                 else ["-c", "/nonexistent.yaml"]) == 2


def test_training_speed_times_the_trainers_data_loading(tmp_path, capsys):
    from benchmarks.training_speed import main as speed
    cfg = tiny_config(str(tmp_path))
    cfg["data"]["train"]["params"]["length"] = 8
    cfg["data"]["train_loader"] = {"batch_size": 4, "num_workers": 1}
    path = write_config(cfg, str(tmp_path / "cfg.yaml"))
    assert speed(["-c", path, "--device", "cpu", "--batch", "1", "--size", "128", "--warmup", "0",
                  "--steps", "1", "--nproc", "2"]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    # the trainer's per-process share of the global batch, and the first batch untimed
    assert line.startswith("data loading (SyntheticMotion, batch 2 per process, 1 workers): ")
    ms = float(line.split("): ")[1].split(" ms/sample")[0])
    assert ms > 0 and line.endswith("ms/sample over 6 samples")


def test_training_speed_says_when_the_data_cannot_be_timed(tmp_path, capsys):
    from benchmarks.training_speed import main as speed
    cfg = tiny_config(str(tmp_path))
    cfg["data"]["train"]["params"]["photo_dir"] = str(tmp_path / "none")
    path = write_config(cfg, str(tmp_path / "cfg.yaml"))
    assert speed(["-c", path, "--device", "cpu", "--batch", "1", "--size", "128", "--warmup", "0",
                  "--steps", "1"]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith("data loading not measured: ") and "photo folder not found" in line
