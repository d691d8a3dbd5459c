import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
def _add_flag(variable, flag, value):
    """Appends `--flag=value` to the environment variable unless it sets `flag` already."""
    if flag not in os.environ.get(variable, ""):
        os.environ[variable] = (os.environ.get(variable, "") + f" --{flag}={value}").strip()


# XLA's CPU backend without LLVM's optimisation passes: the tests compile many
# small XLA programs and run each a few steps, so compile time dominates (a
# third less with this flag). What compiles is unchanged; set XLA_FLAGS
# yourself to test with the optimised backend.
_add_flag("XLA_FLAGS", "xla_backend_optimization_level", 0)

# TensorFlow's persistent XLA cache, in one fresh folder per test run: many
# tests compile the same XLA program (the same kernel at the same shapes, a
# model built the same way in another test or in the other pytest-xdist
# worker), and each is compiled once per run. The first process (the xdist
# controller, or pytest without `-n`) makes the folder and removes it at the
# end; the workers inherit it through the environment.
_XLA_CACHE_CREATED = None
if "tf_xla_persistent_cache_directory" not in os.environ.get("TF_XLA_FLAGS", ""):
    if "KMIX_TEST_XLA_CACHE" not in os.environ:
        import tempfile

        _XLA_CACHE_CREATED = tempfile.mkdtemp(prefix="kmix-test-xla-cache-")
        os.environ["KMIX_TEST_XLA_CACHE"] = _XLA_CACHE_CREATED
    _add_flag("TF_XLA_FLAGS", "tf_xla_persistent_cache_directory", os.environ["KMIX_TEST_XLA_CACHE"])

import pytest  # noqa: E402

# One fixed, seeded profile unless `--hypothesis-profile=explore` (which
# hypothesis's pytest plugin loads after this) or HYPOTHESIS_PROFILE asks for
# the wider search: importing the module loads it (tests/hypothesis_profiles.py).
from tests import hypothesis_profiles  # noqa: E402, F401


def _configure_tensorflow():
    """TensorFlow as every test runs it; called before any test module is imported.

    - Two logical CPU devices for the whole session, so that MirroredStrategy
      tests run in this process (devices can only be split before TensorFlow
      runs its first op). Ops are placed on /cpu:0 unless a strategy says
      otherwise.
    - No grappler graph optimisation: every test traces small graphs and runs
      them a few times, so optimising them costs more than it saves. What runs
      is the graph as traced (grappler only rewrites it into an equivalent one).
    """
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})


@pytest.fixture(scope="session")
def two_cpus():
    """The session's `tf.distribute.MirroredStrategy` over its two logical CPUs.

    One strategy for every test: strategies created one after the other in a
    process reuse collective instance keys, and the second one's all-reduce
    then aborts ("Shape mismatch in the collective instance").
    """
    import tensorflow as tf

    return tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: slower tests (training runs, examples); run in CI too")
    # With pytest-xdist (`-n`) the controlling process runs no test: only the
    # workers (and a run without `-n`) start TensorFlow.
    controller = bool(getattr(config.option, "numprocesses", None)) and not hasattr(config, "workerinput")
    if not controller:
        _configure_tensorflow()


def pytest_unconfigure(config):
    if _XLA_CACHE_CREATED is not None:
        import shutil

        shutil.rmtree(_XLA_CACHE_CREATED, ignore_errors=True)


def _cost_rank(item):
    """0 for `slow` tests, 1 for other compiled or distributed ones, 2 for the rest."""
    if item.get_closest_marker("slow"):
        return 0
    name = item.nodeid.lower()
    return 1 if any(word in name for word in ("xla", "mirrored", "fit", "save")) else 2


def pytest_collection_modifyitems(config, items):
    # Longest first (a stable sort keeps the file order within a rank), so that
    # parallel workers (pytest-xdist, `-n` in pytest.ini) never finish on one
    # long test started last.
    items.sort(key=_cost_rank)


@pytest.fixture(autouse=True)
def _reset_keras_policy():
    yield
    import keras

    keras.config.set_dtype_policy("float32")
    keras.config.set_image_data_format("channels_last")
