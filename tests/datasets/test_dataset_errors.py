"""Data set problems are one DatasetError line, found when the set is built where possible."""
import os

import cv2
import numpy as np
import pytest
import torch

from datasets import DATASETS, DatasetError
from datasets.flow_io import write_flo

SIZE = (128, 144)


def _png(path, value):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    img = np.full(SIZE + (3,), value, np.uint8)
    img[0, 0] = (value + 1) % 256
    cv2.imwrite(str(path), img)


@pytest.fixture
def vimeo(tmp_path):
    ids = ["00001/0001", "00001/0002", "00002/0001"]
    for n, sid in enumerate(ids):
        for k in (1, 2, 3):
            _png(tmp_path / "sequences" / sid / f"im{k}.png", 10 * n + k)
        for name in ("flow_t0.flo", "flow_t1.flo"):
            write_flo(str(tmp_path / "flow" / sid / name), np.zeros(SIZE + (2,), np.float32))
    (tmp_path / "tri_trainlist.txt").write_text("\n".join(ids) + "\n")
    (tmp_path / "tri_testlist.txt").write_text("\n".join(ids) + "\n")
    return tmp_path


def _one_line(err) -> str:
    message = str(err.value)
    assert message and "\n" not in message and "Traceback" not in message, message
    return message


@pytest.mark.parametrize("crop, message", [
    ([64, 64], "at least 128"), ([128, 96], "at least 128"), ([130, 144], "multiples of 16"),
    ([128], "two whole numbers"), (["a", 128], "two whole numbers"),
])
def test_a_crop_the_network_cannot_train_on_is_refused_when_the_set_is_built(vimeo, tmp_path,
                                                                             crop, message):
    with pytest.raises(DatasetError, match=message) as err:
        DATASETS.get("Vimeo90KTrain")(str(vimeo), crop_size=crop)
    assert "crop_size" in _one_line(err)
    with pytest.raises(DatasetError, match=message):
        DATASETS.get("VideoFolderTrain")(str(vimeo / "sequences" / "00001"), crop_size=crop)
    DATASETS.get("Vimeo90KTrain")(str(vimeo), crop_size=crop, augment=False)  # no crop is made


def test_missing_vimeo_flows_are_found_when_the_set_is_built(vimeo):
    os.remove(vimeo / "flow" / "00001" / "0002" / "flow_t1.flo")
    with pytest.raises(DatasetError, match=r"flow_t1.flo") as err:
        DATASETS.get("Vimeo90KTrain")(str(vimeo), crop_size=[128, 128])
    message = _one_line(err)
    assert "1 of 6 flow files" in message and "flow: false" in message
    assert len(DATASETS.get("Vimeo90KTrain")(str(vimeo), flow=False, crop_size=[128, 128])) == 3


def test_a_corrupt_flow_file_is_one_dataset_error_line(vimeo):
    path = vimeo / "flow" / "00001" / "0002" / "flow_t0.flo"
    path.write_bytes(path.read_bytes()[:100])
    ds = DATASETS.get("Vimeo90KTrain")(str(vimeo), crop_size=[128, 128])
    with pytest.raises(DatasetError, match="truncated") as err:
        ds[1]
    assert str(path) in _one_line(err)


def test_a_corrupt_image_in_a_loader_worker_is_one_line_naming_it(vimeo):
    bad = vimeo / "sequences" / "00001" / "0002" / "im2.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    ds = DATASETS.get("Vimeo90KTest")(str(vimeo))
    loader = torch.utils.data.DataLoader(ds, batch_size=1, num_workers=1)
    with pytest.raises(DatasetError) as err:
        list(loader)
    message = _one_line(err)
    assert str(bad) in message and f"error: {err.value}".count("\n") == 0


def test_write_flo_goes_through_the_atomic_writer(tmp_path, monkeypatch):
    from utils import atomic
    names = []
    real = atomic.temp_name
    monkeypatch.setattr(atomic, "temp_name", lambda t, d=False: names.append(t) or real(t, d))
    write_flo(str(tmp_path / "sub" / "a.flo"), np.zeros((4, 5, 2), np.float32))
    assert len(names) == 1 and os.listdir(tmp_path / "sub") == ["a.flo"]


def test_train_py_prints_a_workers_unreadable_frame_as_one_line(tmp_path, capsys):
    import train
    from tests.trainers.helpers import tiny_config, write_config
    frames = tmp_path / "clips" / "shots"
    for i in range(4):
        _png(frames / f"{i:03d}.png", 30 * i)
    bad = frames / "001.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    cfg = tiny_config(str(tmp_path), epochs=1, eval_interval=0, tensorboard=False)
    cfg["data"]["train"] = {"name": "VideoFolderTrain",
                            "params": {"dataset_dir": str(tmp_path / "clips"), "crop_size": [128, 128]}}
    cfg["data"]["train_loader"] = {"batch_size": 1, "num_workers": 1}
    assert train.main(["-c", write_config(cfg, str(tmp_path / "cfg.yaml"))]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error")]
    assert len(err) == 1 and str(bad) in err[0], err
