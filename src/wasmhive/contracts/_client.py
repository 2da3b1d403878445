"""Calling canisters with plain values: Candid text or JSON in, Candid text or JSON out."""

from __future__ import annotations

from typing import Any

from ._candid import CandidError, decode, encode, field_names
from ._candid_text import Method, format_args, from_json, parse_args, to_json
from ._canister import Canister

__all__ = ["decode_reply", "encode_args", "method_of"]


def method_of(c: Canister, method: str) -> Method | None:
    """The method's Candid signature from the canister's `candid:service` (None if unknown)."""
    if c.service is None:
        return None
    return c.service.methods.get(method)


def encode_args(c: Canister, method: str, text: str | None = None, json_args: list[Any] | None = None) -> bytes:
    """Encode arguments given in Candid text (`'(principal "aaaaa-aa", 100 : nat64)'`) or as JSON values."""
    sig = method_of(c, method)
    env = c.service.env if c.service is not None else {}
    if json_args is not None:
        if sig is None:
            raise CandidError(f"JSON arguments need the Candid interface of {c.name}, which has none for {method!r}")
        if len(json_args) != len(sig.args):
            raise CandidError(f"{method} takes {len(sig.args)} argument(s), got {len(json_args)}")
        return encode(sig.args, [from_json(t, v, env) for t, v in zip(sig.args, json_args, strict=True)], env)
    values, inferred = parse_args(text or "()")
    if sig is not None:
        if len(values) != len(sig.args):
            raise CandidError(f"{method} takes {len(sig.args)} argument(s) {tuple(sig.args)!r}, got {len(values)}")
        return encode(sig.args, values, env)
    if any(t is None for t in inferred):
        raise CandidError("cannot infer the argument types: annotate them (`5 : nat64`) or give a .did")
    return encode(inferred, values)


def decode_reply(c: Canister, method: str, data: bytes) -> tuple[list[Any], list[Any]]:
    """(values, types) of a reply; field names come from the canister's interface."""
    sig = method_of(c, method)
    env = c.service.env if c.service is not None else {}
    names = field_names(list(sig.rets) if sig else [], env)
    types, values = decode(data, names)
    return values, types


def reply_text(c: Canister, method: str, data: bytes) -> str:
    """A reply in Candid text, as `dfx` prints it."""
    values, types = decode_reply(c, method, data)
    return format_args(values, types)


def reply_json(c: Canister, method: str, data: bytes) -> list[Any]:
    values, _ = decode_reply(c, method, data)
    return [to_json(v) for v in values]
