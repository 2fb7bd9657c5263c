"""Benchmark scripts with a real (randomly initialised) AMT-S through the inference API."""
import hashlib
import os

import torch

from benchmarks import gopro, vimeo90k
from tests.benchmarks import trees
from tests.benchmarks.helpers import records, run_script
from utils.inference import load_model


def test_vimeo90k_with_a_random_amt_s(tmp_path):
    root = trees.vimeo(str(tmp_path / "vimeo"))
    assert run_script(vimeo90k.main, ["-r", root, "--variant", "AMT-S", "--device", "cpu"],
                      tmp_path / "rep") == 0
    (rec,) = records(tmp_path / "rep")
    assert (rec["method"], rec["model"], rec["checkpoint"]) == ("AMT-S (random init)", "AMT-S", None)
    assert rec["samples"] == 2 and 0 < rec["psnr"] < 60 and rec["time_mode"] == "direct"


def test_checkpoint_hash_and_recursive_times_on_an_8x_set(tmp_path):
    ckpt = str(tmp_path / "amt-s-random.pth")
    torch.save({"state_dict": load_model(variant="AMT-S").state_dict()}, ckpt)
    root = str(tmp_path / "gopro")
    trees.video_folders(os.path.join(root, "test"), ["GOPR0001"], frames=9)
    assert run_script(gopro.main, ["-r", root, "-p", ckpt, "--full-frame", "--device", "cpu"],
                      tmp_path / "rep") == 0
    (rec,) = records(tmp_path / "rep")
    with open(ckpt, "rb") as f:
        assert rec["checkpoint_sha256"] == hashlib.sha256(f.read()).hexdigest()
    assert rec["method"] == "AMT-S (amt-s-random.pth)" and rec["checkpoint"] == ckpt
    assert rec["time_mode"] == "recursive 2x (fixed-time model)"  # no arbitrary-time flag
    assert rec["frames"] == 7
