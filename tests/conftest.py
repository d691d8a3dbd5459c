import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402

from tests import hypothesis_profiles  # noqa: E402

# One fixed, seeded profile unless `--hypothesis-profile=explore` (which
# hypothesis's pytest plugin loads after this) or HYPOTHESIS_PROFILE asks for
# the wider search; see tests/hypothesis_profiles.py.
settings.load_profile(hypothesis_profiles.active_profile())


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: slower tests (training runs, examples); run in CI too")


@pytest.fixture(autouse=True)
def _reset_keras_policy():
    yield
    keras.config.set_dtype_policy("float32")
    keras.config.set_image_data_format("channels_last")
