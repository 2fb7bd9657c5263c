"""Install the AMT project: `pip install -e .[test]`."""
from setuptools import find_packages, setup

# torch.onnx's exporter (dynamo=True): the versions tested are the lower bounds.
EXPORT = ["onnx>=1.23", "onnxscript>=0.7"]
PACKAGES = ["networks", "datasets", "losses", "trainers", "benchmarks", "demos", "utils"]

setup(
    name="amt-vfi",
    version="0.1.0",
    description="AMT (All-Pairs Multi-Field Transforms) video frame interpolation: "
                "training, benchmarks and interpolation tools",
    python_requires=">=3.9",
    packages=find_packages(include=[p + suffix for p in PACKAGES for suffix in ("", ".*")]),
    py_modules=["train"],
    install_requires=[
        "torch>=2.6",  # torch.nn.utils.get_total_norm and clip_grads_with_norm_ (the trainer)
        "torchvision>=0.16",
        "numpy>=1.23",
        "opencv-python-headless>=4.7",
        "pyyaml>=6.0",
        "tqdm>=4.60",
        "tensorboard>=2.10",
        "imageio>=2.28",
        "imageio-ffmpeg>=0.4.8",
        "psutil>=5.9",
    ],
    extras_require={
        # The ONNX tests (tests/utils/test_onnx_export.py, test_runtimes.py) need all three.
        "test": ["pytest>=7", "scikit-image>=0.20", "scikit-video>=1.1.11", "gradio>=4.22",
                 "playwright>=1.40", *EXPORT, "onnxruntime>=1.32", "openvino>=2026.4"],
        "web": ["gradio>=4.22"],
        "onnx": EXPORT,  # amt-export
        # --backend onnxruntime / openvino (the backend exports the model itself)
        "onnxruntime": [*EXPORT, "onnxruntime>=1.32"],
        "openvino": [*EXPORT, "openvino>=2026.4"],
    },
    entry_points={
        "console_scripts": [
            "amt-interpolate=demos.demo_2x:main",
            "amt-interpolate-8x=demos.demo_8x:main",
            "amt-benchmark=benchmarks.run_all:main",
            "amt-train=train:main",
            "amt-speed=benchmarks.speed_parameters:main",
            "amt-export=utils.onnx_export:main",
        ],
    },
)
