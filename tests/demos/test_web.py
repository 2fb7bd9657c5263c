"""The web page in a real headless browser: upload two frames, wait for the result video."""
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import imageio.v3 as iio
import pytest

from demos.app import AVERAGE, DIS, RANDOM, interpolate, prune, weight_choices
from demos.pipeline import DemoError

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytest.importorskip("gradio", reason="the web extra is not installed")


def moving_pair(folder):
    """Two 96x128 PNGs of a photo (scikit-image's astronaut) 4 pixels apart."""
    from skimage import data
    photo = data.astronaut()[100:196, 150:282]
    paths = [str(folder / "a.png"), str(folder / "b.png")]
    iio.imwrite(paths[0], photo[:, :128])
    iio.imwrite(paths[1], photo[:, 4:132])
    return paths


def test_weight_choices_list_checkpoints_then_baselines(tmp_path):
    assert list(weight_choices(str(tmp_path))) == [RANDOM, DIS, AVERAGE]
    (tmp_path / "b.pth").write_bytes(b"")
    (tmp_path / "a.pth").write_bytes(b"")
    assert list(weight_choices(str(tmp_path))) == ["a.pth", "b.pth", DIS, AVERAGE]


def test_interpolate_without_the_browser(tmp_path):
    a, b = moving_pair(tmp_path)
    choices = weight_choices(str(tmp_path))
    path, info = interpolate(a, b, None, AVERAGE, "2^n frames per pair", 2, 60, choices, str(tmp_path))
    assert len(list(iio.imiter(path, plugin="FFMPEG"))) == 5
    assert info.startswith("5 frames")
    with pytest.raises(DemoError, match="two images or a video"):
        interpolate(a, None, None, AVERAGE, "2^n frames per pair", 2, 60, choices, str(tmp_path))
    with pytest.raises(DemoError, match="unknown weights"):
        interpolate(a, b, None, "nope.pth", "2^n frames per pair", 2, 60, choices, str(tmp_path))


def test_prune_deletes_only_old_results(tmp_path):
    old, new, other = tmp_path / "run-old", tmp_path / "run-new", tmp_path / "keep"
    for d in (old, new, other):
        d.mkdir()
        (d / "interpolated.mp4").write_bytes(b"x")
    hour_ago = time.time() - 3601
    os.utime(old, (hour_ago, hour_ago))
    os.utime(other, (hour_ago, hour_ago))
    prune(str(tmp_path), keep_s=3600)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep", "run-new"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(url: str, server: subprocess.Popen, seconds: float = 90) -> None:
    end = time.time() + seconds
    while time.time() < end:
        if server.poll() is not None:
            raise AssertionError(f"the app exited with {server.returncode}: {server.stderr.read()[-2000:]}")
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"the app did not answer on {url} within {seconds} s")


class Server:
    """demos/app.py in a subprocess whose temporary files all go under `tmp`."""

    def __init__(self, tmp) -> None:
        self.tmp = tmp
        port = _free_port()
        env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "TMPDIR": str(tmp),
               "GRADIO_TEMP_DIR": str(tmp / "gradio")}
        self.process = subprocess.Popen(
            [sys.executable, "demos/app.py", "--port", str(port)], env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
        self.url = f"http://127.0.0.1:{port}/"

    def stop(self) -> int:
        """SIGTERM, as `kill` or a service manager sends; returns the exit status."""
        if self.process.poll() is None:
            self.process.terminate()
        return self.process.wait(timeout=30)

    def leftovers(self) -> list:
        return sorted(str(p.relative_to(self.tmp)) for p in self.tmp.rglob("*") if p.is_file())


@pytest.fixture
def served(tmp_path_factory):
    server = Server(tmp_path_factory.mktemp("server"))
    try:
        _wait_for(server.url, server.process)
        yield server
    finally:
        server.stop()


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")
def test_two_frames_in_a_headless_browser(served, tmp_path):
    playwright = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    a, b = moving_pair(tmp_path)
    with playwright.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=["--no-sandbox", "--disable-dev-shm-usage"])
        try:
            page = browser.new_page()
            page.goto(served.url)
            page.locator("#frame0 input[type=file]").set_input_files(a)
            page.locator("#frame1 input[type=file]").set_input_files(b)
            page.locator("#frame1 img").wait_for(timeout=30_000)  # both uploads shown
            page.locator("#frame0 img").wait_for(timeout=30_000)
            page.locator("#run").click()
            video = page.locator("#result video")
            video.wait_for(timeout=180_000)
            src = video.get_attribute("src")
            info = page.locator("#info textarea").input_value()
        finally:
            browser.close()
    assert src and src.split("?")[0].endswith(".mp4"), src
    assert info.startswith("5 frames"), info  # n = 2 by default: 2^2 * (2 - 1) + 1
    # stopped with SIGTERM, the server exits cleanly and deletes the uploads and the result
    assert served.stop() == 0 and served.leftovers() == []
