"""demo_2x --backend: the same frames from ONNX Runtime as from PyTorch; refusals in one line."""
import os
import sys

import cv2
import numpy as np
import pytest
import torch

from demos.demo_2x import main as demo_2x
from demos.pipeline import DemoError, InterpolationOptions, run


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
    capsys.readouterr()  # the session's export (when this test is the first to ask) noted itself
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


def _rgba_pair(folder):
    """Two 40x48 RGBA PNGs with a graded alpha."""
    paths = _clip(folder, n=2, h=40, w=48)
    for path in paths:
        bgr = cv2.imread(path)
        alpha = np.tile(np.linspace(0, 255, 48, dtype=np.uint8), (40, 1))[..., None]
        cv2.imwrite(path, np.concatenate([bgr, alpha], axis=2))
    return paths


@pytest.fixture
def runtime(monkeypatch):
    """The ONNX backend without an export: a graph that averages the pair. Returns the
    channel counts it was given."""
    import demos.pipeline
    from utils.runtimes import GraphNetwork
    seen = []

    def load(backend, model, threads=None, onnx_path=None):
        def run(img0, img1, embt):
            seen.append(img0.shape[1])
            return (img0 + img1) / 2
        return GraphNetwork(run, backend)
    monkeypatch.setattr(demos.pipeline, "load_network", load)
    return seen


def test_rgba_kept_by_the_codec_asked_for_is_refused_before_the_export(tmp_path, monkeypatch):
    import demos.pipeline
    monkeypatch.setattr(demos.pipeline, "load_network", lambda *a, **k: pytest.fail("exported"))
    paths = _rgba_pair(str(tmp_path / "in"))
    out = str(tmp_path / "o.mkv")
    with pytest.raises(DemoError) as e:
        run(InterpolationOptions(paths, out, codec="ffv1", backend="onnxruntime"))
    assert str(e.value) == ("--backend onnxruntime takes RGB frames only, and --codec ffv1 "
                            "would keep this input's alpha: add --no-alpha to drop it, or use "
                            "--backend torch")
    assert not os.path.exists(out)


@pytest.mark.parametrize("changes", [{}, {"codec": "ffv1", "keep_alpha": False}])
def test_rgba_to_an_output_without_alpha_runs_rgb_in_an_onnx_backend(tmp_path, runtime, changes):
    paths = _rgba_pair(str(tmp_path / "in"))
    out = str(tmp_path / ("o.mkv" if changes else "o.mp4"))
    summary = run(InterpolationOptions(paths, out, backend="onnxruntime", device="cpu",
                                       scene_detect=False, **changes))
    assert summary.frames == 3 and runtime == [3]
    assert any("alpha channel was dropped" in note for note in summary.notes)
