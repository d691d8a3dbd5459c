"""The rules of ARCHITECTURE.md that code can check.

- `kmix.ops` imports nothing from the layers, losses, models or the step record.
- No kmix module reads another object's private members: `x._name` only on
  `self`, `cls`, `super()` or a module, and no `getattr(x, "_name")`.
- Every kmix module holds at most one public class, and is named after it.
"""

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).parent.parent / "kmix"
MODULES = sorted(PACKAGE.rglob("*.py"))

# Private members of other libraries that have no public form.
FOREIGN_PRIVATE = {
    # Keras marks a softmax output with it; Keras's own cross-entropies read it
    # to warn about from_logits, and kmix's losses warn the same way.
    "_keras_logits",
    # A NamedTuple's public methods (underscored so as not to clash with fields).
    "_replace",
    "_fields",
}


def _tree(path):
    return ast.parse(path.read_text(), filename=str(path))


def _imported_modules(tree):
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            names |= {a.asname or a.name for a in node.names}
    return names


def private_reads(path):
    """`(line, text)` of every read of another object's private member in a file."""
    tree = _tree(path)
    modules = _imported_modules(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
            name = node.attr
            if not name.startswith("_") or name.startswith("__") or name in FOREIGN_PRIVATE:
                continue
            owner = node.value
            if isinstance(owner, ast.Name) and (owner.id in ("self", "cls") or owner.id in modules):
                continue
            if isinstance(owner, ast.Call) and getattr(owner.func, "id", None) == "super":
                continue
            found.append((node.lineno, ast.unparse(node)))
        elif isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("getattr", "hasattr"):
            if len(node.args) >= 2 and isinstance(node.args[1], ast.Constant):
                name = node.args[1].value
                owner = node.args[0]
                if (
                    isinstance(name, str) and name.startswith("_") and not name.startswith("__")
                    and name not in FOREIGN_PRIVATE
                    and not (isinstance(owner, ast.Name) and owner.id == "self")
                ):
                    found.append((node.lineno, ast.unparse(node)))
    return found


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_reads_private_members_of_other_objects(path):
    assert private_reads(path) == []


def test_the_private_member_check_can_fail(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import os\n"
        "def f(layer, model):\n"
        "    os._exit\n"
        "    layer._sample(1)\n"
        "    return getattr(model, '_step_seed')\n"
    )
    assert sorted(text for _, text in private_reads(bad)) == [
        "getattr(model, '_step_seed')", "layer._sample"
    ]


def test_ops_import_nothing_above_them():
    above = ("kmix.layers", "kmix.losses", "kmix.models", "kmix.metrics", "kmix.step_record",
             "kmix.visualization", "kmix.demo")
    for path in sorted((PACKAGE / "ops").glob("*.py")):
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert not node.module.startswith(above), f"{path.name} imports {node.module}"
            if isinstance(node, ast.Import):
                for alias in node.names:
                    assert not alias.name.startswith(above), f"{path.name} imports {alias.name}"


def _snake(name):
    out = ""
    for i, ch in enumerate(name):
        if ch.isupper() and i and (not name[i - 1].isupper() or (i + 1 < len(name) and name[i + 1].islower())):
            out += "_"
        out += ch.lower()
    return out


@pytest.mark.parametrize(
    "path", [p for p in MODULES if p.name != "__init__.py"], ids=lambda p: str(p.relative_to(PACKAGE))
)
def test_one_public_class_per_module_named_as_its_file(path):
    classes = [
        node.name for node in _tree(path).body
        if isinstance(node, ast.ClassDef) and not node.name.startswith("_")
    ]
    assert len(classes) <= 1, f"{path.name} holds {classes}"
    if classes:
        # The class name in snake case; a method's name written as one word
        # stays whole (FMix: fmix.py, SMMixLoss: smmix_loss.py, ViT: vit.py).
        assert path.stem.replace("_", "") == classes[0].lower(), (
            f"{path.relative_to(PACKAGE)} holds {classes[0]}: name the file "
            f"{_snake(classes[0])}.py"
        )
