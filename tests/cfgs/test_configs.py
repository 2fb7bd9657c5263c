"""The shipped configs: each loads and builds its network, and the bundled checkpoint's
config trains only on data every user has, never on the held-out frames."""
import glob
import os

import pytest
import torch

from datasets.video_folder import VideoFolderTrain, default_video_dir
from networks import VARIANTS, build_model
from trainers.data import build_dataset
from utils import video_io
from utils.config import load_config

CFG_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "cfgs")
CONFIGS = sorted(glob.glob(os.path.join(CFG_DIR, "*.yaml")))


# Each shipped config: the variant it builds and whether it trains for any t.
SHIPPED = {"AMT-S.yaml": ("AMT-S", False), "AMT-L.yaml": ("AMT-L", False),
           "AMT-G.yaml": ("AMT-G", False), "AMT-S_gopro.yaml": ("AMT-S", True),
           "AMT-S_open.yaml": ("AMT-S", False), "AMT-S_synthetic.yaml": ("AMT-S", False)}


def test_the_shipped_configs_are_the_known_ones():
    assert sorted(os.path.basename(p) for p in CONFIGS) == sorted(SHIPPED)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_variant_has_its_config(variant):
    assert os.path.join(CFG_DIR, f"{variant}.yaml") in CONFIGS


@pytest.mark.parametrize("path", CONFIGS, ids=os.path.basename)
def test_config_loads_and_builds_its_network(path):
    cfg = load_config(path)
    with torch.device("meta"):
        model = build_model(cfg["network"])
    assert (model.variant, model.arbitrary_time) == SHIPPED[os.path.basename(path)]
    # the network says what it is trained for: explicitly, in its own section
    assert isinstance(cfg["network"]["params"]["arbitrary_time"], bool)
    assert "arbitrary_time" not in cfg and "distributed" not in cfg


def _parts(dataset):
    """The leaves of a Mixed set (StillFrames wrappers and repeats unwrapped)."""
    for part in getattr(dataset, "datasets", [dataset]):
        yield getattr(part, "dataset", part)


def test_open_config_trains_only_on_the_allowed_frames():
    cfg = load_config(os.path.join(CFG_DIR, "AMT-S_open.yaml"))
    train = build_dataset(cfg["data"]["train"], "train")
    clips = {}
    for part in _parts(train):
        if isinstance(part, VideoFolderTrain):
            clips.update({name: len(frames) for name, frames in part.clips})
    # bikes.mp4 whole, bigbuckbunny.mp4 frames 0-79; its frames 80-131 and
    # carphone_pristine.mp4 are held out for benchmarks/open_clips.py
    bikes = sum(1 for _ in video_io.video_frames(os.path.join(default_video_dir(), "bikes.mp4")))
    assert bikes > 80 and clips == {"bikes.mp4": bikes, "bigbuckbunny.mp4": 80}
    sample = train[len(train) - 1]  # a bigbuckbunny triplet, augmented as in training
    size = tuple(cfg["data"]["train"]["params"]["sets"][-1]["params"]["crop_size"])
    assert sample["imgt"].shape == (3, *size) and torch.isfinite(sample["flow"]).all()
