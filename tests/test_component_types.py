"""Every WIT type both ways through a real component (componentize-py guest echoing each type),
and the errors a caller sees for bad arguments."""

from __future__ import annotations

import math
from typing import Any

import pytest

from wasmhive.component import Record, ResultError, Some, Variant

pytest_plugins = ["components.fixtures"]

ROUND_TRIPS: list[tuple[str, Any, Any]] = [
    ("echo_bool", True, True),
    ("echo_bool", False, False),
    ("echo_s8", -128, -128),
    ("echo_s8", 127, 127),
    ("echo_u8", 255, 255),
    ("echo_s16", -32768, -32768),
    ("echo_u16", 65535, 65535),
    ("echo_s32", -(2**31), -(2**31)),
    ("echo_u32", 2**32 - 1, 2**32 - 1),
    ("echo_s64", -(2**63), -(2**63)),
    ("echo_u64", 2**64 - 1, 2**64 - 1),
    ("echo_f32", 1.5, 1.5),
    ("echo_f32", 3, 3.0),  # an int is accepted for a float
    ("echo_f64", 0.1, 0.1),
    ("echo_f64", -1e300, -1e300),
    ("echo_char", "é", "é"),
    ("echo_char", "🦀", "🦀"),
    ("echo_string", "", ""),
    ("echo_string", "héllo wörld 🦀", "héllo wörld 🦀"),
    ("echo_bytes", b"", b""),
    ("echo_bytes", bytes(range(256)), bytes(range(256))),
    ("echo_bytes", bytearray(b"abc"), b"abc"),
    ("echo_bytes", [1, 2, 3], b"\x01\x02\x03"),
    ("echo_list", [], []),
    ("echo_list", [0, 1, 2**32 - 1], [0, 1, 2**32 - 1]),
    ("echo_list", (5, 6), [5, 6]),
    ("echo_strings", ["a", "", "ü"], ["a", "", "ü"]),
    ("echo_tuple", (1, "a", True), (1, "a", True)),
    ("echo_tuple", [2, "b", False], (2, "b", False)),
    ("echo_color", "green", "green"),
    ("echo_perms", set(), set()),
    ("echo_perms", {"read", "exec"}, {"read", "exec"}),
    ("echo_perms", ["write"], {"write"}),
    ("echo_perms", {"read": True, "write": False}, {"read"}),
    ("echo_option", None, None),
    ("echo_option", "x", "x"),
    ("echo_option", "", ""),
    ("echo_nested", None, None),
    ("echo_nested", Some(None), Some(None)),
    ("echo_nested", Some(Some(3)), Some(3)),
    ("echo_nested", Some(4), Some(4)),
    ("echo_shape", Variant("circle", 2.5), Variant("circle", 2.5)),
    ("echo_shape", Variant("empty"), Variant("empty")),
    ("echo_shape", "empty", Variant("empty")),
    ("echo_shape", {"tag": "circle", "value": 1.0}, Variant("circle", 1.0)),
    ("echo_shape", {"circle": 1.0}, Variant("circle", 1.0)),
    ("echo_shape", ("circle", 1.0), Variant("circle", 1.0)),
]


@pytest.mark.parametrize(("func", "value", "expected"), ROUND_TRIPS,
                         ids=[f"{f}-{i}" for i, (f, _, _) in enumerate(ROUND_TRIPS)])
def test_round_trip(echo: Any, func: str, value: Any, expected: Any) -> None:
    out = getattr(echo, func)(value)
    assert out == expected
    assert type(out) is type(expected)


def test_f32_rounds_and_keeps_specials(echo: Any) -> None:
    assert echo.echo_f32(0.1) == pytest.approx(0.1, rel=1e-7)
    assert math.isinf(echo.echo_f64(float("inf")))
    assert math.isnan(echo.echo_f64(float("nan")))


def test_records_from_dicts_objects_and_classes(echo: Any, kitchen: Any) -> None:
    p = echo.echo_point({"x": 1, "y": -2})
    assert isinstance(p, Record)
    assert (p.x, p.y) == (1, -2)
    assert p == {"x": 1, "y": -2}
    assert repr(p) == "Point(x=1, y=-2)"
    assert echo.echo_point(p) == p  # a record that came out goes back in

    class Plain:
        x = 5
        y = 6
    assert echo.echo_point(Plain()) == {"x": 5, "y": 6}

    Point = kitchen.record("point")
    assert echo.echo_point(Point(7, y=8))._asdict() == {"x": 7, "y": 8}

    person = echo.echo_person({"name": "Ada", "age": 36, "tags": ["math", "poetry"]})
    assert (person.name, person.age, person.tags) == ("Ada", 36, ["math", "poetry"])
    assert echo.echo_points([{"x": 1, "y": 2}, Point(3, 4)]) == [{"x": 1, "y": 2}, {"x": 3, "y": 4}]
    assert echo.echo_shape(Variant("rect", {"x": 1, "y": 2})) == Variant("rect", Point(1, 2))


def test_results_return_ok_and_raise_err(echo: Any) -> None:
    assert echo.divide(1, 4) == 0.25
    with pytest.raises(ResultError) as e:
        echo.divide(1, 0)
    assert e.value.value == "division by zero"
    assert "divide" in str(e.value)
    assert echo.check(True) is None
    with pytest.raises(ResultError) as e2:
        echo.check(False)
    assert e2.value.value == "denied"  # an enum payload
    assert echo.parse("3,4") == {"x": 3, "y": 4}
    with pytest.raises(ResultError) as e3:
        echo.parse("abc")
    assert e3.value.value == Variant("circle", 3.0)  # a variant payload


