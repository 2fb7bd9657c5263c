import os

import pytest

from networks import build_model
from utils.config import ConfigError, apply_overrides, load_config, save_config
from utils.registry import Registry, build_from_cfg

PUBLISHED = """\
exp_name: floloss1e-2_300epoch_bs24_lr2e-4
seed: 2023
epochs: 300
lr: 2e-4
network:
  name: networks.AMT-S.Model
  params:
    corr_radius: 3
    corr_lvls: 4
    num_flows: 3
data:
  train_loader:
    batch_size: 24
losses:
  - {name: losses.loss.CharbonnierLoss, nickname: l_rec, params: {loss_weight: 1.0, keys: [imgt_pred, imgt]}}
"""


@pytest.fixture
def published(tmp_path):
    path = tmp_path / "AMT-S.yaml"
    path.write_text(PUBLISHED)
    return str(path)


def test_published_layout_builds_the_network(published):
    cfg = load_config(published)
    model = build_model(cfg["network"])
    assert model.variant == "AMT-S" and model.num_flows == 3 and model.radius == 3


def test_dotted_overrides_do_not_touch_the_original(published):
    cfg = load_config(published)
    new = apply_overrides(cfg, ["lr=1e-4", "data.train_loader.batch_size=8", "data.val.name=X"])
    assert new["data"]["train_loader"]["batch_size"] == 8 and new["data"]["val"]["name"] == "X"
    assert float(new["lr"]) == 1e-4
    assert cfg["data"]["train_loader"]["batch_size"] == 24 and "val" not in cfg["data"]
    assert load_config(published, ["seed=7"])["seed"] == 7


def test_overrides_index_lists(published):
    cfg = apply_overrides(load_config(published), ["losses.0.params.loss_weight=0.5",
                                                   "losses.0.params.keys.1=imgt_gt",
                                                   "losses.0.extra.x=1"])
    assert cfg["losses"][0]["params"] == {"loss_weight": 0.5, "keys": ["imgt_pred", "imgt_gt"]}
    assert cfg["losses"][0]["extra"] == {"x": 1}
    with pytest.raises(ConfigError, match="none, it is empty"):
        apply_overrides({"sets": []}, ["sets.0=1"])


@pytest.mark.parametrize("item,msg", [("lr", "key.path=value"), ("a..b=1", "empty key"),
                                      ("seed.x=1", "not a section"),
                                      ("losses.1.nickname=x", r"'1' is not an index .*0-0"),
                                      ("losses.name=x", "'name' is not an index"),
                                      ("losses.-1=x", "'-1' is not an index"),
                                      ("losses.0.params.keys.0.x=1", "'0' is not a section")])
def test_bad_overrides(published, item, msg):
    with pytest.raises(ConfigError, match=msg):
        load_config(published, [item])


def test_bad_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(str(tmp_path / "none.yaml"))
    bad = tmp_path / "bad.yaml"
    bad.write_text("network: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(str(bad))
    bad.write_text("- just\n- a list\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(str(bad))


def test_save_round_trip(tmp_path, published):
    cfg = load_config(published)
    out = str(tmp_path / "resolved.yaml")
    save_config(cfg, out)
    assert load_config(out) == cfg


def test_registry_and_builder():
    reg = Registry("thing")

    @reg.register("published.module.OldName")
    class Thing:
        def __init__(self, a, b=2):
            self.a, self.b = a, b

    assert reg.get("pkg.mod.Thing") is Thing and "published.module.OldName" in reg
    section = {"name": "OldName", "params": {"a": 1}}
    obj = build_from_cfg(section, reg, b=5)
    assert (obj.a, obj.b) == (1, 5) and section == {"name": "OldName", "params": {"a": 1}}
    with pytest.raises(KeyError, match="unknown thing 'Nope'"):
        reg.get("Nope")
    with pytest.raises(ValueError, match="needs a 'name'"):
        build_from_cfg({"params": {}}, reg)
    with pytest.raises(KeyError, match="twice"):
        reg.add("Thing", object)


@pytest.mark.parametrize("item, msg", [
    ("lr=[1", r"override 'lr=\[1' is not valid YAML"),
    ("lr=!!python/object:os.system", "override 'lr=!!python/object:os.system' is not valid YAML"),
    ("lr={a: 1", "is not valid YAML"),
])
def test_override_values_that_are_not_safe_yaml_are_one_line(published, item, msg):
    with pytest.raises(ConfigError, match=msg) as err:
        load_config(published, [item])
    assert "\n" not in str(err.value)


def test_a_config_that_is_not_utf8_or_not_a_file_is_one_line(tmp_path):
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("exp_name: caf\xe9\n".encode("latin-1"))
    with pytest.raises(ConfigError, match="not UTF-8 text") as err:
        load_config(str(latin))
    assert "\n" not in str(err.value) and str(latin) in str(err.value)
    with pytest.raises(ConfigError, match="not found"):
        load_config(str(tmp_path))


def test_save_config_goes_through_the_atomic_writer(tmp_path, monkeypatch):
    from utils import atomic
    names = []
    real = atomic.temp_name
    monkeypatch.setattr(atomic, "temp_name", lambda t, d=False: names.append(t) or real(t, d))
    out = tmp_path / "config.yaml"
    save_config({"lr": 1e-4}, str(out))
    assert len(names) == 1 and os.listdir(tmp_path) == ["config.yaml"]
    assert load_config(str(out)) == {"lr": 1e-4}


def test_a_config_that_cannot_be_written_is_one_config_error_line(tmp_path, full_disk):
    full_disk()
    out = tmp_path / "config.yaml"
    with pytest.raises(ConfigError, match="no space left on device") as err:
        save_config({"lr": 1e-4, "blob": "x" * 100000}, str(out))
    assert "\n" not in str(err.value) and "Errno" not in str(err.value)
    assert os.listdir(tmp_path) == []
