"""Candid: binary encoding against known bytes, text parsing and printing, .did parsing, principals."""

from __future__ import annotations

import pytest

from wasmhive.contracts import (
    CandidError,
    Principal,
    decode,
    encode,
    format_args,
    idl_hash,
    parse_args,
    parse_did,
)
from wasmhive.contracts._principal import Identity, self_authenticating


def test_known_encodings() -> None:
    # Reference bytes from the Candid specification's examples.
    assert encode([], []) == b"DIDL\x00\x00"
    assert encode(["nat"], [1]) == b"DIDL\x00\x01\x7d\x01"
    assert encode(["int"], [-1]) == b"DIDL\x00\x01\x7c\x7f"
    assert encode(["text"], ["Hi"]) == b"DIDL\x00\x01\x71\x02Hi"
    assert encode(["nat64"], [5]) == b"DIDL\x00\x01\x78" + (5).to_bytes(8, "little")
    assert encode([("opt", "nat")], [None]) == b"DIDL\x01\x6e\x7d\x01\x00\x00"
    assert idl_hash("ok") == 24860 and idl_hash("err") == 5048165


def test_roundtrip_composites() -> None:
    rec = ("record", ((idl_hash("a"), "a", "nat"), (idl_hash("b"), "b", ("vec", "text"))))
    var = ("variant", ((idl_hash("ok"), "ok", "nat64"), (idl_hash("err"), "err", "text")))
    p = Principal.from_text("aaaaa-aa")
    data = encode([rec, var, "principal", "blob", ("opt", "bool")],
                  [{"a": 7, "b": ["x", "y"]}, {"err": "no"}, p, b"\x00\xff", True])
    types, values = decode(data, {idl_hash("a"): "a", idl_hash("b"): "b", idl_hash("ok"): "ok", idl_hash("err"): "err"})
    assert values == [{"a": 7, "b": ["x", "y"]}, {"err": "no"}, p, b"\x00\xff", True]
    assert format_args(values, types) == ('(record { a = 7 : nat; b = vec { "x"; "y"; }; }, variant { err = "no" }, '
                                          'principal "aaaaa-aa", blob "\\00\\ff", opt true)')


def test_text_args_like_dfx() -> None:
    values, types = parse_args('(principal "aaaaa-aa", 100 : nat64, "a\\"b", record { x = 1; y = opt null }, '
                               'vec { 1; 2 }, variant { none })')
    assert values == [Principal(b""), 100, 'a"b', {"x": 1, "y": None}, [1, 2], {"none": None}]
    assert types[1] == "nat64"
    assert parse_args("()") == ([], [])
    assert parse_args("(1_000_000)")[0] == [1_000_000]


def test_bad_inputs_are_clear_errors() -> None:
    with pytest.raises(CandidError, match="expected nat"):
        encode(["nat"], [-1])
    with pytest.raises(CandidError, match="does not fit"):
        encode(["nat8"], [300])
    with pytest.raises(CandidError, match="DIDL"):
        decode(b"nope")
    with pytest.raises(CandidError, match="truncated"):
        decode(b"DIDL\x00\x01\x71\x05ab")
    with pytest.raises(CandidError):
        parse_args("(1, ")


def test_parse_did() -> None:
    svc = parse_did("""
        type Account = record { owner : principal; sub : opt blob };
        type Result = variant { ok : nat64; err : text };
        service : (nat) -> {
          transfer : (to : Account, amount : nat64) -> (Result);
          balance : (Account) -> (nat64) query;
          "quoted name" : () -> () oneway;
        }
    """)
    assert svc.init == ["nat"]
    assert svc.methods["balance"].is_query and not svc.methods["transfer"].is_query
    assert svc.methods["transfer"].args == [("ref", "Account"), "nat64"]
    data = encode(svc.methods["transfer"].args, [{"owner": Principal(b""), "sub": None}, 5], svc.env)
    assert decode(data)[1][1] == 5


def test_principals() -> None:
    assert Principal(b"").text == "aaaaa-aa"
    assert Principal(b"\x04").text == "2vxsx-fae"
    p = Principal.from_text("rwlgt-iiaaa-aaaaa-aaaaa-cai")
    assert p.raw == bytes(8) + b"\x01\x01"
    with pytest.raises(Exception, match="principal"):
        Principal.from_text("rwlgt-iiaaa-aaaaa-aaaaa-caj")
    ident = Identity("x")
    assert ident.principal == self_authenticating(ident.public_key_der)
    assert ident.principal.raw[-1] == 2 and len(ident.principal.raw) == 29
    assert Identity.from_pem("x", ident.to_pem()).principal == ident.principal
