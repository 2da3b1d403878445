"""Shared pieces of the fuzzers: the outcome every parser must keep, hypothesis strategies for TOML
documents, and byte-level mutation of real inputs."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, TypeVar

from hypothesis import strategies as st

from wasmhive.errors import WasmhiveError

T = TypeVar("T")


def survives(parse: Callable[[], T], *allowed: type[BaseException]) -> T | BaseException:
    """Run `parse`; a result or a wasmhive error (or one of `allowed`) is fine, anything else fails the
    example (hypothesis shrinks it and prints the input)."""
    try:
        return parse()
    except (WasmhiveError, *allowed) as e:
        assert str(e), f"{type(e).__name__} without a message"
        return e


# -- TOML ------------------------------------------------------------------------------------------
_BARE = re.compile(r"^[A-Za-z0-9_-]+$")


def _str(text: str) -> str:
    # A JSON string is a TOML basic string, except that TOML also wants DEL escaped.
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _key(k: str) -> str:
    return k if _BARE.match(k) else _str(k)


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v) if v == v and v not in (float("inf"), float("-inf")) else "nan"
    if isinstance(v, str):
        return _str(v)
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    return "{ " + ", ".join(f"{_key(k)} = {_value(x)}" for k, x in v.items()) + " }"


def to_toml(doc: dict[str, Any]) -> str:
    """TOML text for `doc`: scalars and arrays first, then one `[table]` per nested dict (recursively)."""
    lines: list[str] = []

    def emit(table: dict[str, Any], path: list[str]) -> None:
        subs = {k: v for k, v in table.items() if isinstance(v, dict)}
        if path:
            lines.append("[" + ".".join(_key(p) for p in path) + "]")
        lines.extend(f"{_key(k)} = {_value(v)}" for k, v in table.items() if k not in subs)
        for k, v in subs.items():
            emit(v, [*path, k])

    emit(doc, [])
    return "\n".join(lines) + "\n"


# Keys a manifest or runtime config knows, so random documents reach the validators, not just the
# "unknown field" warning.
MANIFEST_KEYS = ["spin_manifest_version", "wasmhive_manifest_version", "application", "name", "version",
                 "trigger", "http", "base", "component", "source", "files", "destination", "exclude_files",
                 "allowed_outbound_hosts", "key_value_stores", "variables", "environment", "build", "command",
                 "workdir", "watch", "limits", "memory", "timeout", "route", "executor", "type", "argv",
                 "static_response", "status_code", "headers", "body", "private", "required", "default",
                 "secret", "id", "key_value_store", "path", "url", "outbound_http", "allow_private_addresses"]
_text = st.text(max_size=20)
_keys = st.sampled_from(MANIFEST_KEYS) | _text
_scalars = (st.booleans() | st.integers(min_value=-(2**63), max_value=2**63 - 1)
            | st.floats(allow_nan=False, allow_infinity=False) | _text
            | st.sampled_from(["/", "/...", "/a/:x", "a.wasm", "../x", "/../../etc", "static/*", "http://self",
                               "https://*.example.com:443", "{{ v }}", "64MiB", "5s", "wagi", "spin", "redis"]))
values = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(_keys, inner, max_size=4), max_leaves=25)
documents = st.dictionaries(_keys, values, max_size=6)


# -- mutation --------------------------------------------------------------------------------------
@st.composite
def mutated(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    """A real input with a few bytes flipped, inserted, deleted or the tail cut off."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "splice"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "flip" and data:
            data[at] = draw(st.integers(0, 255))
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete" and data:
            del data[at:at + draw(st.integers(1, 8))]
        elif op == "truncate":
            del data[at:]
        elif op == "splice" and data:
            other = draw(st.sampled_from(seeds))
            start = draw(st.integers(0, max(len(other) - 1, 0)))
            data[at:at] = other[start:start + draw(st.integers(1, 64))]
    return bytes(data)


@st.composite
def mutated_documents(draw: st.DrawFn, seeds: list[dict[str, Any]]) -> dict[str, Any]:
    """A real (parsed) document with a few values replaced, keys deleted or added, deep in its tree:
    mutations that keep the TOML valid, so the validators behind the parser are what gets fuzzed."""
    import copy

    doc = copy.deepcopy(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 4))):
        node: Any = doc
        while True:  # walk down to a random table or array
            children = list(node.items()) if isinstance(node, dict) else list(enumerate(node))
            nested = [(k, v) for k, v in children if isinstance(v, (dict, list)) and v]
            if not nested or draw(st.booleans()):
                break
            node = draw(st.sampled_from(nested))[1]
        op = draw(st.sampled_from(["replace", "delete", "add"]))
        if isinstance(node, dict):
            if op == "add" or not node:
                node[draw(_keys)] = draw(values)
            elif op == "delete":
                del node[draw(st.sampled_from(sorted(node)))]
            else:
                node[draw(st.sampled_from(sorted(node)))] = draw(values)
        elif isinstance(node, list):
            if op == "add" or not node:
                node.append(draw(values))
            elif op == "delete":
                del node[draw(st.integers(0, len(node) - 1))]
            else:
                node[draw(st.integers(0, len(node) - 1))] = draw(values)
    return doc
