"""The shared key-value backend: Redis (`redis://host:port/db`), for several workers or machines.

Keys are stored as-is (Spin does the same), optionally under a `prefix` from the runtime config, so
several stores can share one Redis database.
"""

from __future__ import annotations

import re
from typing import Any

from ...errors import ConfigError
from ._backend import KeyValueError

__all__ = ["RedisStore"]


class RedisStore:
    """A key-value store backed by one Redis database. The client's pool makes it thread-safe."""

    def __init__(self, label: str, url: str, *, prefix: str = "") -> None:
        try:
            import redis
        except ImportError:
            raise ConfigError(f"key-value store {label!r} uses Redis: pip install 'wasmhive[redis]'") from None
        self.label = label
        self.url = url
        self.prefix = prefix
        self._redis = redis
        try:
            self.client: Any = redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=5)
        except ValueError as e:
            raise ConfigError(f"key-value store {label!r}: bad Redis URL {url!r}: {e}") from None

    def _k(self, key: str) -> str:
        return self.prefix + key

    def _call(self, method: str, *args: Any) -> Any:
        try:
            return getattr(self.client, method)(*args)
        except self._redis.RedisError as e:
            raise KeyValueError(f"redis key-value store {self.label!r}: {e}") from None

    def ping(self) -> None:
        """Fail now (at start-up) if the server cannot be reached."""
        try:
            self.client.ping()
        except self._redis.RedisError as e:
            raise ConfigError(f"key-value store {self.label!r}: cannot reach Redis at {self.url}: {e}") from None

    def get(self, key: str) -> bytes | None:
        v = self._call("get", self._k(key))
        return None if v is None else bytes(v)

    def set(self, key: str, value: bytes) -> None:
        self._call("set", self._k(key), bytes(value))

    def delete(self, key: str) -> None:
        self._call("delete", self._k(key))

    def exists(self, key: str) -> bool:
        return bool(self._call("exists", self._k(key)))

    def keys(self) -> list[str]:
        pattern = re.sub(r"([*?\[\]\\])", r"\\\1", self.prefix) + "*"
        try:
            found = [k.decode() for k in self.client.scan_iter(match=pattern, count=1000)]
        except self._redis.RedisError as e:
            raise KeyValueError(f"redis key-value store {self.label!r}: {e}") from None
        return sorted(k[len(self.prefix):] for k in found)

    def get_many(self, keys: list[str]) -> list[bytes | None]:
        if not keys:
            return []
        return [None if v is None else bytes(v) for v in self._call("mget", [self._k(k) for k in keys])]

    def set_many(self, items: list[tuple[str, bytes]]) -> None:
        if items:
            self._call("mset", {self._k(k): bytes(v) for k, v in items})

    def delete_many(self, keys: list[str]) -> None:
        if keys:
            self._call("delete", *[self._k(k) for k in keys])

    def increment(self, key: str, delta: int) -> int:
        return int(self._call("incrby", self._k(key), delta))

    def compare_and_swap(self, key: str, expected: bytes | None, value: bytes) -> bool:
        k = self._k(key)
        try:
            with self.client.pipeline() as pipe:
                pipe.watch(k)
                if pipe.get(k) != expected:
                    pipe.unwatch()
                    return False
                pipe.multi()
                pipe.set(k, bytes(value))
                pipe.execute()
                return True
        except self._redis.WatchError:
            return False
        except self._redis.RedisError as e:
            raise KeyValueError(f"redis key-value store {self.label!r}: {e}") from None

    def close(self) -> None:
        self.client.close()
