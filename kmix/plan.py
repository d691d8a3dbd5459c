"""Deprecated alias of `kmix.mix_plan` (renamed after its class), kept for one release."""

from kmix.mix_plan import PLAN_EXTRA_FIELDS  # noqa: F401
from kmix.mix_plan import MixPlan  # noqa: F401
from kmix.mix_plan import identity_plan  # noqa: F401
