"""The README's examples run as written: its Python API block on this machine's CPU, with the
bundled weights, on two small photographs saved as the a.png and b.png it reads."""
import os
import re
import subprocess
import sys

import cv2
import numpy as np
import pytest
import skimage.data

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _python_api_block() -> str:
    with open(os.path.join(REPO, "README.md"), encoding="utf-8") as f:
        text = f.read()
    section = text.split("## Python API", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


@pytest.mark.slow  # 8 network calls of AMT-S after start-up: ~30 s of CPU time
def test_the_python_api_example_runs_as_written_on_a_cpu(tmp_path):
    photo = skimage.data.astronaut()[100:228, 150:310]          # 128 x 160
    a, b = photo[:, :-4], photo[:, 4:]                          # a 4-pixel pan
    for name, image in (("a.png", a), ("b.png", b)):
        cv2.imwrite(str(tmp_path / name), np.ascontiguousarray(image[..., ::-1]))
    env = {**os.environ, "PYTHONPATH": REPO, "CUDA_VISIBLE_DEVICES": ""}  # as on a CPU machine
    res = subprocess.run([sys.executable, "-c", _python_api_block()], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    mid = cv2.imread(str(tmp_path / "mid.png"))
    assert mid is not None and mid.shape == a.shape
