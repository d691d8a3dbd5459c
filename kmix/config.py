"""Global switches."""

_STATE = {"fused": True}


def set_fused_kernels(enabled):
    """Enables or disables the XLA-fused apply kernels (default: enabled).

    Applying a plan is memory-bound; compiled by XLA, the gather, cast and
    blend fuse into one pass over the batch (about twice as fast on CPU).
    Disabled, the same results come from plain TensorFlow ops, for
    environments where XLA is unavailable.
    """
    _STATE["fused"] = bool(enabled)


def fused_kernels_enabled():
    """Whether the XLA-fused apply kernels are used (see `set_fused_kernels`)."""
    return _STATE["fused"]


__all__ = ["fused_kernels_enabled", "set_fused_kernels"]
