"""--backend in the benchmark scripts: read into BenchmarkOptions, refusals in one line."""
import sys

import pytest

from benchmarks import vimeo90k
from benchmarks.cli import BenchmarkOptions
from networks import build_model
from tests.benchmarks import trees
from tests.benchmarks.test_cli import fails
from utils.evaluation.predictors import model_method
from utils.runtimes import GraphNetwork


def test_the_flag_reaches_the_options():
    args = vimeo90k.BENCHMARK.parser().parse_args(["-r", "x", "--backend", "openvino"])
    assert BenchmarkOptions.from_args(args).backend == "openvino"
    assert BenchmarkOptions().backend == "torch"


def test_a_missing_runtime_names_the_extra(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime raises ImportError
    root = trees.vimeo(str(tmp_path / "vimeo"))
    fails(capsys, vimeo90k.main, ["-r", root, "--variant", "AMT-S", "--backend", "onnxruntime"],
          tmp_path / "rep", "pip install 'amt-vfi[onnxruntime]'")


@pytest.mark.parametrize("flags, words", [(["--dtype", "bf16"], "float32 only"),
                                          (["--compile"], "--compile is for --backend torch")])
def test_settings_the_backend_cannot_run(tmp_path, capsys, flags, words):
    root = trees.vimeo(str(tmp_path / "vimeo"))
    fails(capsys, vimeo90k.main, ["-r", root, "--variant", "AMT-S", "--backend", "openvino",
                                  *flags], tmp_path / "rep", words)


def test_the_report_names_the_backend():
    model = build_model("AMT-S").eval()
    model.checkpoint = None
    method = model_method(model, "cpu", network=GraphNetwork(None, "openvino"), backend="openvino")
    assert method.label == "AMT-S (random init) [openvino]"
    assert method.info["backend"] == "openvino"
    assert model_method(model, "cpu").info["backend"] == "torch"
