"""Host interfaces offered to guests ("capabilities"), one subpackage each, plus their registry.

Each follows the factor life cycle in `_factor.py`: link WIT once per linker, configure once per app,
prepare per instance. Adding one = a new subpackage + one line in `_registry.FACTORS`.
"""

from ._factor import Factor, InstanceContext, StateOf
from ._registry import FACTORS, AppCapabilities

__all__ = ["FACTORS", "AppCapabilities", "Factor", "InstanceContext", "StateOf"]
