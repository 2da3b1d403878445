"""The canon engine (prototype, issue 12): components run as plain core instances, with the canonical
ABI implemented here over guest memory instead of through wasmtime's component C API.

`parse` reads a component into an instantiation plan, `CanonComponent` prepares it (core modules
compiled, canon functions built), `Instance` instantiates it in a store, and `CanonHttpExecutor` serves
a `wasi:http` component with today's `wasmhive.wasi` host objects. Nothing imports this package yet.
"""

from ._abi import CanonTrap
from ._http import CanonHttpExecutor
from ._instance import CanonComponent, ExportFunc, Instance, take_error
from ._parse import Plan, parse
from ._wasi import WasiHost

__all__ = ["CanonComponent", "CanonHttpExecutor", "CanonTrap", "ExportFunc", "Instance", "Plan", "WasiHost",
           "parse", "take_error"]
