"""Every ```python block of the README runs offline and prints what it says."""

import pathlib

import pytest

from tests.doc_examples import python_blocks
from tests.doc_examples import run_block

README = (pathlib.Path(__file__).parent.parent / "README.md").read_text()
BLOCKS = python_blocks(README)


def test_readme_has_examples():
    assert len(BLOCKS) >= 4


@pytest.mark.parametrize("k", range(len(BLOCKS)))
def test_readme_block_runs(k):
    run_block(BLOCKS[k], f"README block {k}")


def test_readme_test_command_is_what_ci_runs():
    ci = (pathlib.Path(__file__).parent.parent / ".ci" / "run").read_text()
    command = 'python3 -m venv .venv && . .venv/bin/activate && pip install -e ".[test]" && python -m pytest'
    assert f"```bash\n{command}\n```" in README
    assert command in ci.splitlines()
