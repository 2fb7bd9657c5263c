"""Config keys the trainer does not know are refused with the nearest valid one; a network
section that cannot be built is one line before anything else is built."""
import copy
import glob
import os

import pytest

import train
from tests.trainers.helpers import tiny_config, write_config
from trainers.settings import TrainingError, read_settings
from utils.config import load_config

BASE = {
    "exp_name": "x", "epochs": 2, "lr": "2e-4",
    "network": {"name": "AMT-S", "params": {"corr_radius": 3}}, "losses": [{"name": "L"}],
    "data": {"train": {"name": "A", "params": {"anything": 1}}, "val": {"name": "B"},
             "train_loader": {"batch_size": 24}},
}
CFG_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "cfgs")


def _cfg(**changes):
    cfg = copy.deepcopy(BASE)
    for path, value in changes.items():
        node = cfg
        *parents, last = path.split("__")
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = value
    return cfg


@pytest.mark.parametrize("changes, message", [
    ({"lrr": 1e-4}, "unknown config key 'lrr'; did you mean 'lr'?"),
    ({"epoch": 3}, "unknown config key 'epoch'; did you mean 'epochs'?"),
    ({"checkpoint__latest_every_iter": 5},
     "unknown config key 'checkpoint.latest_every_iter'; did you mean "
     "'checkpoint.latest_every_iters'?"),
    ({"data__train_loader__num_worker": 2},
     "unknown config key 'data.train_loader.num_worker'; did you mean "
     "'data.train_loader.num_workers'?"),
    ({"data": {"trian": {"name": "A"}, "val": {"name": "B"}, "train_loader": {"batch_size": 24}}},
     r"missing the 'data.train' .*\(found 'data.trian': a typo\?\)"),
    ({"epochs": None, "epoch": 3}, r"missing 'epochs' \(found 'epoch': a typo\?\)"),
    ({"zzzzzz": 1}, r"unknown config key 'zzzzzz' \(valid: .*exp_name.*\)"),
])
def test_unknown_keys_are_refused_with_the_nearest_valid_one(changes, message):
    with pytest.raises(TrainingError, match=message) as err:
        read_settings(_cfg(**changes))
    assert "\n" not in str(err.value)


def test_the_published_configs_unread_keys_and_unread_sections_pass():
    s = read_settings(_cfg(distributed=True, logger={"use_wandb": False},
                           checkpoint={"keep_every_epochs": 5}))
    assert s.keep_every_epochs == 5


@pytest.mark.parametrize("value", [True, False])
def test_top_level_arbitrary_time_is_refused_with_where_it_moved(value):
    with pytest.raises(TrainingError, match=r"'arbitrary_time' moved to "
                                            r"'network.params.arbitrary_time'") as err:
        read_settings(_cfg(arbitrary_time=value))
    assert "\n" not in str(err.value)


def test_arbitrary_time_in_the_network_section_is_read():
    network = {"name": "AMT-S", "params": {"arbitrary_time": True}}
    read_settings(_cfg(network=network))
    with pytest.raises(TrainingError, match="arbitrary_time must be true or false"):
        read_settings(_cfg(network={"name": "AMT-S", "params": {"arbitrary_time": 1}}))


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(CFG_DIR, "*.yaml"))),
                         ids=os.path.basename)
def test_every_shipped_config_has_only_known_keys(path):
    read_settings(load_config(path))


@pytest.mark.parametrize("network, message", [
    ({"name": "AMT-X"}, "unknown AMT variant 'AMT-X'"),
    ({"name": "AMT-S", "params": {"corr_radiuss": 3}}, "corr_radiuss"),
    ({"name": "AMT-S", "params": {"num_flows": 5}}, "num_flows"),
    ({"params": {"corr_radius": 3}}, "needs a 'name'"),
    ([1, 2], "network"),
])
def test_a_network_section_that_cannot_be_built_is_one_line(network, message):
    with pytest.raises(TrainingError, match=message) as err:
        read_settings(_cfg(network=network))
    assert "\n" not in str(err.value) and "network" in str(err.value)


def test_a_mistyped_override_stops_train_py_in_one_line(tmp_path, capsys):
    path = write_config(tiny_config(str(tmp_path)), str(tmp_path / "cfg.yaml"))
    assert train.main(["-c", path, "lrr=1e-4"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: unknown config key 'lrr'; did you mean 'lr'?"], err
    assert not os.path.exists(os.path.join(str(tmp_path), "runs"))
