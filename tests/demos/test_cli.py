"""The demos' command lines: options refused in one line before any input is read or output
made, and the device chosen automatically."""
import os

import pytest
import torch

from demos.cli import EXIT_ERROR
from demos.demo_2x import main as demo_2x
from demos.demo_8x import main as demo_8x


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)


@pytest.mark.parametrize("device", ["cuda", "cuda:3", "mps", "nonsense"])
@pytest.mark.parametrize("demo", ["2x", "8x"])
def test_a_device_this_machine_lacks_is_one_line_and_nothing_is_read(
        tmp_path, capsys, monkeypatch, no_gpu, device, demo):
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    out = tmp_path / "out"
    missing = str(tmp_path / "no-such-input.png")  # reading it would be a different error
    if demo == "2x":
        code = demo_2x(["-i", missing, missing, "-o", str(out / "o.mp4"), "--device", device])
    else:
        code = demo_8x(["-x", missing, "-y", missing, "-o", str(out), "--device", device])
    err = capsys.readouterr().err
    assert code == EXIT_ERROR
    assert err.startswith(f"error: --device") and err.count("\n") == 1, err
    assert not os.path.exists(out)


def test_the_default_device_is_chosen_after_parsing(no_gpu):
    from demos.demo_2x import options, parse_args
    a = parse_args(["-i", "a.png", "b.png"])
    assert a.device == "auto" and options(a).device == "cpu"
