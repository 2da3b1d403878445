"""Reading component types from the binary: value types, function types, instance types, resources,
extern names and descriptors, into `_types` objects (each index space entry already resolved)."""

from __future__ import annotations

from typing import Any

import wasmhive.canon._types as T

from ..errors import InvalidModule
from ..runtime._wasmread import Reader

__all__ = ["SORTS", "TypeReader", "refuse"]

_PRIMS = {0x7F: "bool", 0x7E: "s8", 0x7D: "u8", 0x7C: "s16", 0x7B: "u16", 0x7A: "s32", 0x79: "u32",
          0x78: "s64", 0x77: "u64", 0x76: "f32", 0x75: "f64", 0x74: "char", 0x73: "string"}
SORTS = {0x01: "func", 0x02: "value", 0x03: "type", 0x04: "component", 0x05: "instance"}


def refuse(what: str, r: Reader, at: int) -> InvalidModule:
    """The one-line error for a component feature the canon prototype does not handle."""
    return r.error(f"not supported by the canon prototype: {what}", at)


class TypeReader:
    """Type-section decoding shared by the component parser and its nested shims."""

    def valtype(self, r: Reader, space: list[Any]) -> T.ValType:
        b = r.peek()
        if b in _PRIMS:
            r.byte()
            return T.Prim(_PRIMS[b])
        at = r.pos
        idx = r.s33()
        if not 0 <= idx < len(space) or not isinstance(space[idx], T.ValType):
            raise r.error(f"type index {idx} is not a value type", at)
        t: T.ValType = space[idx]
        return t

    def _opt(self, r: Reader, space: list[Any]) -> T.ValType | None:
        return self.valtype(r, space) if r.byte() == 0x01 else None

    def deftype(self, r: Reader, space: list[Any]) -> Any:
        at = r.pos
        form = r.byte()
        if form in _PRIMS:
            return T.Prim(_PRIMS[form])
        if form == 0x72:
            return T.Record([(r.name(), self.valtype(r, space)) for _ in range(r.count())])
        if form == 0x71:
            cases: list[tuple[str, T.ValType | None]] = []
            for _ in range(r.count()):
                name = r.name()
                cases.append((name, self._opt(r, space)))
                if r.byte() != 0x00:
                    raise refuse("variant case refinements", r, at)
            return T.Variant(cases)
        if form == 0x70:
            return T.List(self.valtype(r, space))
        if form == 0x6F:
            return T.Tuple([self.valtype(r, space) for _ in range(r.count())])
        if form == 0x6E:
            return T.Flags([r.name() for _ in range(r.count())])
        if form == 0x6D:
            return T.Enum([r.name() for _ in range(r.count())])
        if form == 0x6B:
            return T.Variant([("none", None), ("some", self.valtype(r, space))], "option")
        if form == 0x6A:
            ok = self._opt(r, space)
            return T.ResultT(ok, self._opt(r, space))
        if form in (0x69, 0x68):
            i = r.u32()
            res = space[i] if i < len(space) else None
            if not isinstance(res, T.Resource):
                raise r.error(f"own/borrow of type {i}, which is not a resource", at)
            return T.Own(res) if form == 0x69 else T.Borrow(res)
        if form == 0x40:
            params = [(r.name(), self.valtype(r, space)) for _ in range(r.count())]
            tag = r.byte()
            if tag == 0x00:
                return T.FuncType(params, self.valtype(r, space))
            if tag == 0x01 and r.byte() == 0x00:
                return T.FuncType(params, None)
            raise refuse("functions with named results", r, at)
        if form == 0x42:
            return self.instancetype(r, space)
        if form == 0x3F:
            if r.byte() != 0x7F:
                raise r.error("resource representation must be i32", at)
            dtor = r.u32() if r.byte() == 0x01 else None
            return T.Resource(f"resource{len(space)}", imported=False, dtor=dtor)
        names = {0x41: "component types", 0x66: "stream", 0x65: "future", 0x64: "error-context",
                 0x67: "fixed-size lists", 0x3E: "async resources", 0x43: "async functions"}
        raise refuse(names.get(form, f"type form 0x{form:02x}"), r, at)

    def instancetype(self, r: Reader, outer: list[Any]) -> T.InstanceType:
        it = T.InstanceType()
        local: list[Any] = []
        fresh: list[T.Resource] = []
        for _ in range(r.count()):
            at = r.pos
            kind = r.byte()
            if kind == 0x00:
                raise refuse("core types inside instance types", r, at)
            if kind == 0x01:
                local.append(self.deftype(r, local))
            elif kind == 0x02:
                sort = r.byte()
                if sort != 0x03 or r.byte() != 0x02:
                    raise refuse("non-type aliases inside instance types", r, at)
                ct, idx = r.u32(), r.u32()
                if ct != 1 or idx >= len(outer):
                    raise refuse(f"outer alias {ct}/{idx}", r, at)
                local.append(outer[idx])
            elif kind == 0x04:
                name = self.externname(r)
                desc, ref = self.externdesc(r, local)
                if desc == "type":
                    if ref is None:
                        res = T.Resource(name)
                        fresh.append(res)
                        local.append(res)
                        it.exports[name] = res
                    else:
                        T.named(ref, name)
                        local.append(ref)
                        it.exports[name] = ref
                elif desc in ("func", "instance"):
                    it.exports[name] = ref
                else:
                    raise refuse(f"{desc} exports in instance types", r, at)
            else:
                raise r.error(f"unknown instance declaration 0x{kind:02x}", at)
        it.fresh = fresh  # type: ignore[attr-defined]
        return it

    def externname(self, r: Reader) -> str:
        at = r.pos
        tag = r.byte()
        if tag not in (0x00, 0x01):
            raise r.error(f"unknown extern name encoding 0x{tag:02x}", at)
        return r.name()

    def externdesc(self, r: Reader, space: list[Any]) -> tuple[str, Any]:
        at = r.pos
        kind = r.byte()
        if kind == 0x01 or kind == 0x05:
            i = r.u32()
            t = space[i] if i < len(space) else None
            want = T.FuncType if kind == 0x01 else T.InstanceType
            if not isinstance(t, want):
                raise r.error(f"type {i} is not a {want.__name__}", at)
            return ("func" if kind == 0x01 else "instance"), t
        if kind == 0x03:
            b = r.byte()
            if b == 0x00:
                i = r.u32()
                if i >= len(space):
                    raise r.error(f"type index {i} out of range", at)
                return "type", space[i]
            return "type", None
        raise refuse(f"extern kind {SORTS.get(kind, hex(kind))}", r, at)
