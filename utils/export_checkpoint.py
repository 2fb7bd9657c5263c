"""Turn a training checkpoint into a small inference file: weights only, stored as fp16
(the loader restores float32), with its metadata and a `.sha256` beside it.

    python -m utils.export_checkpoint work_dir/AMT-S_open/latest.pth pretrained/amt-s-open.pth
"""
from __future__ import annotations

import argparse
import errno
import os
import sys
from typing import Any, Dict, List, Optional

from utils.atomic import OutputError, same_file
from utils.checkpoint import (CheckpointError, extract_state_dict, infer_variant, read_checkpoint,
                              save_atomic, write_sha256)


def export(src: str, dst: str, half: bool = True) -> Dict[str, Any]:
    """Writes `dst` (+ `dst.sha256`) atomically; returns its metadata. Refuses a `dst` that
    is `src` (also through a link): the training checkpoint would be lost for good."""
    for out in (dst, dst + ".sha256"):
        if same_file(out, src):
            raise OutputError(errno.EEXIST, f"the output is the input: {out} is {src}, which the "
                                            "export would replace; choose another output file")
    raw = read_checkpoint(src)
    state = extract_state_dict(raw, src)
    variant = infer_variant(state, src)
    cfg = raw.get("config") if isinstance(raw.get("config"), dict) else {}
    meta = {**(raw.get("meta") or {}), "variant": variant, "source": os.path.basename(src),
            "iterations": int(raw.get("iter", -1)), "epochs": int(raw.get("epoch", -1)),
            "exp_name": cfg.get("exp_name", ""), "storage": "float16" if half else "float32"}
    params = (cfg.get("network") or {}).get("params") or {}
    if "arbitrary_time" not in meta and "arbitrary_time" in params:
        # what load_model reads first: the exported file says it without its config
        meta["arbitrary_time"] = bool(params["arbitrary_time"])
    if half:
        state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    save_atomic({"state_dict": state, "meta": meta, "config": cfg}, dst)
    meta["sha256"] = write_sha256(dst)
    return meta


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("src", help="training checkpoint (latest.pth, best.pth, ...)")
    p.add_argument("dst", help="the inference file to write")
    p.add_argument("--fp32", action="store_true", help="store float32 instead of float16")
    args = p.parse_args(argv)
    try:
        meta = export(args.src, args.dst, half=not args.fp32)
    except CheckpointError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # OutputError among them; str() would add an "[Errno N]" prefix
        print(f"error: {e.strerror or e}", file=sys.stderr)
        return 2
    size = os.path.getsize(args.dst) / 2 ** 20
    print(f"wrote {args.dst} ({size:.1f} MiB, {meta['variant']}, {meta['iterations']} iterations), "
          f"sha256 {meta['sha256']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
