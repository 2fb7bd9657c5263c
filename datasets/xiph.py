"""Xiph 2K and 4K: the first 100 frames of 8 sequences (4096x2160) as `<sequence>/001.png ...`;
frames 2k-1 and 2k+1 in, 2k the truth, k = 1..49. "2K": frames resized to 2048x1080 (area
interpolation); "4K": the centre 2048x1080 crop (cut by the protocol). `convert_y4m` makes the
PNG folders from local .y4m files."""
from __future__ import annotations

import os
import subprocess
from typing import List, Optional, Sequence, Tuple

from datasets.common import DatasetError, LayoutError, require
from datasets.sources import SIZE_2K, FileSource, Spec, resize_area
from utils.atomic import atomic_path
from utils.names import XIPH_FRAMES, XIPH_RESOLUTIONS, XIPH_SEQUENCES

SEQUENCES, FRAMES, RESOLUTIONS = XIPH_SEQUENCES, XIPH_FRAMES, XIPH_RESOLUTIONS
LAYOUT = "the Xiph layout: ROOT/<sequence>/001.png ... 100.png for " + ", ".join(SEQUENCES)


def protocol_crop(resolution: str) -> Optional[Tuple[int, int]]:
    """The protocol's (H, W) centre crop: 4K is scored on its centre 2K."""
    return (SIZE_2K[1], SIZE_2K[0]) if resolution == "4k" else None


def xiph_source(root: str, resolution: str, sequences: Sequence[str] = SEQUENCES,
                frames: int = FRAMES) -> FileSource:
    require(root, LAYOUT)

    def frame(seq: str, i: int) -> str:
        return os.path.join(root, seq, f"{i:03d}.png")

    specs = [Spec(f"{seq}/{2 * k:03d}", frame(seq, 2 * k - 1), frame(seq, 2 * k + 1),
                  [(0.5, frame(seq, 2 * k))])
             for seq in sequences for k in range(1, (frames - 1) // 2 + 1)]
    op = resize_area(SIZE_2K) if resolution == "2k" else None
    return FileSource.from_specs(f"Xiph-{resolution.upper()}", root, specs, frame_op=op)


def _find_y4m(src_dir: str, sequence: str) -> str:
    for name in sorted(os.listdir(src_dir)):
        stem = name[:-4] if name.lower().endswith(".y4m") else None
        if stem is not None and (stem == sequence or stem.startswith(sequence + "_")):
            return os.path.join(src_dir, name)
    raise LayoutError(f"no {sequence}.y4m or {sequence}_*.y4m in {src_dir}")


def convert_y4m(src_dir: str, root: str, sequences: Sequence[str] = SEQUENCES,
                frames: int = FRAMES) -> List[str]:
    """Writes ROOT/<sequence>/001.png ... as 8-bit RGB from local .y4m files; sequences whose
    folder already holds all frames are skipped. Returns the folders written."""
    import imageio_ffmpeg

    require(src_dir, "a folder of the Xiph .y4m files")
    written = []
    for seq in sequences:
        dest = os.path.join(root, seq)
        if all(os.path.isfile(os.path.join(dest, f"{i:03d}.png")) for i in range(1, frames + 1)):
            continue
        src = _find_y4m(src_dir, seq)
        os.makedirs(root, exist_ok=True)
        with atomic_path(dest, directory=True) as tmp:  # the frames appear all or none
            cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-nostdin", "-i", src,
                   "-frames:v", str(frames), "-pix_fmt", "rgb24", os.path.join(tmp, "%03d.png")]
            done = subprocess.run(cmd, capture_output=True, text=True)
            if done.returncode != 0:
                last = (done.stderr.strip().splitlines() or ["unknown error"])[-1]
                raise DatasetError(f"ffmpeg could not convert {src}: {last}")
        written.append(dest)
    return written
