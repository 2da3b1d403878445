"""Components from Python: typed calls, host-implemented imports, host-mediated composition.

    calc = runtime.component("calc.wasm")
    calc.exports.add(3, 4)                       # 7
    calc.exports["docs:math/ops"].greet(name="Ada")

Values: bool/int/float/str as usual (integers range-checked), `char` a one-character str,
`list<u8>` bytes, records `Record` subclasses (dicts accepted), tuples, variants `Variant(tag,
value)`, enums str, flags set[str], options None or the value (`Some` when nested), results
return the ok value and raise `ResultError(value)` for err, resources `ResourceHandle`.
"""

from ._component import Component, ComponentInstance, Exports
from ._compose import dependencies_from_manifest
from ._linking import Dependency, ImportLinks, link_imports
from ._model import FuncSig, InterfaceSig, Signature, read_signature
from ._resources import ResourceHandle
from ._values import Err, Ok, Record, ResultError, Some, Variant

__all__ = [
    "Component",
    "ComponentInstance",
    "Dependency",
    "Err",
    "Exports",
    "FuncSig",
    "ImportLinks",
    "InterfaceSig",
    "Ok",
    "Record",
    "ResourceHandle",
    "ResultError",
    "Signature",
    "Some",
    "Variant",
    "dependencies_from_manifest",
    "link_imports",
    "read_signature",
]
