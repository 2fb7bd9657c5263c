import os

import pytest
import torch

from networks import VARIANTS, build_model
from utils.checkpoint import (CheckpointError, infer_variant, load_state_dict, save_atomic,
                              sha256_file)
from utils.inference import load_model


@pytest.fixture(scope="module")
def small_sd():
    return build_model("AMT-S").state_dict()


def test_published_layout_loads(tmp_path, small_sd):
    path = str(tmp_path / "amt-s.pth")
    torch.save({"state_dict": small_sd, "optim": {"lr": 1e-4}, "epoch": 3}, path)
    sd = load_state_dict(path)
    assert sd.keys() == small_sd.keys()
    assert all(torch.equal(sd[k], small_sd[k]) for k in sd)


def test_bare_and_ddp_prefixed_and_fp16(tmp_path, small_sd):
    bare = str(tmp_path / "bare.pth")
    torch.save(small_sd, bare)
    assert load_state_dict(bare).keys() == small_sd.keys()
    ddp = str(tmp_path / "ddp.pth")
    torch.save({"state_dict": {"module." + k: v.half() for k, v in small_sd.items()}}, ddp)
    sd = load_state_dict(ddp)
    assert sd.keys() == small_sd.keys()
    assert all(v.dtype == torch.float32 for v in sd.values())


def test_project_training_checkpoint_loads_with_inference_api(tmp_path, small_sd):
    path = str(tmp_path / "latest.pth")
    save_atomic({"state_dict": small_sd, "optim": {}, "epoch": 1, "iter": 10, "best_psnr": 20.0,
                 "rng": {"torch": torch.get_rng_state()}, "config": {"network": {"name": "AMT-S"}}},
                path)
    model = load_model(path)
    assert model.variant == "AMT-S" and not model.training
    assert torch.equal(model.state_dict()["comb_block.0.weight"], small_sd["comb_block.0.weight"])


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_infer_variant(variant):
    assert infer_variant(build_model(variant).state_dict()) == variant


def test_unknown_weights_are_rejected(small_sd):
    sd = dict(small_sd)
    sd.pop("comb_block.0.weight")
    with pytest.raises(CheckpointError, match="matches no AMT variant"):
        infer_variant(sd)


def test_config_and_checkpoint_disagree(tmp_path, small_sd):
    path = str(tmp_path / "s.pth")
    torch.save({"state_dict": small_sd}, path)
    cfg = {"network": {"name": "networks.AMT-L.Model", "params": {"corr_radius": 3}}}
    with pytest.raises(CheckpointError) as err:
        load_model(path, config=cfg)
    assert "AMT-L" in str(err.value) and "AMT-S" in str(err.value) and path in str(err.value)


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all", None])
def test_bad_files_give_one_line(tmp_path, small_sd, content):
    path = str(tmp_path / "bad.pth")
    if content is None:  # a real checkpoint cut short
        good = str(tmp_path / "good.pth")
        torch.save({"state_dict": small_sd}, good)
        content = open(good, "rb").read()[:5000]
    with open(path, "wb") as f:
        f.write(content)
    with pytest.raises(CheckpointError) as err:
        load_state_dict(path)
    assert path in str(err.value) and "\n" not in str(err.value)


