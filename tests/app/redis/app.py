"""A Spin app using outbound Redis through spin-sdk 3.4.1 (`from spin_sdk import redis`), as for `spin up`.

GET /ops?addr=A&p=P   every operation of `connection` on keys prefixed P; one line per result
GET /wrongtype?addr=A&key=K   incr/get on a key holding a set (the WIT's type-error)
GET /open?addr=A      open and PING; any error -> 503 "<error class>: <detail>"
GET /many?addr=A&n=N  open N connections at once
GET /blpop?addr=A&key=K   a command that blocks until the request's deadline
GET /bench?addr=A&n=N N set+get pairs on one connection (benchmarks/app.py)
"""

from urllib.parse import parse_qs, urlsplit

from spin_sdk import redis
from spin_sdk.http import IncomingHandler as Base
from spin_sdk.http import Request, Response
from spin_sdk.wit.imports.redis import RedisParameter_Binary, RedisParameter_Int64
from spin_sdk.wit.types import Err


def ops(addr: str, p: str) -> list[str]:
    out = []
    with redis.open(addr) as c:
        c.set(p + "k", b"v\x00\xff")
        out.append(f"get {c.get(p + 'k')!r}")
        out.append(f"get-missing {c.get(p + 'missing')!r}")
        out.append(f"incr {c.incr(p + 'n')} {c.incr(p + 'n')}")
        out.append(f"sadd {c.sadd(p + 's', ['a', 'b', 'c'])}")
        out.append(f"srem {c.srem(p + 's', ['b', 'zz'])}")
        out.append(f"smembers {sorted(c.smembers(p + 's'))}")
        c.publish(p + "chan", b"hello \x01")
        out.append(f"execute-set {c.execute('SET', [RedisParameter_Binary(p.encode() + b'e'), RedisParameter_Binary(b'x')])}")
        out.append(f"execute-incrby {c.execute('INCRBY', [RedisParameter_Binary(p.encode() + b'n'), RedisParameter_Int64(40)])}")
        out.append(f"execute-mget {c.execute('MGET', [RedisParameter_Binary(p.encode() + b'e'), RedisParameter_Binary(p.encode() + b'nope')])}")
        out.append(f"del {c.del_([p + 'k', p + 'e', p + 'absent'])}")
    return out


def wrongtype(addr: str, key: str) -> list[str]:
    out = []
    with redis.open(addr) as c:
        out.append(f"sadd {c.sadd(key, ['x'])}")
        for name, call in (("incr", lambda: c.incr(key)), ("get", lambda: c.get(key))):
            try:
                out.append(f"{name} {call()!r}")
            except Err as e:
                out.append(f"{name} {type(e.value).__name__}")
    return out


def open_(addr: str) -> list[str]:
    with redis.open(addr) as c:
        return [f"opened {c.execute('PING', [])}"]


def many(addr: str, n: int) -> list[str]:
    conns = [redis.open(addr) for _ in range(n)]
    return [f"opened {len(conns)}"]


def blpop(addr: str, key: str) -> list[str]:
    with redis.open(addr) as c:
        return [f"blpop {c.execute('BLPOP', [RedisParameter_Binary(key.encode()), RedisParameter_Int64(0)])}"]


def bench(addr: str, n: int) -> list[str]:
    with redis.open(addr) as c:
        for i in range(n):
            key = f"bench:{i % 100}"
            c.set(key, b"v")
            c.get(key)
    return [f"ops {2 * n}"]


class IncomingHandler(Base):
    def handle_request(self, request: Request) -> Response:
        url = urlsplit(request.uri)
        q = {k: v[0] for k, v in parse_qs(url.query).items()}
        try:
            if url.path.endswith("/ops"):
                lines = ops(q["addr"], q["p"])
            elif url.path.endswith("/wrongtype"):
                lines = wrongtype(q["addr"], q["key"])
            elif url.path.endswith("/many"):
                lines = many(q["addr"], int(q["n"]))
            elif url.path.endswith("/bench"):
                lines = bench(q["addr"], int(q["n"]))
            elif url.path.endswith("/blpop"):
                lines = blpop(q["addr"], q["key"])
            else:
                lines = open_(q["addr"])
        except Err as e:
            detail = getattr(e.value, "value", "")
            return Response(503, {"content-type": "text/plain"}, f"{type(e.value).__name__}: {detail}".encode())
        return Response(200, {"content-type": "text/plain"}, "\n".join(lines).encode())
