import os

import cv2
import numpy as np
import torch

from datasets.flow_io import read_flo
from datasets.flow_generation import main


def _vimeo(root, ids, shift=3):
    rng = np.random.default_rng(0)
    base = cv2.GaussianBlur(rng.integers(0, 256, (128, 160, 3), dtype=np.uint8), (5, 5), 0)
    for sid in ids:
        folder = root / "sequences" / sid
        os.makedirs(folder)
        for k in (1, 2, 3):  # a pan: im2 -> im1 moves content by -shift in x
            cv2.imwrite(str(folder / f"im{k}.png"), np.roll(base, shift * (k - 2), axis=1))
    (root / "tri_trainlist.txt").write_text("\n".join(ids) + "\n")


def test_dis_flows_are_written_and_resumable(tmp_path, capsys):
    _vimeo(tmp_path, ["00001/0001", "00001/0002"])
    assert main(["-r", str(tmp_path), "--method", "dis"]) == 0
    flow = read_flo(str(tmp_path / "flow" / "00001/0001" / "flow_t0.flo"))
    assert flow.shape == (128, 160, 2)
    assert np.median(flow[8:-8, 8:-8, 0]) < -1.5  # content of im1 sits left of im2's
    os.remove(tmp_path / "flow" / "00001/0002" / "flow_t1.flo")
    assert main(["-r", str(tmp_path), "--method", "dis"]) == 0
    assert "computed flows for 1 of 2" in capsys.readouterr().out


def test_raft_from_a_local_weights_file(tmp_path):
    from torchvision.models.optical_flow import raft_small
    _vimeo(tmp_path, ["00001/0001"])
    weights = tmp_path / "raft_small.pth"
    torch.save(raft_small(weights=None).state_dict(), weights)
    assert main(["-r", str(tmp_path), "--method", "raft_small", "--weights", str(weights)]) == 0
    assert read_flo(str(tmp_path / "flow" / "00001/0001" / "flow_t1.flo")).shape == (128, 160, 2)


def test_errors_are_one_line(tmp_path, capsys):
    assert main(["-r", str(tmp_path / "none")]) == 2
    assert capsys.readouterr().err.startswith("error: data set folder not found")
    _vimeo(tmp_path, ["00001/0001"])
    assert main(["-r", str(tmp_path), "--method", "raft", "--weights", "nope.pth"]) == 2
    assert "RAFT weights not found" in capsys.readouterr().err
