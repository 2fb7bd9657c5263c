"""Shared pytest settings: CPU only, few threads, deterministic seeds; a full disk."""
import os

import pytest
import torch


def pytest_configure(config):
    # The one definition of the marker: the quick local run is `python -m pytest -q -m "not slow"`;
    # CI (.ci/run) runs every test, these included.
    config.addinivalue_line("markers", "slow: takes more than 10 s on an idle 2-core CPU")
    # scikit-video's own import of scipy.misc; nothing this project can change
    config.addinivalue_line("filterwarnings",
                            "ignore:scipy.misc is deprecated:DeprecationWarning:skvideo")
    torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(autouse=True)
def _fresh_kept_volumes(monkeypatch):
    # The dense volume buffers kept between frame pairs are process-wide: each test gets an
    # empty set, and nothing it keeps outlives it.
    from networks.blocks import corr
    monkeypatch.setattr(corr, "_KEPT", corr._KeptVolumes())


@pytest.fixture
def full_disk(monkeypatch):
    """Call it to make every later temporary of utils.atomic a link to /dev/full: a write to
    it fails with ENOSPC, as on a full disk."""
    from utils import atomic
    if not os.path.exists("/dev/full"):
        pytest.skip("needs /dev/full")
    real = atomic.temp_name

    def to_dev_full(target, directory=False):
        path = real(target, directory)
        os.remove(path)
        os.symlink("/dev/full", path)
        return path

    return lambda: monkeypatch.setattr(atomic, "temp_name", to_dev_full)


@pytest.fixture(scope="session")
def onnx_export(tmp_path_factory):
    """variant -> (the parity-formula AMT of that variant, its dynamic-shape ONNX file), each
    exported once per test session (an export takes a minute or more) into one cache folder,
    the one utils.runtimes reads when $AMT_ONNX_CACHE names it."""
    from networks import build_model
    from tests.parity import parity_weights
    from utils.runtimes import cached_onnx
    folder = str(tmp_path_factory.mktemp("onnx-cache"))
    done = {}

    def get(variant):
        if variant not in done:
            model = build_model(variant)
            model.load_state_dict(parity_weights(variant), strict=True)
            model.checkpoint = None
            done[variant] = (model.eval(), cached_onnx(model, folder))
        return done[variant]

    get.folder = folder
    return get
