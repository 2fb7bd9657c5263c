"""The training-validation adapters read the test sets exactly as the benchmark scripts do."""
import os

import numpy as np
import pytest
from torch.utils.data import DataLoader

from benchmarks import gopro
from datasets import DATASETS
from tests.benchmarks import trees
from tests.benchmarks.helpers import score_baseline
from utils.evaluation.core import Protocol, evaluate, samples_from_batches
from utils.evaluation.predictors import average_predictor

SIZE = (528, 544)  # larger than the 512 crop, so the crop changes the score


def _gopro_tree(root: str) -> str:
    """One 9-frame test video: a smooth centre that averaging predicts well, a noisy border
    that it does not."""
    rng = np.random.default_rng(0)
    tex = trees.texture(*SIZE, seed=0).astype(np.float32)
    for i, path in enumerate(trees.numbered(os.path.join(root, "test", "GOPR0001"), 9)):
        noise = rng.normal(0, 2, SIZE + (3,))
        border = np.ones(SIZE, bool)
        border[12:-12, 12:-12] = False
        noise[border] = rng.normal(0, 60, (int(border.sum()), 3))
        trees.write_png(path, np.clip(tex + trees.STEP * i + noise, 0, 255).astype(np.uint8))
    return root


def _validation_psnr(dataset) -> float:
    """What the trainer's validation computes (unit-batched loader, default protocol)."""
    batches = DataLoader(dataset, batch_size=2, shuffle=False, num_workers=0)
    return evaluate(average_predictor, samples_from_batches(batches), Protocol(),
                    progress=False).psnr


@pytest.mark.slow
def test_gopro_validation_scores_the_benchmark_crop(tmp_path):
    root = _gopro_tree(str(tmp_path / "gopro"))
    (rec,) = score_baseline(gopro.main, root, tmp_path / "rep")
    assert rec["protocol"]["crop"] == [512, 512]
    test = DATASETS.get("GoPro_Test_Dataset")(root)
    assert test[0]["img0"].shape == (3, 512, 512)
    assert _validation_psnr(test) == pytest.approx(rec["psnr"], abs=1e-4)
    full = DATASETS.get("GoPro_Test_Dataset")(root, crop_size=None)
    assert full[0]["img0"].shape == (3,) + SIZE
    assert _validation_psnr(full) < rec["psnr"] - 3  # the noisy border is scored


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
