"""Global switches."""

from kmix.layers._kernels import fused_kernels_enabled
from kmix.layers._kernels import set_fused_kernels

__all__ = ["fused_kernels_enabled", "set_fused_kernels"]
