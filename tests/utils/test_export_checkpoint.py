import os
import subprocess

import pytest
import torch

from networks import build_model
from utils.checkpoint import CheckpointError
from utils.export_checkpoint import main
from utils.inference import load_model


@pytest.fixture
def trained_file(tmp_path):
    net = build_model("AMT-S")
    path = tmp_path / "latest.pth"
    torch.save({"state_dict": net.state_dict(), "iter": 12, "epoch": 1, "optim": {},
                "config": {"exp_name": "demo"}, "meta": {"arbitrary_time": False}}, path)
    return net, path


def test_export_halves_the_file_and_loads_as_float32(trained_file, tmp_path, capsys):
    net, src = trained_file
    dst = tmp_path / "out" / "small.pth"
    assert main([str(src), str(dst)]) == 0
    assert "AMT-S, 12 iterations" in capsys.readouterr().out
    assert dst.stat().st_size < 0.6 * src.stat().st_size
    check = subprocess.run(["sha256sum", "-c", "small.pth.sha256"], cwd=dst.parent,
                           capture_output=True, text=True)
    assert check.returncode == 0 and "OK" in check.stdout
    model = load_model(str(dst))
    for key, value in model.state_dict().items():
        assert value.dtype == net.state_dict()[key].dtype
        assert torch.equal(value, net.state_dict()[key].half().float()), key
    meta = torch.load(dst, weights_only=True)["meta"]
    assert meta["iterations"] == 12 and meta["exp_name"] == "demo" and meta["storage"] == "float16"


@pytest.mark.parametrize("meta,config,wanted", [
    ({"arbitrary_time": True}, {}, True),                                  # the trainer's meta
    ({}, {"network": {"name": "AMT-S", "params": {"arbitrary_time": True}}}, True),  # its config
    ({"arbitrary_time": False}, {"network": {"params": {"arbitrary_time": True}}}, False),
])
def test_the_export_keeps_whether_the_weights_take_any_t(tmp_path, meta, config, wanted, capsys):
    src, dst = tmp_path / "latest.pth", tmp_path / "small.pth"
    torch.save({"state_dict": build_model("AMT-S").state_dict(), "config": config, "meta": meta}, src)
    assert main([str(src), str(dst)]) == 0
    assert torch.load(dst, weights_only=True)["meta"]["arbitrary_time"] is wanted
    assert load_model(str(dst)).arbitrary_time is wanted
    assert "does not say" not in capsys.readouterr().err


def test_a_changed_file_fails_its_sha256(trained_file, tmp_path):
    _, src = trained_file
    dst = tmp_path / "small.pth"
    assert main([str(src), str(dst)]) == 0
    data = bytearray(dst.read_bytes())
    data[-100] ^= 1
    dst.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="does not match its recorded sha256"):
        load_model(str(dst))


def test_bad_source_is_one_line(tmp_path, capsys):
    assert main([str(tmp_path / "none.pth"), str(tmp_path / "x.pth")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: checkpoint not found") and err.count("\n") == 1


@pytest.mark.parametrize("how", ["same", "symlink", "hardlink"])
def test_exporting_onto_the_source_is_refused_before_reading(trained_file, tmp_path, capsys, how):
    _, src = trained_file
    before = src.read_bytes()
    dst = tmp_path / "alias.pth"
    if how == "same":
        dst = src
    elif how == "symlink":
        dst.symlink_to(src)
    else:
        os.link(src, dst)
    assert main([str(src), str(dst)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: the output is the input") and err.count("\n") == 1, err
    assert src.read_bytes() == before
    assert not (tmp_path / "latest.pth.sha256").exists()


def test_an_export_that_fails_leaves_no_partial_file(trained_file, tmp_path, capsys, full_disk):
    _, src = trained_file
    dst = tmp_path / "out.pth"
    dst.write_bytes(b"previous export")
    full_disk()
    assert main([str(src), str(dst)]) == 2
    err = capsys.readouterr().err
    assert "no space left on device" in err and err.count("\n") == 1 and "Errno" not in err, err
    assert dst.read_bytes() == b"previous export"
    assert sorted(os.listdir(tmp_path)) == ["latest.pth", "out.pth"]
