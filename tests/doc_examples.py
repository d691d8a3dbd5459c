"""Runs fenced ```python examples and checks `print(...)  # expected` lines."""

import contextlib
import io
import re
import textwrap

FENCE = re.compile(r"```python\n(.*?)```", re.S)
PRINT_WITH_EXPECTATION = re.compile(r"^(\s*)print\((.*)\)\s+#\s*(.+?)\s*$")


def python_blocks(text):
    return [textwrap.dedent(block) for block in FENCE.findall(text or "")]


def run_block(source, where, namespace=None):
    """Executes `source`; each `print(x)  # text` line must print `text`.

    With `namespace` (a dict), the block's names are left in it.
    """
    lines = []
    expectations = []
    for line in source.splitlines():
        match = PRINT_WITH_EXPECTATION.match(line)
        if match:
            indent, expr, expected = match.groups()
            lines.append(f"{indent}__kmix_check__({len(expectations)}, {expr})")
            expectations.append(expected)
        else:
            lines.append(line)

    def check(position, *values):
        printed = " ".join(str(v) for v in values)
        assert printed == expectations[position], (
            f"{where}: printed {printed!r}, the example says {expectations[position]!r}"
        )

    namespace = {} if namespace is None else namespace
    namespace.update({"__kmix_check__": check, "__name__": "__doc_example__"})
    with contextlib.redirect_stdout(io.StringIO()):
        exec(compile("\n".join(lines), where, "exec"), namespace)
    return len(expectations)
