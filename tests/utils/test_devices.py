"""check_device: 'auto' and device names checked against the machine, one line when refused;
the machine is simulated (no GPU needed)."""
import pytest
import torch

from utils.devices import DeviceError, check_device


@pytest.fixture
def cuda(monkeypatch):
    """Call with the number of CUDA devices this test's machine pretends to have."""
    def have(count):
        monkeypatch.setattr(torch.cuda, "is_available", lambda: count > 0)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: count)
    return have


def test_auto_is_cuda_when_there_is_one_else_cpu(cuda):
    cuda(0)
    assert check_device("auto") == "cpu"
    cuda(2)
    assert check_device("auto") == "cuda"


def test_existing_devices_are_kept_as_named(cuda):
    cuda(2)
    assert [check_device(n) for n in ("cpu", "cuda", "cuda:1")] == ["cpu", "cuda", "cuda:1"]


@pytest.mark.parametrize("name,count,words", [
    ("cuda", 0, "CUDA is not available here"),
    ("cuda:3", 0, "CUDA is not available here"),
    ("cuda:3", 2, "has 2 CUDA device(s), cuda:0 to cuda:1"),
    ("nonsense", 0, "unknown device 'nonsense'"),
    ("meta", 0, "not supported"),
])
def test_a_missing_or_unknown_device_is_one_line(cuda, name, count, words):
    cuda(count)
    with pytest.raises(DeviceError) as e:
        check_device(name)
    assert words in str(e.value) and "\n" not in str(e.value)
    assert str(e.value).startswith("--device")


def test_mps_without_apple_silicon(monkeypatch):
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(DeviceError, match="MPS is not available"):
        check_device("mps")


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_auto_is_the_cpu_for_a_backend_that_runs_only_there(cuda, backend):
    cuda(1)
    assert check_device("auto", backend=backend) == "cpu"
    assert check_device("auto", backend="torch") == "cuda"
