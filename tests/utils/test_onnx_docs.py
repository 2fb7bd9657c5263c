"""docs/onnx.md's plain-ONNX-Runtime snippet runs as written, and gives this project's frame."""
import os
import re
import subprocess
import sys

import imageio.v3 as iio
import numpy as np
import pytest

from utils.inference import PROJECT_ROOT, Interpolator, to_tensor, to_uint8


def _snippet():
    with open(os.path.join(PROJECT_ROOT, "docs", "onnx.md"), encoding="utf-8") as f:
        blocks = re.findall(r"```python\n(.*?)```", f.read(), re.S)
    return next(b for b in blocks if "onnxruntime" in b)


def test_the_snippet_needs_nothing_from_this_project():
    imports = re.findall(r"^(?:import|from) (\w+)", _snippet(), re.M)
    assert set(imports) == {"imageio", "numpy", "onnxruntime"}


@pytest.mark.slow
def test_the_snippet_runs_and_matches_the_interpolator(onnx_export, tmp_path):
    model, path = onnx_export("AMT-S")
    os.symlink(path, tmp_path / "amt-s.onnx")
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (100, 150, 3), dtype=np.uint8)
    frame0, frame1 = base[:, :140], base[:, 6:146]  # 100x140: padded to 128x144
    iio.imwrite(tmp_path / "frame0.png", frame0)
    iio.imwrite(tmp_path / "frame1.png", frame1)
    # a bare interpreter in a folder of its own: nothing of this project on its path
    out = subprocess.run([sys.executable, "-c", _snippet()], cwd=tmp_path, capture_output=True,
                         text=True, env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "AMT-S takes any t: false"
    middle = iio.imread(tmp_path / "middle.png")
    ref = to_uint8(Interpolator(model).interpolate(to_tensor(frame0), to_tensor(frame1), 0.5))
    assert middle.shape == ref.shape == (100, 140, 3)
    diff = np.abs(middle.astype(int) - ref.astype(int))
    assert np.mean(diff <= 1) >= 0.999, diff.max()
