"""`--help` of every script and console command answers without importing torch, OpenCV or
the video libraries: the parsers use light modules and the heavy ones come after parsing.
Checked on the modules a fresh interpreter has loaded, not on time (the machine may be busy)."""
import os
import re
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HEAVY = ("torch", "cv2", "imageio_ffmpeg", "imageio", "numpy", "gradio")
SCRIPTS = ["demos/demo_2x.py", "demos/demo_8x.py", "demos/app.py", "train.py",
           *sorted(f"benchmarks/{n}" for n in os.listdir(os.path.join(REPO, "benchmarks"))
                   if n.endswith(".py") and n not in ("__init__.py", "cli.py"))]
# run as a script (python path/to/x.py --help), printing the heavy modules it loaded
PROBE = """
import contextlib, io, runpy, sys
sys.argv = [sys.argv[1], "--help"]
out = io.StringIO()
try:
    with contextlib.redirect_stdout(out):
        runpy.run_path(sys.argv[0], run_name="__main__")
except SystemExit as e:
    assert e.code in (0, None), e.code
assert "usage:" in out.getvalue()
print(" ".join(m for m in {heavy!r} if m in sys.modules))
"""


def _loaded(code, *args):
    env = {**os.environ, "PYTHONPATH": REPO}
    res = subprocess.run([sys.executable, "-c", code, *args], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    return res.stdout.split()


@pytest.mark.parametrize("script", SCRIPTS)
def test_help_of_each_script_loads_no_heavy_module(script):
    assert _loaded(PROBE.format(heavy=HEAVY), script) == []


def _console_commands():
    with open(os.path.join(REPO, "setup.py"), encoding="utf-8") as f:
        return re.findall(r'"([\w-]+)=([\w.]+):(\w+)"', f.read())


def test_setup_names_the_console_commands():
    assert {name for name, _, _ in _console_commands()} >= {
        "amt-interpolate", "amt-interpolate-8x", "amt-benchmark", "amt-train", "amt-speed"}


@pytest.mark.parametrize("name,module,function", _console_commands())
def test_help_of_each_console_command_loads_no_heavy_module(name, module, function):
    code = f"""
import contextlib, io, sys
from {module} import {function} as main
out = io.StringIO()
try:
    with contextlib.redirect_stdout(out):
        main(["--help"])
except SystemExit as e:
    assert e.code in (0, None), e.code
assert "usage:" in out.getvalue()
print(" ".join(m for m in {HEAVY!r} if m in sys.modules))
"""
    assert _loaded(code) == []
