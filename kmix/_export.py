"""Registration of public kmix classes for Keras serialization."""

import keras

PACKAGE = "kmix"


def kmix_export(name):
    """Registers a class with `keras.saving` under the `kmix` package.

    Args:
        name: str. The public dotted name, e.g. `"kmix.layers.CutMix"`. Only the
            last component is used as the registered name, so saved files refer
            to `"kmix>CutMix"`.
    """

    def decorator(cls):
        registered = keras.saving.register_keras_serializable(
            package=PACKAGE, name=name.rsplit(".", 1)[-1]
        )(cls)
        registered._kmix_public_name = name
        return registered

    return decorator
