"""The options several command lines share are defined once (utils.cli_options): every
parser that has one has the same flag, default and help."""
import argparse

import pytest

from benchmarks import backend_speed, speed_parameters, vimeo90k
from demos import demo_2x
from utils import cli_options, onnx_export
from utils.names import DEFAULT_DEVICE


def _action(parser, flag):
    return next(a for a in parser._actions if flag in a.option_strings)


def _parser(build):
    """The parser a parse_args(argv) function builds, caught as it parses."""
    made = []
    original = argparse.ArgumentParser.parse_args

    def catch(self, *a, **k):
        made.append(self)
        return original(self, *a, **k)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(argparse.ArgumentParser, "parse_args", catch)
        build()
    return made[0]


PARSERS = {
    "demo_2x": lambda: _parser(lambda: demo_2x.parse_args(["-i", "a.png", "b.png"])),
    "benchmark": lambda: vimeo90k.BENCHMARK.parser(),
    "amt-export": lambda: _parser(lambda: onnx_export.parse_args(["-o", "x.onnx"])),
    "backend_speed": lambda: _parser(lambda: backend_speed.parse_args([])),
    "speed_parameters": lambda: _parser(lambda: speed_parameters.parse_args([])),
}
SHARED = {"--arbitrary-time": cli_options.add_arbitrary_time, "--device": cli_options.add_device,
          "--backend": cli_options.add_backend}
HAS = {"demo_2x": SHARED, "benchmark": SHARED, "amt-export": ["--arbitrary-time"],
       "backend_speed": ["--device"], "speed_parameters": ["--device"]}


@pytest.mark.parametrize("name", list(PARSERS))
def test_shared_options_are_the_one_definition(name):
    parser = PARSERS[name]()
    for flag in HAS[name]:
        reference = argparse.ArgumentParser()
        SHARED[flag](reference)
        got, want = _action(parser, flag), _action(reference, flag)
        assert (got.default, got.help, got.const, got.choices) == \
               (want.default, want.help, want.const, want.choices), (name, flag)
    assert _action(PARSERS["backend_speed"](), "--device").default == DEFAULT_DEVICE
