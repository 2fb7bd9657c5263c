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

from demos.app import AVERAGE, DIS, MODES, RANDOM, interpolate, prune, weight_choices
from demos.pipeline import DemoError, Limits

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


# Limits, out of memory and shutting down, through the handler and the server process --------

def test_requests_over_a_limit_are_refused_at_once_and_the_next_one_succeeds(tmp_path):
    import numpy as np
    big = [str(tmp_path / "big0.png"), str(tmp_path / "big1.png")]
    for i, p in enumerate(big):  # 8000x8000 frames of one colour: tiny files, huge decodes
        iio.imwrite(p, np.full((8000, 8000, 3), 40 * i, np.uint8))
    a, b = moving_pair(tmp_path)
    choices = weight_choices(str(tmp_path))
    start = time.time()
    with pytest.raises(DemoError, match="over the limit of 2,073,600 pixels per frame"):
        interpolate(*big, None, AVERAGE, MODES[0], 2, 60, choices, str(tmp_path))
    with pytest.raises(DemoError, match="over the limit of 4 output frames"):
        interpolate(a, b, None, AVERAGE, MODES[0], 3, 60, choices, str(tmp_path),
                    limits=Limits(max_frames=4))
    with pytest.raises(DemoError, match="over the limit of 0.001 MB per upload"):
        interpolate(a, b, None, AVERAGE, MODES[0], 1, 60, choices, str(tmp_path),
                    max_upload_mb=0.001)
    with pytest.raises(DemoError, match="between 0 and 1000 fps"):
        interpolate(a, b, None, AVERAGE, MODES[1], 1, 1e9, choices, str(tmp_path))
    assert time.time() - start < 10
    path, info = interpolate(a, b, None, AVERAGE, MODES[0], 2, 60, choices, str(tmp_path))
    assert info.startswith("5 frames") and os.path.isfile(path)


def test_out_of_memory_in_a_request_is_named_and_leaves_nothing(tmp_path, monkeypatch):
    import torch

    import demos.pipeline as pipeline

    class OOM:
        recursive, device = False, "cpu"

        def interpolate(self, *a, **k):
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 12 GiB")
    monkeypatch.setattr(pipeline, "load_interpolator", lambda *a, **k: (OOM(), "oom"))
    a, b = moving_pair(tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    with pytest.raises(DemoError, match="out of memory"):
        interpolate(a, b, None, AVERAGE, MODES[0], 2, 60, weight_choices(str(tmp_path)), str(work))
    assert list(work.iterdir()) == []


def test_a_request_stops_when_the_server_shuts_down(tmp_path, monkeypatch):
    import demos.app as app
    a, b = moving_pair(tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.setattr(app, "STOPPING", app.threading.Event())
    seen = []

    def report(done, total):  # the signal arrives after the first frame
        seen.append(done)
        app.STOPPING.set()
    with pytest.raises(DemoError, match="shutting down"):
        interpolate(a, b, None, AVERAGE, MODES[0], 3, 60, weight_choices(str(tmp_path)),
                    str(work), report)
    assert seen == [1] and list(work.iterdir()) == [] and app.wait_for_requests(1)


def test_the_limits_are_options_with_safe_defaults():
    from demos.app import parse_args
    a = parse_args([])
    assert (a.max_pixels, a.max_frames, a.max_upload_mb, a.concurrency, a.max_queue) == \
        (1920 * 1080, 600, 50, 1, 16)
    a = parse_args(["--max-pixels", "100", "--max-frames", "7", "--concurrency", "2"])
    assert (a.max_pixels, a.max_frames, a.concurrency) == (100, 7, 2)
    with pytest.raises(SystemExit):
        parse_args(["--max-frames", "0"])


@pytest.mark.slow
def test_sigterm_during_a_request_exits_0_and_leaves_no_files(served, tmp_path):
    """A request kept busy by the random AMT-S at 2^5 frames; SIGTERM while it runs."""
    gradio_client = pytest.importorskip("gradio_client", reason="gradio_client is not installed")
    import numpy as np
    frames = [np.random.default_rng(i).integers(0, 256, (256, 256, 3), dtype=np.uint8)
              for i in range(2)]
    paths = [str(tmp_path / f"f{i}.png") for i in range(2)]
    for p, f in zip(paths, frames):
        iio.imwrite(p, f)
    client = gradio_client.Client(served.url, verbose=False)
    job = client.submit(gradio_client.handle_file(paths[0]), gradio_client.handle_file(paths[1]),
                        None, next(iter(weight_choices())), MODES[0], 5, 60, api_name="/on_click")
    end = time.time() + 120
    while not any(p.name.startswith("run-") for p in served.tmp.rglob("run-*")):
        assert time.time() < end, "the request did not start"
        time.sleep(0.2)
    time.sleep(2)
    assert served.stop() == 0
    assert served.leftovers() == []
    del job


def test_the_page_offers_the_output_codecs(tmp_path):
    from demos.app import OUTPUTS
    a, b = moving_pair(tmp_path)
    choices = weight_choices(str(tmp_path))
    label = next(k for k, (codec, _) in OUTPUTS.items() if codec == "ffv1")
    path, info = interpolate(a, b, None, AVERAGE, MODES[0], 1, 60, choices, str(tmp_path),
                             output=label)
    assert path.endswith(".mkv") and "FFV1" in info and "8-bit" in info
    path, info = interpolate(a, b, None, AVERAGE, MODES[0], 1, 60, choices, str(tmp_path),
                             crf=30)
    assert path.endswith(".mp4") and "crf 30" in info
    with pytest.raises(DemoError, match="unknown output"):
        interpolate(a, b, None, AVERAGE, MODES[0], 1, 60, choices, str(tmp_path), output="x")


def test_the_crf_slider_starts_at_each_codecs_default(tmp_path):
    from demos.app import DEFAULT_OUTPUT, OUTPUTS, build_app, default_crf
    from utils.video_formats import CODEC_TABLE
    assert {label: default_crf(label) for label in OUTPUTS} == {
        label: CODEC_TABLE[codec].crf and CODEC_TABLE[codec].crf[2]
        for label, (codec, _) in OUTPUTS.items()}
    h265 = next(k for k, (codec, _) in OUTPUTS.items() if codec == "libx265")
    assert default_crf(h265) == 12 and default_crf(DEFAULT_OUTPUT) == 10
    app = build_app(weight_choices(str(tmp_path)), str(tmp_path))
    ids = {block.elem_id: block for block in app.blocks.values()}
    assert ids["crf"].value == 10
    # choosing another output moves the slider to that codec's default
    follow = next(fn for fn in app.fns.values()
                  if [b.elem_id for b in fn.inputs] == ["output"]
                  and [b.elem_id for b in fn.outputs] == ["crf"])
    assert follow.fn(h265)["value"] == 12
