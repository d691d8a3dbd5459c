"""Calibration metrics: functions and streaming Keras metrics."""

from kmix.metrics.adaptive_calibration_error import AdaptiveCalibrationError
from kmix.metrics.classwise_calibration_error import ClasswiseCalibrationError
from kmix.metrics.expected_calibration_error import ExpectedCalibrationError

# The functions come last: their names shadow the class modules' names in
# this package's namespace (import the classes from the package).
from kmix.metrics.calibration import adaptive_calibration_error  # noqa: E402
from kmix.metrics.calibration import classwise_calibration_error  # noqa: E402
from kmix.metrics.calibration import expected_calibration_error  # noqa: E402
from kmix.metrics.temperature_scaling import fit_temperature  # noqa: E402

__all__ = [
    "AdaptiveCalibrationError",
    "ClasswiseCalibrationError",
    "ExpectedCalibrationError",
    "adaptive_calibration_error",
    "classwise_calibration_error",
    "expected_calibration_error",
    "fit_temperature",
]
