"""Every ```python block of the README runs offline and prints what it says."""

import pathlib

import pytest

from tests.doc_examples import python_blocks
from tests.doc_examples import run_block

README = (pathlib.Path(__file__).parent.parent / "README.md").read_text()
BLOCKS = python_blocks(README)


def test_readme_has_examples():
    assert len(BLOCKS) >= 4


def _write_image_folder(root, classes=("cats", "dogs"), per_class=6):
    """A small `photos/<class>/*.png` folder, as a user's own images would be."""
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(0)
    for k, name in enumerate(classes):
        folder = root / "photos" / name
        folder.mkdir(parents=True)
        for i in range(per_class):
            size = (40 + 8 * i, 48 + 4 * k)  # odd sizes: the loader resizes them
            pixels = rng.integers(0, 256, size + (3,), dtype=np.uint8)
            tf.io.write_file(str(folder / f"{i}.png"), tf.io.encode_png(pixels))


@pytest.mark.parametrize("k", range(len(BLOCKS)))
def test_readme_block_runs(k, tmp_path, monkeypatch):
    # Blocks run in an empty folder; the quick start reads its images from photos/.
    monkeypatch.chdir(tmp_path)
    if "image_dataset_from_directory" in BLOCKS[k]:
        _write_image_folder(tmp_path)
    run_block(BLOCKS[k], f"README block {k}")


def test_quick_start_reads_an_image_folder_and_comes_first():
    first = BLOCKS[0]
    assert "keras.utils.image_dataset_from_directory(" in first
    assert "kmix.layers.CutMix(num_classes=" in first and "model.fit(" in first
    assert README.index("## Quick start") < README.index("## Two commands")


def test_readme_test_command_is_what_ci_runs():
    ci = (pathlib.Path(__file__).parent.parent / ".ci" / "run").read_text()
    command = 'python3 -m venv .venv && . .venv/bin/activate && pip install -e ".[test]" && python -m pytest'
    assert f"```bash\n{command}\n```" in README
    assert command in ci.splitlines()
