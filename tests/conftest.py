import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import pytest  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: slower tests (training runs, examples); run in CI too")


@pytest.fixture(autouse=True)
def _reset_keras_policy():
    yield
    keras.config.set_dtype_policy("float32")
    keras.config.set_image_data_format("channels_last")
