"""The trainer's network says whether it takes any t: validation and checkpoints follow it."""
import pytest
import torch

from tests.trainers.helpers import tiny_config
from trainers.distributed import World
from trainers.settings import read_settings
from trainers.trainer import Trainer


def _trainer(root: str, arbitrary_time: bool) -> Trainer:
    cfg = tiny_config(root, tensorboard=False, image_interval=0)
    cfg["network"]["params"]["arbitrary_time"] = arbitrary_time
    cfg["data"]["val"]["params"]["arbitrary_time"] = True  # targets at t = k/8
    return Trainer(cfg, read_settings(cfg), World(0, 0, 1, torch.device("cpu")))


@pytest.fixture(scope="module")
def any_t(tmp_path_factory):
    trainer = _trainer(str(tmp_path_factory.mktemp("any_t")), True)
    yield trainer
    trainer.log.close()


def test_validation_of_an_any_t_config_decodes_at_t(any_t):
    asked = []
    decode = any_t.net.decode

    def recording(feats, embt, *args, **kwargs):
        asked.extend(float(t) for t in torch.as_tensor(embt).flatten())
        return decode(feats, embt, *args, **kwargs)

    any_t.net.decode = recording
    try:
        any_t.validate()
    finally:
        del any_t.net.decode
    wanted = sorted(float(any_t.val_set[i]["embt"].flatten()[0]) for i in range(len(any_t.val_set)))
    assert any(t != 0.5 for t in wanted)  # else the test could not tell the two apart
    # recursive halving would decode every frame at 0.5, from midpoints
    assert sorted(asked) == pytest.approx(wanted)


def test_validation_leaves_the_network_training(any_t):
    any_t.validate()
    assert all(m.training for m in any_t.net.modules())


def test_checkpoints_keep_what_the_network_was_trained_for(any_t, tmp_path):
    assert any_t.net.arbitrary_time is True
    assert any_t._checkpoint()["meta"]["arbitrary_time"] is True
    fixed = _trainer(str(tmp_path), False)
    fixed.log.close()
    assert fixed._checkpoint()["meta"]["arbitrary_time"] is False