def test_missing_and_unsafe_and_non_dict(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_state_dict(str(tmp_path / "nope.pth"))
    unsafe = str(tmp_path / "unsafe.pth")
    torch.save({"state_dict": {"a": object()}}, unsafe)  # needs full unpickling
    with pytest.raises(CheckpointError):
        load_state_dict(unsafe)
    listy = str(tmp_path / "list.pth")
    torch.save([torch.zeros(1)], listy)
    with pytest.raises(CheckpointError, match="not a checkpoint dict"):
        load_state_dict(listy)
    strings = str(tmp_path / "strings.pth")
    torch.save({"state_dict": {"a": "b"}}, strings)
    with pytest.raises(CheckpointError, match="not a tensor"):
        load_state_dict(strings)


def test_save_atomic_leaves_no_temporary(tmp_path):
    path = str(tmp_path / "sub" / "x.pth")
    save_atomic({"a": torch.ones(2)}, path)
    save_atomic({"a": torch.zeros(2)}, path)
    assert os.listdir(tmp_path / "sub") == ["x.pth"]
    assert torch.load(path, weights_only=True)["a"].sum() == 0
    assert len(sha256_file(path)) == 64


def test_save_atomic_writes_through_the_shared_atomic_writer(tmp_path, monkeypatch):
    """The temporary name carries utils.atomic's tag and pid, so remove_orphans finds it."""
    from utils import atomic
    seen = []
    real_save = torch.save

    def spy(obj, f, *args, **kwargs):
        seen.append(os.path.basename(getattr(f, "name", f)))
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", spy)
    save_atomic({"a": torch.ones(2)}, str(tmp_path / "latest.pth"))
    assert len(seen) == 1 and f"{atomic.TMP_TAG}{os.getpid()}-" in seen[0]
    assert os.listdir(tmp_path) == ["latest.pth"]


def test_a_full_disk_is_one_line_and_keeps_the_old_file(tmp_path, full_disk):
    from utils.atomic import OutputError
    path = str(tmp_path / "latest.pth")
    save_atomic({"a": torch.zeros(2)}, path)
    full_disk()
    with pytest.raises(OutputError) as err:
        save_atomic({"a": torch.ones(100000)}, path)
    message = str(err.value)
    assert "no space left on device" in message and path in message and "\n" not in message
    assert os.listdir(tmp_path) == ["latest.pth"]
    assert torch.load(path, weights_only=True)["a"].sum() == 0


def test_non_finite_weights_are_refused_naming_the_first_bad_tensor(tmp_path, small_sd):
    sd = {k: v.clone() for k, v in small_sd.items()}
    bad = next(k for k, v in sd.items() if v.is_floating_point() and v.numel() > 1)
    sd[bad][0] = float("nan")
    path = str(tmp_path / "nan.pth")
    torch.save({"state_dict": sd}, path)
    with pytest.raises(CheckpointError, match=f"non-finite.*{bad}"):
        load_state_dict(path)
    with pytest.raises(CheckpointError, match=f"non-finite.*{bad}"):
        load_model(path)


def test_a_refused_pickle_is_one_clean_line_without_torchs_advice(tmp_path):
    unsafe = str(tmp_path / "unsafe.pth")
    torch.save({"state_dict": {"a": object()}}, unsafe)
    with pytest.raises(CheckpointError) as err:
        load_state_dict(unsafe)
    message = str(err.value)
    assert unsafe in message and "Python objects" in message
    assert "weights_only" not in message and "truncated" not in message
    assert not any(ord(c) < 32 or ord(c) == 127 for c in message), repr(message)


def test_write_sha256_goes_through_the_atomic_writer(tmp_path, full_disk):
    from utils import atomic
    from utils.checkpoint import write_sha256
    path = str(tmp_path / "w.pth")
    save_atomic({"a": torch.ones(2)}, path)
    full_disk()
    with pytest.raises(atomic.OutputError, match="no space left on device"):
        write_sha256(path)
    assert sorted(os.listdir(tmp_path)) == ["w.pth"]


@pytest.mark.parametrize("name", ["amt-s.pth", "amt-l.pth", "amt-g.pth", "gopro_amt-s.pth"])
def test_a_missing_published_file_says_where_it_comes_from_and_the_default(tmp_path, name):
    """The README's command lines name the published files, which are not shipped."""
    path = str(tmp_path / "pretrained" / name)
    with pytest.raises(CheckpointError) as err:
        load_model(path)
    message = str(err.value)
    assert message.startswith(f"checkpoint not found: {path}; ") and "\n" not in message
    assert "model zoo" in message and "pretrained/README.md" in message
    assert "without -p" in message and "pretrained/amt-s-open.pth" in message


def test_another_missing_file_is_the_plain_line(tmp_path):
    path = str(tmp_path / "mine.pth")
    with pytest.raises(CheckpointError, match=r"^checkpoint not found: .*mine\.pth$"):
        load_model(path)
