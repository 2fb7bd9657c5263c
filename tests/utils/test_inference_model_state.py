"""Whether a model takes any t is told (checkpoint, config, argument), never guessed; the
Interpolator reads it and leaves the model as it found it."""
import os

import pytest
import torch

from networks import build_model
from utils.checkpoint import CheckpointError
from utils.config import ConfigError
from utils.inference import Interpolator, load_model

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GOPRO = os.path.join(REPO, "cfgs", "AMT-S_gopro.yaml")
VIMEO = os.path.join(REPO, "cfgs", "AMT-S.yaml")


@pytest.fixture(scope="module")
def weights():
    return build_model("AMT-S").state_dict()


def _file(tmp_path, weights, **extra):
    path = str(tmp_path / "weights.pth")
    torch.save({"state_dict": weights, **extra}, path)
    return path


def test_a_published_file_without_meta_is_fixed_time_and_says_it_cannot_know(tmp_path, weights,
                                                                             capsys):
    path = _file(tmp_path, weights)
    assert load_model(path).arbitrary_time is False
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert path in err[0] and "-c cfgs/AMT-S_gopro.yaml" in err[0] and "--arbitrary-time" in err[0]


@pytest.mark.parametrize("config,meta,explicit,wanted", [
    (GOPRO, None, None, True),      # the config's network section
    (VIMEO, None, None, False),
    (None, True, None, True),       # the checkpoint's metadata
    (VIMEO, True, None, True),      # metadata over the config
    (None, None, True, True),       # the caller's word over everything
    (GOPRO, True, False, False),
])
def test_the_caller_then_the_checkpoint_then_the_config(tmp_path, weights, capsys, config, meta,
                                                        explicit, wanted):
    path = _file(tmp_path, weights, **({} if meta is None else {"meta": {"arbitrary_time": meta}}))
    assert load_model(path, config, arbitrary_time=explicit).arbitrary_time is wanted
    assert capsys.readouterr().err == ""


def test_the_training_sets_name_is_no_evidence(tmp_path, weights, capsys):
    cfg = {"network": {"name": "AMT-S"}, "data": {"train": {"name": "GoPro_Train_Dataset"}}}
    assert load_model(_file(tmp_path, weights), cfg).arbitrary_time is False
    assert "does not say" in capsys.readouterr().err


def test_a_config_with_the_key_at_its_old_place_is_refused_with_the_new_one(tmp_path, weights):
    old = {"arbitrary_time": True, "network": {"name": "AMT-S"}}  # written before the move
    with pytest.raises(ConfigError, match=r"moved to 'network.params.arbitrary_time'"):
        load_model(_file(tmp_path, weights), old)


def test_a_config_that_does_not_say_is_named_in_the_note(tmp_path, weights, capsys):
    load_model(_file(tmp_path, weights), {"network": {"name": "AMT-S"}})
    assert "network.params.arbitrary_time: true" in capsys.readouterr().err


def test_a_stored_flag_must_be_a_bool(tmp_path, weights):
    path = _file(tmp_path, weights, meta={"arbitrary_time": "false"})  # text is not False
    with pytest.raises(CheckpointError, match="must be true or false"):
        load_model(path)


def test_random_weights_need_no_word(capsys):
    assert load_model(variant="AMT-S").arbitrary_time is False
    assert load_model(config=GOPRO).arbitrary_time is True
    assert capsys.readouterr().err == ""


def test_the_interpolator_follows_the_model():
    assert Interpolator(build_model("AMT-S", arbitrary_time=True)).recursive is False
    assert Interpolator(build_model("AMT-S")).recursive is True


def test_the_interpolator_leaves_the_models_modes_as_they_were():
    torch.manual_seed(0)
    model = build_model("AMT-S", arbitrary_time=True).train()
    model.feat_encoder.eval()  # a mixed state must come back too
    modes = [m.training for m in model.modules()]
    ip = Interpolator(model)
    assert [m.training for m in model.modules()] == modes
    x0, x1 = torch.rand(1, 3, 128, 128), torch.rand(1, 3, 128, 128)
    out = ip.interpolate(x0, x1, 0.3)
    assert [m.training for m in model.modules()] == modes
    with torch.no_grad():
        ref = model.eval()(x0, x1, torch.full((1, 1, 1, 1), 0.3))["imgt_pred"]
    assert torch.allclose(out, ref, atol=1e-6)  # it ran in eval mode


def test_the_benchmark_and_demo_command_lines_take_arbitrary_time():
    import argparse

    from benchmarks.cli import add_common_arguments
    from demos import demo_2x

    p = argparse.ArgumentParser()
    add_common_arguments(p)
    assert p.parse_args(["--arbitrary-time"]).arbitrary_time is True
    assert p.parse_args([]).arbitrary_time is None  # None: the checkpoint or config says
    assert demo_2x.parse_args(["--arbitrary-time"]).arbitrary_time is True
    assert demo_2x.parse_args([]).arbitrary_time is None
