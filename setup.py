"""kmix: the mixup family of data augmentation for Keras 3 / TensorFlow."""

import pathlib
import re

from setuptools import find_packages
from setuptools import setup

HERE = pathlib.Path(__file__).parent
VERSION = re.search(
    r'__version__ = "([^"]+)"', (HERE / "kmix" / "__init__.py").read_text()
).group(1)

setup(
    name="kmix",
    version=VERSION,
    description=(
        "MixUp, CutMix, FMix, ResizeMix, MaskMix, attention-guided labels and "
        "mixing losses for Keras 3 / TensorFlow, XLA-compilable."
    ),
    long_description=(HERE / "README.md").read_text(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    packages=find_packages(include=["kmix", "kmix.*"]),
    python_requires=">=3.10",
    install_requires=[
        "tensorflow>=2.18",
        "keras>=3.8,<4",
        "numpy",
    ],
    extras_require={
        "test": [
            "pytest",
            "pytest-xdist",
            "hypothesis",
            "scipy",
            "matplotlib",
            "scikit-learn",
            "keras-hub>=0.20",
            "tensorflow-datasets",
            # The input mixers under KERAS_BACKEND=jax and torch (tests/test_backends.py).
            # torch pinned: 2.13.0 is a CPU build on this project's machines; an
            # unpinned torch pulls a CUDA build of several GB.
            "jax[cpu]",
            "torch==2.13.0",
        ],
        "backends": ["jax[cpu]", "torch==2.13.0"],
        "demo": ["scikit-learn", "matplotlib"],
        "datasets": ["tensorflow-datasets", "scikit-learn"],
        "bench": ["keras-cv==0.9.0", "tensorflow-datasets"],
        "hub": ["keras-hub>=0.20"],
        "vis": ["matplotlib"],
    },
    classifiers=[
        "Programming Language :: Python :: 3",
        "Framework :: Keras",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
