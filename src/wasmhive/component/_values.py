"""Python shapes of component values that have no natural builtin: records, variants, nested options, errors."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

from ..errors import WasmhiveError

__all__ = [
    "Err",
    "Ok",
    "Record",
    "ResultError",
    "Some",
    "Variant",
    "describe",
    "field_values",
    "record_class",
    "variant_parts",
]


class Record:
    """Base of the record classes made per WIT record type (`point` → class `Point` with `x`, `y`).

    Dataclass-like: positional or keyword construction, `==` by fields (also against a dict with the
    same keys), a readable repr, `_asdict()`.
    """

    __slots__ = ()
    _fields: ClassVar[tuple[str, ...]] = ()
    _wit_name: ClassVar[str | None] = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if len(args) > len(self._fields):
            raise TypeError(f"{type(self).__name__} takes {len(self._fields)} fields, got {len(args)}")
        values = dict(zip(self._fields, args, strict=False))
        for k, v in kwargs.items():
            if k not in self._fields and k.replace("_", "-") not in self._fields:
                raise TypeError(f"{type(self).__name__} has no field {k!r} (fields: {', '.join(self._fields)})")
            values[k if k in self._fields else k.replace("_", "-")] = v
        missing = [f for f in self._fields if f not in values]
        if missing:
            raise TypeError(f"{type(self).__name__} is missing field(s): {', '.join(missing)}")
        for f in self._fields:
            object.__setattr__(self, _attr(f), values[f])

    def _asdict(self) -> dict[str, Any]:
        """The fields as a dict keyed by WIT field name."""
        return {f: getattr(self, _attr(f)) for f in self._fields}

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Record):
            return self._fields == other._fields and self._asdict() == other._asdict()
        if isinstance(other, dict):
            return self._asdict() == other
        return NotImplemented

    def __hash__(self) -> int:
        return hash(tuple(_freeze(v) for v in self._asdict().values()))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(" + ", ".join(f"{_attr(f)}={getattr(self, _attr(f))!r}"
                                                     for f in self._fields) + ")"


def _freeze(v: Any) -> Any:
    return tuple(v) if isinstance(v, list) else v


def _attr(field: str) -> str:
    return field.replace("-", "_")


def class_name(wit: str | None) -> str:
    """`error-code` → `ErrorCode`."""
    if not wit:
        return "Record"
    return "".join(part[:1].upper() + part[1:] for part in wit.replace("_", "-").split("-") if part)


def record_class(fields: tuple[str, ...], wit: str | None) -> type[Record]:
    """A new `Record` subclass with slots for `fields` (WIT names; `-` becomes `_` in attributes)."""
    ns: dict[str, Any] = {"__slots__": tuple(_attr(f) for f in fields), "_fields": fields, "_wit_name": wit,
                          "__doc__": f"WIT record {wit or ''}".strip() + f" with fields {', '.join(fields)}."}
    return type(class_name(wit), (Record,), ns)


class Variant:
    """A variant value: `tag` (the case name) and `value` (its payload, or None)."""

    __slots__ = ("tag", "value")

    def __init__(self, tag: str, value: Any = None) -> None:
        self.tag = tag
        self.value = value

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Variant):
            return self.tag == other.tag and self.value == other.value
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.tag, _freeze(self.value)))

    def __repr__(self) -> str:
        return f"Variant({self.tag!r})" if self.value is None else f"Variant({self.tag!r}, {self.value!r})"


class Some:
    """`some(x)` of an `option<option<T>>`, where `None` alone would be ambiguous."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Some) and self.value == other.value

    def __hash__(self) -> int:
        return hash(("some", _freeze(self.value)))

    def __repr__(self) -> str:
        return f"Some({self.value!r})"


class Ok:
    """The `ok` case of a `result` nested inside another value (top-level results are unwrapped)."""

    __slots__ = ("value",)

    def __init__(self, value: Any = None) -> None:
        self.value = value

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and bool(self.value == other.value)

    def __hash__(self) -> int:
        return hash((type(self).__name__, _freeze(self.value)))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.value!r})"


class Err(Ok):
    """The `err` case of a `result` nested inside another value, or passed as an argument."""

    __slots__ = ()


class ResultError(WasmhiveError):
    """A component function returned the `err` case of its `result`: `value` is the error payload.

    Host functions raise it (or a subclass) to return `err(value)` to the guest.
    """

    exit_code = 1

    def __init__(self, value: Any = None, *, function: str | None = None) -> None:
        self.value = value
        self.function = function
        where = f"{function} returned " if function else ""
        super().__init__(f"{where}err({value!r})" if value is not None else f"{where}err")


# -- reading the accepted shapes (shared by every lowering: `_lower`, and `canon`'s over guest memory) --

_ABSENT = object()


def describe(v: Any) -> str:
    """A value's class and (shortened) repr, for error messages."""
    text = repr(v)
    return f"{type(v).__name__} {text if len(text) < 40 else text[:37] + '...'}"


def field_values(fields: Sequence[tuple[str, str]], what: str) -> Callable[[Any], list[Any]]:
    """`values(v)`: the field values of a record value, in order. `v` is a `Record` (or any object with
    the fields as attributes) or a dict keyed by WIT field name or its `_` spelling; `fields` are (WIT
    name, attribute) pairs, `what` names the record type in errors: a dict key that is no field or a
    missing field is a `TypeError`."""
    keys = {n for n, _ in fields} | {a for _, a in fields}
    listed = ", ".join(n for n, _ in fields)

    def values(v: Any) -> list[Any]:
        if isinstance(v, Mapping):
            for k in v:
                if k not in keys:
                    raise TypeError(f"{what} has no field {k!r} (fields: {listed})")
            out = [v.get(n, v.get(a, _ABSENT)) for n, a in fields]
        else:
            out = [getattr(v, a, _ABSENT) for _, a in fields]
        for (n, _), x in zip(fields, out, strict=True):
            if x is _ABSENT:
                raise TypeError(f"expected {what}: missing field {n!r} in {describe(v)}")
        return out
    return values


def variant_parts(v: Any) -> tuple[str, Any] | None:
    """(tag, payload) of a variant value given as `Variant(tag, value)`, `{"tag": t, "value": x}`,
    `{t: x}` or `(t, x)`; None for anything else (a bare tag string is the caller's to check: only a
    case without payload may be given so)."""
    if isinstance(v, Variant):
        return v.tag, v.value
    if isinstance(v, Mapping):
        if "tag" in v:
            return v["tag"], v.get("value")
        if len(v) == 1:
            ((tag, payload),) = v.items()
            return tag, payload
    elif isinstance(v, tuple) and len(v) == 2 and isinstance(v[0], str):
        return v
    return None
