"""Every fenced example in a public docstring runs offline and prints what it says."""

import inspect

import pytest

import kmix
from tests.doc_examples import python_blocks
from tests.doc_examples import run_block


def public_objects():
    seen = {}
    seen["kmix.MixPlan"] = kmix.MixPlan
    for module_name in ("ops", "layers", "losses"):
        module = getattr(kmix, module_name)
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name)
            seen[f"kmix.{module_name}.{name}"] = obj
    for optional in ("metrics", "models", "visualization"):
        module = getattr(kmix, optional, None)
        for name in getattr(module, "__all__", []) if module else []:
            seen[f"kmix.{optional}.{name}"] = getattr(module, name)
    return seen


OBJECTS = public_objects()
WITH_EXAMPLES = {name: obj for name, obj in OBJECTS.items() if python_blocks(inspect.getdoc(obj))}


def test_every_public_class_and_function_has_a_docstring():
    missing = [name for name, obj in OBJECTS.items() if not inspect.getdoc(obj)]
    assert not missing


def test_public_layers_and_losses_have_examples():
    for name, obj in OBJECTS.items():
        if inspect.isclass(obj) and name.startswith(("kmix.layers.", "kmix.losses.")) and not name.endswith(("BaseMixLayer", "MixingLoss")):
            assert name in WITH_EXAMPLES, f"{name} has no ```python example"


@pytest.mark.parametrize("name", sorted(WITH_EXAMPLES))
def test_docstring_example_runs(name):
    for k, block in enumerate(python_blocks(inspect.getdoc(WITH_EXAMPLES[name]))):
        run_block(block, f"{name} example {k}")


def test_the_example_checker_can_fail():
    run_block("x = 2\nprint(x + 1)  # 3\n", "ok")
    with pytest.raises(AssertionError, match=r"printed '3', the example says '4'"):
        run_block("x = 2\nprint(x + 1)  # 4\n", "bad")
