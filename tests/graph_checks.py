"""Inspecting traced TensorFlow graphs in tests."""

import tensorflow as tf


def _all_node_defs(graph_def):
    yield from graph_def.node
    for function in graph_def.library.function:
        yield from function.node_def


def nchw_ops(fn, *args):
    """The ops of `fn(*args)`'s graph that run in NCHW layout, as `"Op:name"`.

    TensorFlow has no NCHW Conv2D or pooling kernel on many CPUs ("The Conv2D
    op currently only supports the NHWC tensor format on the CPU"), so a
    graph that contains one runs or fails depending on the machine. Nested
    functions (control flow, Keras layers) are searched too.
    """
    concrete = tf.function(fn).get_concrete_function(*args)
    found = []
    for node in _all_node_defs(concrete.graph.as_graph_def()):
        layout = node.attr.get("data_format")
        if layout is not None and layout.s.startswith(b"NC") and node.op != "BiasAdd":
            found.append(f"{node.op}:{node.name}")
    return found
