"""Pictures of mixed batches and of calibration.

- `plot_mix_gallery`: one batch, column by column: each image, its partner, the
  own-pixel mask with its `lam`, and the mixed image with its label shares.
- `plot_mask_comparison`: several mixers on the same images, one row each.
- `plot_bounding_boxes`: a detection batch with its boxes drawn and labelled.
- `plot_reliability_diagram`: accuracy against confidence in equal-width bins,
  with the expected calibration error (ECE) in the title.

matplotlib is an optional dependency (`pip install kmix[vis]`); it is imported
when a function is called, never when kmix is imported. Figures are built on
matplotlib's Agg canvas (no window, no global pyplot state), returned, and
saved as PNG when `path` is given.
"""

from kmix.visualization.checks import GALLERY_PANELS  # noqa: F401
from kmix.visualization.detection import plot_bounding_boxes
from kmix.visualization.galleries import plot_mask_comparison
from kmix.visualization.galleries import plot_mix_gallery
from kmix.visualization.reliability import plot_reliability_diagram
from kmix.visualization.reliability import plot_reliability_diagrams

__all__ = ["plot_bounding_boxes", "plot_mask_comparison", "plot_mix_gallery", "plot_reliability_diagram", "plot_reliability_diagrams"]
