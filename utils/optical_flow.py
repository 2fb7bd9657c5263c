"""OpenCV DIS optical flow: the one preset table and the one estimator, used by the pseudo
ground-truth flow script, the video-folder training set and the DIS baseline."""
from __future__ import annotations

from typing import Callable

import cv2
import numpy as np

from utils.names import DIS_PRESET_NAMES

DIS_PRESETS = dict(zip(DIS_PRESET_NAMES, (cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
                                          cv2.DISOPTICAL_FLOW_PRESET_FAST,
                                          cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)))

FlowEstimator = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (H,W,3) uint8 x2 -> (H,W,2) a->b


def dis_flow(preset: str = "medium") -> FlowEstimator:
    """An estimator of the flow from RGB uint8 image a to b: a(x) ~ b(x + flow(x)), on grey.
    One OpenCV object per estimator: it is not safe to share between threads."""
    if preset not in DIS_PRESETS:
        raise ValueError(f"unknown DIS preset {preset!r}; choose from {', '.join(DIS_PRESETS)}")
    dis = cv2.DISOpticalFlow_create(DIS_PRESETS[preset])

    def estimate(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        grey = [cv2.cvtColor(np.ascontiguousarray(x), cv2.COLOR_RGB2GRAY) for x in (a, b)]
        return dis.calc(grey[0], grey[1], None)
    return estimate
