"""The mixer of the README's "Write your own mixer" section, read from the README itself."""

import functools
import pathlib

import keras

from tests.doc_examples import python_blocks
from tests.doc_examples import run_block

README = pathlib.Path(__file__).parent.parent / "README.md"
SECTION = "## Write your own mixer"
CLASS_NAME = "VerticalSplitMix"


def readme_mixer_block():
    """The first ```python block of the README section (it defines the mixer)."""
    text = README.read_text()
    start = text.index(SECTION)
    blocks = python_blocks(text[start:])
    assert blocks and f"class {CLASS_NAME}(kmix.layers.BaseMixLayer)" in blocks[0], (
        f"the README section {SECTION!r} must start with the {CLASS_NAME} example"
    )
    return blocks[0]


@functools.lru_cache(maxsize=None)
def _load():
    namespace = {}
    run_block(readme_mixer_block(), "README mixer", namespace=namespace)
    return namespace[CLASS_NAME]


def readme_mixer(**kwargs):
    """A `VerticalSplitMix` layer built with `kwargs`, its class registered for loading."""
    cls = _load()
    # The README test runs the same block again and registers its own class
    # under the same name; point the name back at this one.
    keras.saving.register_keras_serializable(package="my_mixers")(cls)
    return cls(**kwargs)
