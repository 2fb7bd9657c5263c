"""The 7 in-between frames of a pair (t = 1/8 .. 7/8) as images and a short video.

    python demos/demo_8x.py -c cfgs/AMT-S_gopro.yaml -p pretrained/gopro_amt-s.pth -x a.png -y b.png -o out/
"""
from __future__ import annotations

import argparse
import os
from typing import List, Optional

from demos.cli import EPILOG, guarded
from utils.cli_options import add_arbitrary_time, add_backend, add_device


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog=EPILOG)
    p.add_argument("-c", "--config")
    p.add_argument("-p", "--ckpt", dest="checkpoint")
    p.add_argument("-x", "--img0", required=True, help="first frame")
    p.add_argument("-y", "--img1", required=True, help="second frame")
    p.add_argument("-o", "--out_path", default="results", help="output folder")
    p.add_argument("-r", "--frame_rate", type=float, default=None, help="playback fps")
    add_device(p)
    add_arbitrary_time(p)
    add_backend(p)
    a = p.parse_args(argv)
    from demos.pipeline import InterpolationOptions, run  # after parsing: --help is instant
    from utils.devices import check_device
    # 2^3 = 8 intervals: frames 1..7 are the in-between ones, saved as 0000001.png ... 0000007.png
    return guarded(lambda: run(InterpolationOptions(
        (a.img0, a.img1), os.path.join(a.out_path, "8x.mp4"), n_iter=3, frame_rate=a.frame_rate,
        checkpoint=a.checkpoint, config=a.config, device=check_device(a.device, backend=a.backend),
        save_images=True, scene_detect=False, arbitrary_time=a.arbitrary_time,
        backend=a.backend)))


if __name__ == "__main__":
    raise SystemExit(main())
