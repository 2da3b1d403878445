"""Test guest: echoes every WIT type, a `counter` resource, and calls its imports."""

import os

from componentize_py_types import Err
from echo import DROPPED, Counter
from wit_world import exports
from wit_world.exports import echo as t
from wit_world.imports import kv, ops, sink


class Echo(exports.Echo):
    def echo_bool(self, x: bool) -> bool: return x
    def echo_s8(self, x: int) -> int: return x
    def echo_u8(self, x: int) -> int: return x
    def echo_s16(self, x: int) -> int: return x
    def echo_u16(self, x: int) -> int: return x
    def echo_s32(self, x: int) -> int: return x
    def echo_u32(self, x: int) -> int: return x
    def echo_s64(self, x: int) -> int: return x
    def echo_u64(self, x: int) -> int: return x
    def echo_f32(self, x: float) -> float: return x
    def echo_f64(self, x: float) -> float: return x
    def echo_char(self, x: str) -> str: return x
    def echo_string(self, x: str) -> str: return x
    def echo_bytes(self, x: bytes) -> bytes: return x
    def echo_list(self, x: list[int]) -> list[int]: return x
    def echo_strings(self, x: list[str]) -> list[str]: return x
    def echo_point(self, p: t.Point) -> t.Point: return p
    def echo_person(self, p: t.Person) -> t.Person: return p
    def echo_tuple(self, x: tuple[int, str, bool]) -> tuple[int, str, bool]: return x
    def echo_shape(self, s: t.Shape) -> t.Shape: return s
    def echo_color(self, c: t.Color) -> t.Color: return c
    def echo_perms(self, p: t.Perms) -> t.Perms: return p
    def echo_option(self, x: str | None) -> str | None: return x
    def echo_nested(self, x): return x
    def echo_points(self, x: list[t.Point]) -> list[t.Point]: return x

    def divide(self, a: float, b: float) -> float:
        if b == 0:
            raise Err("division by zero")
        return a / b

    def check(self, ok: bool) -> None:
        if not ok:
            raise Err(t.ErrorCode.DENIED)

    def parse(self, s: str) -> t.Point:
        if "," not in s:
            raise Err(t.Shape_Circle(float(len(s))))
        x, y = s.split(",")
        return t.Point(int(x), int(y))

    def nothing(self) -> None:
        return None

    def many(self, a: int, b: str, c: list[int], d: t.Point | None) -> str:
        return f"{a}|{b}|{c}|{None if d is None else (d.x, d.y)}"

    def make_counter(self, start: int) -> Counter:
        return Counter(start)

    def read_counter(self, c: Counter) -> int:
        return c.get()

    def consume_counter(self, c: Counter) -> int:
        return c.get()

    def dropped(self) -> int:
        return DROPPED[0]

    def log_twice(self, msg: str) -> int:
        sink.log(sink.Level.INFO, msg)
        sink.log(sink.Level.WARN, msg + "!")
        return 2

    def host_lookup(self, key: str) -> str:
        return sink.lookup(key)

    def host_fail(self, msg: str) -> None:
        sink.fail(msg)

    def host_roundtrip(self, key: str, value: bytes) -> tuple[str, bytes]:
        e = sink.roundtrip(sink.Entry(key, value))
        return (e.key, e.value)

    def use_ops(self, name: str, values: list[int], a: int, b: int) -> str:
        s = ops.stats(values)
        try:
            q = str(ops.divide(a, b))
        except Err as e:
            q = f"err({e.value})"
        return f"{ops.greet(name)} count={s.count} min={s.min} max={s.max} mean={s.mean} q={q}"

    def use_kv(self, key: str, value: str) -> str:
        with kv.Bucket("made") as b:
            b.set(key, value)
            made = f"{b.get(key)}/{b.get('missing')}/{kv.describe(b)}"
        opened = kv.open("opened")
        opened.set("k", "v")
        out = f"{made}|{opened.get('k')}|{kv.describe(opened)}|count={kv.Bucket.count()}"
        opened.__exit__(None, None, None)
        return out

    def say(self, msg: str) -> None:
        print(msg, flush=True)

    def env_var(self, name: str) -> str | None:
        return os.environ.get(name)
