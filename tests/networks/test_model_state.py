"""What the model says about itself: whether its weights take any time t."""
import os

import pytest
import torch

from networks import build_model
from utils.config import load_config

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_the_gopro_config_builds_an_arbitrary_time_model():
    cfg = load_config(os.path.join(REPO, "cfgs", "AMT-S_gopro.yaml"))
    assert build_model(cfg["network"]).arbitrary_time is True


@pytest.mark.parametrize("name", ["AMT-S.yaml", "AMT-L.yaml", "AMT-G.yaml"])
def test_the_vimeo_configs_build_fixed_time_models(name):
    with torch.device("meta"):
        assert build_model(load_config(os.path.join(REPO, "cfgs", name))["network"]).arbitrary_time is False


def test_a_variant_name_builds_a_fixed_time_model():
    assert build_model("AMT-S").arbitrary_time is False
    assert build_model("AMT-S", arbitrary_time=True).arbitrary_time is True


def test_arbitrary_time_must_be_a_bool():
    with pytest.raises(ValueError, match="arbitrary_time must be true or false"):
        build_model({"name": "AMT-S", "params": {"arbitrary_time": "yes"}})
