"""kmix: the mixup family of data augmentation, first-class in Keras 3 / TensorFlow."""

__version__ = "0.1.0"

from kmix import config
from kmix import datasets
from kmix import layers
from kmix import losses
from kmix import metrics
from kmix import models
from kmix import ops
from kmix import visualization
from kmix.mix_plan import MixPlan

__all__ = ["MixPlan", "config", "layers", "losses", "metrics", "models", "ops", "datasets", "visualization", "__version__"]
