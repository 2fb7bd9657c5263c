"""Shared pytest settings: CPU only, few threads, deterministic seeds."""
import pytest
import torch


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes more than ~10 s on a 2-core CPU (still run in CI)")
    torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
