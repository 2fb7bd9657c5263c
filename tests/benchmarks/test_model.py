"""Benchmark scripts with a real (randomly initialised) AMT-S through the inference API."""
import hashlib
import os

import pytest
import torch

from benchmarks import gopro, snu_film, vimeo90k
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


@pytest.mark.parametrize("script, argv", [
    (snu_film, ["--split", "easy"]),  # pad to 20, scale_factor 0.8
    (vimeo90k, ["--scale-factor", "0.5"]),  # pad 16 by protocol, 32 where the network needs it
])
def test_scaled_protocols_run_the_network(tmp_path, script, argv):
    if script is snu_film:
        root = str(tmp_path / "snu")
        trees.snu_film(root, splits=("easy",))
    else:
        root = trees.vimeo(str(tmp_path / "vimeo"))
    assert run_script(script.main, ["-r", root, "--variant", "AMT-S", "--device", "cpu", *argv],
                      tmp_path / "rep") == 0
    (rec,) = records(tmp_path / "rep")
    assert rec["protocol"]["scale_factor"] in (0.8, 0.5) and rec["samples"] == 2
