"""Tiny test sets in the real layouts, written into a temporary folder.

Frame i of every clip is `texture + STEP * i` (uint8), so a frame is exactly the time-weighted
mean of any two others of its clip: the averaging baseline predicts the right frame at the
right t perfectly, and any pairing or time mistake costs it tens of dB.
"""
from __future__ import annotations

import os
from typing import Dict, List, Sequence

import subprocess

import cv2
import imageio_ffmpeg
import numpy as np

STEP = 2  # grey levels per frame


def texture(h: int, w: int, seed: int) -> np.ndarray:
    """(h, w, 3) uint8 in [0, 180], smooth enough for SSIM and DIS to be meaningful."""
    rng = np.random.default_rng(seed)
    small = rng.uniform(0, 180, (max(2, h // 8), max(2, w // 8), 3)).astype(np.float32)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC).clip(0, 180).astype(np.uint8)


def clip_frame(tex: np.ndarray, i: int) -> np.ndarray:
    return (tex.astype(np.int32) + STEP * i).astype(np.uint8)


def write_png(path: str, rgb: np.ndarray) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    assert cv2.imwrite(path, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return path


def write_frames(paths: Sequence[str], size=(64, 64), seed: int = 0) -> List[str]:
    """Frame i of one clip to paths[i]."""
    tex = texture(*size, seed)
    return [write_png(p, clip_frame(tex, i)) for i, p in enumerate(paths)]


def numbered(folder: str, n: int, fmt: str = "{:06d}.png", first: int = 0) -> List[str]:
    return [os.path.join(folder, fmt.format(first + i)) for i in range(n)]


def vimeo(root: str, ids: Sequence[str] = ("00001/0001", "00002/0003"), listed: Sequence[str] = ()) -> str:
    """ROOT/tri_testlist.txt listing `ids` + `listed`; only `ids` are on disk."""
    for k, i in enumerate(ids):
        folder = os.path.join(root, "sequences", i)
        write_frames([os.path.join(folder, f"im{j}.png") for j in (1, 2, 3)], seed=k)
    with open(os.path.join(root, "tri_testlist.txt"), "w") as f:
        f.write("\n".join(list(ids) + list(listed)) + "\n\n")
    return root


def ucf101(root: str, ids: Sequence[str] = ("1", "2")) -> str:
    for k, i in enumerate(ids):
        write_frames([os.path.join(root, i, n) for n in ("frame_00.png", "frame_01_gt.png",
                                                        "frame_02.png")], seed=k)
    return root


def snu_film(root: str, splits: Sequence[str] = ("easy", "medium", "hard", "extreme")) -> Dict[str, list]:
    """Frames under ROOT/test/GOPRO_test/<video>/, list lines with the authors' long paths;
    split number g (1..4) pairs frames 2g apart."""
    write_frames(numbered(os.path.join(root, "test", "GOPRO_test", "GOPR0001"), 9), seed=1)
    lines = {}
    for gap, split in enumerate(splits, 1):
        triples = [(s, s + gap, s + 2 * gap) for s in (0, 1) if s + 2 * gap < 9]
        lines[split] = triples
        with open(os.path.join(root, f"test-{split}.txt"), "w") as f:
            for t in triples:
                f.write(" ".join(f"data/SNU-FILM/test/GOPRO_test/GOPR0001/{i:06d}.png" for i in t) + "\n")
    return lines


def xiph(root: str, sequences: Sequence[str] = ("Tango",), frames: int = 5, size=(64, 80)) -> str:
    for k, seq in enumerate(sequences):
        write_frames(numbered(os.path.join(root, seq), frames, "{:03d}.png", first=1), size, k)
    return root


def middlebury(root: str, seqs: Sequence[str] = ("Beanbags", "Walking")) -> str:
    for k, seq in enumerate(seqs):
        data, gt = os.path.join(root, "other-data", seq), os.path.join(root, "other-gt-interp", seq)
        write_frames([os.path.join(data, "frame10.png"), os.path.join(gt, "frame10i11.png"),
                      os.path.join(data, "frame11.png")], seed=k)
    return root


def video_folders(root: str, videos: Sequence[str], frames: int, size=(64, 64)) -> str:
    """ROOT/<video>/<frames>.png (GoPro under ROOT/test, Adobe240 directly)."""
    for k, v in enumerate(videos):
        write_frames(numbered(os.path.join(root, v), frames), size, k)
    return root


def x4k(root: str, scenes: Sequence[str] = ("Type1/TEST01_003_f0433", "Type2/TEST06_045_f0465"),
        size=(64, 64)) -> str:
    for k, scene in enumerate(scenes):
        write_frames(numbered(os.path.join(root, "test", scene), 33, "{:04d}.png"), size, k)
    return root


def write_y4m(path: str, frames: int = 5, size: str = "64x48") -> str:
    """A moving ffmpeg test pattern as a .y4m video (no encoder needed)."""
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i",
           f"testsrc=size={size}:rate=10", "-frames:v", str(frames), "-pix_fmt", "yuv420p", path]
    subprocess.run(cmd, check=True)
    return path
