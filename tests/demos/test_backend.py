"""demo_2x --backend: the same frames from ONNX Runtime as from PyTorch; refusals in one line."""
import os
import sys

import cv2
import numpy as np
import pytest
import torch

from demos.demo_2x import main as demo_2x
from demos.pipeline import DemoError, InterpolationOptions


def _clip(folder, n=3, h=120, w=150):
    """A slow pan over smooth random texture, as PNGs (sides not multiples of 16: padded)."""
    rng = np.random.default_rng(0)
    base = cv2.GaussianBlur(rng.integers(0, 256, (h, w + 4 * n, 3), dtype=np.uint8), (7, 7), 2)
    os.makedirs(folder)
    paths = []
    for i in range(n):
        paths.append(os.path.join(folder, f"{i}.png"))
        cv2.imwrite(paths[-1], np.ascontiguousarray(base[:, 4 * i:4 * i + w]))
    return paths


def _read(folder):
    return np.stack([cv2.imread(os.path.join(folder, f)) for f in sorted(os.listdir(folder))])


@pytest.mark.slow
def test_onnxruntime_writes_the_frames_torch_writes(onnx_export, tmp_path, monkeypatch, capsys):
    model, _ = onnx_export("AMT-S")
    ckpt = str(tmp_path / "s.pth")
    torch.save({"state_dict": model.state_dict(), "meta": {"arbitrary_time": False}}, ckpt)
    monkeypatch.setenv("AMT_ONNX_CACHE", onnx_export.folder)  # the session's export, reused
    paths = _clip(str(tmp_path / "in"))
    frames = {}
    for backend in ("torch", "onnxruntime"):
        out = str(tmp_path / f"{backend}.mp4")
        assert demo_2x(["-p", ckpt, "-i", *paths, "-o", out, "-n", "2", "--save_images",
                        "--device", "cpu", "--backend", backend, "--no-scene-detect"]) == 0
        frames[backend] = _read(str(tmp_path / f"{backend}_frames"))
    assert "exporting" not in capsys.readouterr().err  # the cached file was used
    a, b = frames["torch"].astype(int), frames["onnxruntime"].astype(int)
    assert a.shape == b.shape == (9, 120, 150, 3)
    diff = np.abs(a - b)
    print(f"demo_2x onnxruntime vs torch: {np.mean(diff == 0):.4%} of values equal, "
          f"{np.mean(diff <= 1):.4%} within one level, max {diff.max()}")
    assert np.mean(diff <= 1) >= 0.999


def test_a_missing_runtime_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "openvino", None)  # import openvino raises ImportError
    paths = _clip(str(tmp_path / "in"), n=2)
    code = demo_2x(["-i", *paths, "-o", str(tmp_path / "o.mp4"), "--device", "cpu",
                    "--backend", "openvino"])
    assert code == 2
    err = capsys.readouterr().err
    assert err.endswith("error: --backend openvino needs the openvino package: "
                        "pip install 'amt-vfi[openvino]'\n")
    assert not os.path.exists(tmp_path / "o.mp4")


@pytest.mark.parametrize("changes, words", [
    ({"backend": "ncnn"}, "--backend must be one of torch, onnxruntime, openvino"),
    ({"backend": "onnxruntime", "scale": 0.5}, "--scale 1 only"),
    ({"backend": "openvino", "dtype": "fp16"}, "float32 only"),
])
def test_backend_options_are_checked_when_made(changes, words):
    with pytest.raises(DemoError, match=words):
        InterpolationOptions(["a.png", "b.png"], "o.mp4", **changes)