def test_calls_by_keyword_and_mixed(echo: Any) -> None:
    assert echo.many(1, "b", [2, 3], None) == "1|b|[2, 3]|None"
    assert echo.many(d={"x": 1, "y": 2}, c=[], b="z", a=9) == "9|z|[]|(1, 2)"
    assert echo.many(4, "q", d=None, c=[1]) == "4|q|[1]|None"
    assert echo.nothing() is None


def test_namespaces(kitchen: Any) -> None:
    ex = kitchen.exports
    assert ex.echo.echo_u8 is not None
    assert ex.test_kitchen_echo.echo_u8(3) == 3
    assert ex["test:kitchen/echo"].echo_u8(4) == 4
    assert ex["test:kitchen/echo"]["echo-u8"](5) == 5
    assert "test:kitchen/echo" in list(ex)
    assert "echo_u8" in dir(ex.echo)
    with pytest.raises(AttributeError, match="no export named 'nope'"):
        _ = ex.echo.nope
    assert "u8" in (ex.echo.echo_u8.__doc__ or "")


BAD_TYPES = [
    ("echo_u8", "1", "argument 'x' (u8): expects u8, got str"),
    ("echo_u8", 1.0, "expects u8, got float"),
    ("echo_u8", True, "expects u8, got bool"),
    ("echo_bool", 1, "expects bool, got int"),
    ("echo_f64", "1.0", "expects f64"),
    ("echo_char", "ab", "one-character"),
    ("echo_string", b"x", "expects string, got bytes"),
    ("echo_bytes", "abc", "expects list<u8> (bytes)"),
    ("echo_list", [1, "2"], "argument 'x' (list<u32>) at [1]: expects u32, got str"),
    ("echo_list", 5, "expects list<u32> (a list)"),
    ("echo_point", {"x": 1}, "missing field 'y'"),
    ("echo_point", {"x": 1, "y": "2"}, "argument 'p' (point) at .y: expects s32, got str"),
    ("echo_point", {"x": 1, "y": 2, "z": 3}, "has no field 'z'"),
    ("echo_person", {"name": "a", "age": 1, "tags": [1]}, "at .tags[0]: expects string, got int"),
    ("echo_tuple", (1, "a"), "expects a tuple of 3 values, got 2"),
    ("echo_tuple", (1, 2, True), "at [1]: expects string, got int"),
    ("echo_color", 3, "expects color"),
    ("echo_perms", "read", "as a set of names"),
    ("echo_shape", 1.5, "expects shape"),
    ("echo_shape", Variant("rect", {"x": "a", "y": 1}), "at <rect>.x: expects s32"),
    ("echo_option", 5, "expects string, got int"),
]


@pytest.mark.parametrize(("func", "value", "message"), BAD_TYPES, ids=[f"{f}-{i}" for i, (f, _, _) in enumerate(BAD_TYPES)])
def test_bad_argument_types_are_type_errors(echo: Any, func: str, value: Any, message: str) -> None:
    with pytest.raises(TypeError) as e:
        getattr(echo, func)(value)
    assert message in str(e.value)
    assert str(e.value).startswith("test:kitchen/echo.")


BAD_VALUES = [
    ("echo_u8", 256, "256 is out of range for u8 (0..255)"),
    ("echo_s8", -129, "out of range for s8"),
    ("echo_u32", -1, "out of range for u32"),
    ("echo_u64", 2**64, "out of range for u64"),
    ("echo_list", [1, -1], "at [1]: -1 is out of range for u32"),
    ("echo_color", "purple", "'purple' is not a case of color (one of red, green, blue)"),
    ("echo_perms", {"read", "fly"}, "'fly' is not a flag of perms"),
    ("echo_shape", Variant("triangle"), "'triangle' is not a case of shape"),
    ("echo_string", "\ud800", "surrogate"),
]


@pytest.mark.parametrize(("func", "value", "message"), BAD_VALUES, ids=[f"{f}-{i}" for i, (f, _, _) in enumerate(BAD_VALUES)])
def test_out_of_range_values_are_value_errors(echo: Any, func: str, value: Any, message: str) -> None:
    with pytest.raises(ValueError) as e:
        getattr(echo, func)(value)
    assert message in str(e.value)


def test_arity_and_keyword_errors(echo: Any) -> None:
    with pytest.raises(TypeError, match=r"takes 1 argument \(x\) but 2 were given"):
        echo.echo_u8(1, 2)
    with pytest.raises(TypeError, match=r"missing 1 required argument: 'x: u8'"):
        echo.echo_u8()
    with pytest.raises(TypeError, match="unexpected keyword argument 'y'"):
        echo.echo_u8(y=1)
    with pytest.raises(TypeError, match="multiple values for argument 'x'"):
        echo.echo_u8(1, x=2)
    with pytest.raises(TypeError, match=r"missing 2 required arguments: 'c: list<u16>', 'd: option<point>'"):
        echo.many(1, "b")


def test_a_bad_argument_leaves_the_instance_usable(echo: Any) -> None:
    with pytest.raises(TypeError):
        echo.many(1, "b", [1, 2], {"x": "bad", "y": 1})
    assert echo.many(1, "b", [1, 2], {"x": 1, "y": 1}) == "1|b|[1, 2]|(1, 1)"
    for _ in range(3):
        assert echo.echo_strings(["a", "b"]) == ["a", "b"]
