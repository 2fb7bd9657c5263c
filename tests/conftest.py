"""Shared pytest settings: CPU only, few threads, deterministic seeds."""
import pytest
import torch


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes more than ~10 s on a 2-core CPU (still run in CI)")
    # scikit-video's own import of scipy.misc; nothing this project can change
    config.addinivalue_line("filterwarnings",
                            "ignore:scipy.misc is deprecated:DeprecationWarning:skvideo")
    torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
