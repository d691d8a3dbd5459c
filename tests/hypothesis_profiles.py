"""Hypothesis profiles for kmix's property tests.

The default profile ("kmix") is fixed and seeded: `derandomize=True` draws each
test's examples from a seed derived from the test itself and no local example
database replays other cases, so CI, a newcomer and a developer all test the
same inputs, every run. The opt-in "explore" profile searches wider: fresh
random draws each run and `EXPLORE_FACTOR` times as many examples per test.

    python -m pytest tests/layers/test_properties.py --hypothesis-profile=explore
    HYPOTHESIS_PROFILE=explore python -m pytest ...

Tests state their example count through `examples(n)` so that it scales with
the profile (a plain `@settings(max_examples=n)` would pin it in both).

Importing this module loads the active profile (tests/conftest.py imports it
first thing); it is also a pytest plugin (`-p tests.hypothesis_profiles`), so
that tests/test_hypothesis_profiles.py can check the command-line opt-in in a
subprocess that does not start TensorFlow.
"""

import os

from hypothesis import settings

DEFAULT = "kmix"
EXPLORE = "explore"
EXPLORE_FACTOR = 20

settings.register_profile(DEFAULT, derandomize=True, database=None, deadline=None, print_blob=True)
settings.register_profile(EXPLORE, derandomize=False, database=None, deadline=None, print_blob=True)


def active_profile():
    """The profile named on the command line or in HYPOTHESIS_PROFILE, else the default."""
    return os.environ.get("HYPOTHESIS_PROFILE", DEFAULT)


def examples(n):
    """`n` examples under the default profile, `EXPLORE_FACTOR * n` under "explore"."""
    return n * EXPLORE_FACTOR if settings.default is settings.get_profile(EXPLORE) else n


# Hypothesis's own pytest plugin loads `--hypothesis-profile` in
# `pytest_configure`, after this import, so the command line wins.
settings.load_profile(active_profile())
