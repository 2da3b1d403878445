"""A Spin Redis-trigger component written with spin-sdk 3.4.1 (world `spin-redis`), as for `spin up`.

Each message is counted and stored in Redis (outbound Redis, at the `redis_url` variable):
`trigger:count` and `trigger:msg:<n>`. `trap` traps, `spin` loops until the deadline, `hog` allocates
beyond the memory limit, `err` answers the interface's error.
"""

from spin_sdk import redis, variables
from spin_sdk.wit import exports
from spin_sdk.wit.imports.redis_types import Error
from spin_sdk.wit.types import Err


class InboundRedis(exports.InboundRedis):
    def handle_message(self, message: bytes) -> None:
        if message == b"trap":
            raise RuntimeError("asked to trap")
        if message == b"err":
            raise Err(Error.ERROR)
        if message == b"hog":
            hog = bytearray(1 << 30)
            hog[-1] = 1
        if message == b"spin":
            while True:
                pass
        with redis.open(variables.get("redis_url")) as c:
            n = c.incr("trigger:count")
            c.set(f"trigger:msg:{n}", message)
