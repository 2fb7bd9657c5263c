"""Pseudo ground-truth flows for a Vimeo90K-style root (the flow loss's targets).

    python -m datasets.flow_generation -r data/vimeo_triplet --method dis
    python -m datasets.flow_generation -r data/vimeo_triplet --method raft --weights raft_large.pth

Writes flow/<seq>/<id>/flow_t0.flo (im2 -> im1) and flow_t1.flo (im2 -> im3) for every id in
tri_trainlist.txt (and tri_testlist.txt with --split both). Finished files are skipped, so
an interrupted run continues where it stopped; each file is written atomically.
RAFT comes from torchvision with weights from a local file (users with internet may pass
--weights default to let torchvision fetch its own).
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import List, Optional

import numpy as np
import torch
from tqdm import tqdm

from datasets.common import DatasetError
from datasets.flow_io import write_flo
from datasets.vimeo import read_list
from utils.images import ImageReadError, read_rgb
from utils.optical_flow import FlowEstimator, dis_flow


def raft_estimator(weights: Optional[str], device: str, small: bool = False) -> FlowEstimator:
    from torchvision.models.optical_flow import raft_large, raft_small
    build = raft_small if small else raft_large
    if weights == "default":  # torchvision downloads its own weights (needs internet)
        model = build(weights="DEFAULT")
    else:
        model = build(weights=None)
        if weights:
            if not os.path.isfile(weights):
                raise DatasetError(f"RAFT weights not found: {weights}")
            state = torch.load(weights, map_location="cpu", weights_only=True)
            model.load_state_dict(state.get("state_dict", state) if isinstance(state, dict) else state)
    model = model.to(device).eval()

    @torch.inference_mode()
    def estimate(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        x = [torch.from_numpy(v).permute(2, 0, 1)[None].float().div(127.5).sub(1).to(device)
             for v in (a, b)]
        h, w = a.shape[:2]
        ph, pw = (-h) % 8, (-w) % 8  # RAFT needs sides divisible by 8
        x = [torch.nn.functional.pad(v, (0, pw, 0, ph), mode="replicate") for v in x]
        flow = model(x[0], x[1])[-1][0, :, :h, :w]
        return flow.permute(1, 2, 0).cpu().numpy()
    return estimate


def generate(root: str, estimate: FlowEstimator, ids: List[str]) -> int:
    """Write the missing flow files; returns how many samples were computed."""
    done = 0
    for sid in tqdm(ids, unit="triplet", desc="flows"):
        out = os.path.join(root, "flow", sid)
        t0, t1 = os.path.join(out, "flow_t0.flo"), os.path.join(out, "flow_t1.flo")
        if os.path.isfile(t0) and os.path.isfile(t1):
            continue
        seq = os.path.join(root, "sequences", sid)
        im1, im2, im3 = (read_rgb(os.path.join(seq, f"im{k}.png")) for k in (1, 2, 3))
        if not os.path.isfile(t0):
            write_flo(t0, estimate(im2, im1))
        if not os.path.isfile(t1):
            write_flo(t1, estimate(im2, im3))
        done += 1
    return done


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-r", "--root", required=True, help="Vimeo90K triplet root")
    p.add_argument("--method", choices=["dis", "raft", "raft_small"], default="dis")
    p.add_argument("--weights", help="local RAFT weights (.pth), or 'default' to download")
    p.add_argument("--split", choices=["train", "test", "both"], default="train")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    a = p.parse_args(argv)
    try:
        lists = {"train": ["tri_trainlist.txt"], "test": ["tri_testlist.txt"],
                 "both": ["tri_trainlist.txt", "tri_testlist.txt"]}[a.split]
        ids = [i for name in lists for i in read_list(a.root, name)]
        estimate = (dis_flow() if a.method == "dis"
                    else raft_estimator(a.weights, a.device, small=a.method == "raft_small"))
        n = generate(a.root, estimate, ids)
    except (DatasetError, ImageReadError, RuntimeError, OSError) as e:
        print(f"error: {str(e).splitlines()[0]}", file=sys.stderr)
        return 2
    print(f"computed flows for {n} of {len(ids)} triplets under {os.path.join(a.root, 'flow')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
