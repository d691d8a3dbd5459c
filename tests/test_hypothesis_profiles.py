"""The default test run draws the same property-test cases on every machine."""

import os
import pathlib
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from tests import hypothesis_profiles


def test_default_profile_is_fixed_and_seeded():
    if hypothesis_profiles.active_profile() != hypothesis_profiles.DEFAULT:
        pytest.skip("a non-default profile was asked for")
    assert settings.default.derandomize is True
    assert settings.default.database is None
    assert hypothesis_profiles.examples(12) == 12


def _draws():
    seen = []

    @settings(max_examples=hypothesis_profiles.examples(10))
    @given(st.integers(0, 10**9))
    def record(value):
        seen.append(value)

    record()
    return seen


def test_two_runs_draw_the_same_cases():
    if hypothesis_profiles.active_profile() != hypothesis_profiles.DEFAULT:
        pytest.skip("a non-default profile was asked for")
    assert _draws() == _draws()


def test_explore_profile_probe():
    """Run by the test below under the "explore" profile; skipped otherwise."""
    if hypothesis_profiles.active_profile() != hypothesis_profiles.EXPLORE and not (
            settings.default is settings.get_profile(hypothesis_profiles.EXPLORE)):
        pytest.skip("only meaningful under --hypothesis-profile=explore")
    assert not settings.default.derandomize
    assert hypothesis_profiles.examples(3) == 3 * hypothesis_profiles.EXPLORE_FACTOR


def test_explore_profile_is_opt_in_and_wider():
    # The profile module loads the default exactly as tests/conftest.py does
    # (by being imported, here as a plugin), then hypothesis's plugin applies
    # the command line; without tests/conftest.py, TensorFlow never starts.
    root = pathlib.Path(__file__).parent.parent
    env = dict(os.environ)
    env.pop("HYPOTHESIS_PROFILE", None)
    probe = f"{pathlib.Path(__file__)}::test_explore_profile_probe"
    base = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "0",
            "--noconftest", "-p", "tests.hypothesis_profiles", probe]
    explore = subprocess.run(base + ["--hypothesis-profile=explore"], env=env,
                             capture_output=True, text=True, cwd=root)
    assert explore.returncode == 0 and "1 passed" in explore.stdout, explore.stdout + explore.stderr
    default = subprocess.run(base, env=env, capture_output=True, text=True, cwd=root)
    assert default.returncode == 0 and "1 skipped" in default.stdout, default.stdout + default.stderr
