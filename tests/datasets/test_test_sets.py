"""The training-validation adapters read the test sets exactly as the benchmark scripts do."""
import os

import numpy as np
import pytest
import torch

from benchmarks import gopro
from datasets import DATASETS
from tests.benchmarks import trees
from utils.evaluation.core import centre_crop

SIZE = (528, 544)  # larger than the 512 crop, so the crop changes the pixels


def _gopro_tree(root: str) -> str:
    """One 9-frame test video."""
    tex = trees.texture(*SIZE, seed=0).astype(np.float32)
    for i, path in enumerate(trees.numbered(os.path.join(root, "test", "GOPR0001"), 9)):
        trees.write_png(path, np.clip(tex + trees.STEP * i, 0, 255).astype(np.uint8))
    return root


def _as_uint8(x: torch.Tensor) -> torch.Tensor:
    return (x * 255).round().byte()  # (3, H, W) in [0, 1] -> uint8


def test_gopro_validation_reads_the_pixels_the_benchmark_scores(tmp_path):
    root = _gopro_tree(str(tmp_path / "gopro"))
    (run,) = gopro.runs(gopro.BENCHMARK.parser().parse_args(["-r", root]))
    assert run.protocol.crop == (512, 512)
    test = DATASETS.get("GoPro_Test_Dataset")(root)
    items = [(s, t, truth) for s in run.source for t, truth in s.targets]
    assert len(test) == len(items) == 7
    for i, (s, t, truth) in enumerate(items):
        got = test[i]
        assert float(got["embt"]) == t
        for key, frame in (("img0", s.img0), ("imgt", truth), ("img1", s.img1)):
            want = centre_crop(torch.from_numpy(frame).permute(2, 0, 1), run.protocol.crop)
            assert torch.equal(_as_uint8(got[key]), want)
    full = DATASETS.get("GoPro_Test_Dataset")(root, crop_size=None)
    assert full[0]["img0"].shape == (3,) + SIZE
    assert torch.equal(_as_uint8(full[0]["img0"]),
                       torch.from_numpy(items[0][0].img0).permute(2, 0, 1))


def test_vimeo_validation_reads_the_benchmark_samples(tmp_path):
    from datasets.vimeo import vimeo_source
    root = trees.vimeo(str(tmp_path / "vimeo"))
    test = DATASETS.get("Vimeo90K_Test_Dataset")(root)
    samples = list(vimeo_source(root))
    assert [test[i]["name"] for i in range(len(test))] == [s.name for s in samples]
    for i, s in enumerate(samples):
        (t, truth), = s.targets
        assert float(test[i]["embt"]) == t == 0.5
        for key, frame in (("img0", s.img0), ("imgt", truth), ("img1", s.img1)):
            assert np.array_equal((test[i][key] * 255).round().byte().permute(1, 2, 0).numpy(), frame)


def test_a_crop_larger_than_the_frames_is_one_dataset_error_line(tmp_path):
    from datasets.common import DatasetError
    root = _gopro_tree(str(tmp_path / "gopro"))
    test = DATASETS.get("GoPro_Test_Dataset")(root, crop_size=(1024, 1024))
    with pytest.raises(DatasetError, match="crop 1024x1024 is larger") as e:
        test[0]
    assert "\n" not in str(e.value)
