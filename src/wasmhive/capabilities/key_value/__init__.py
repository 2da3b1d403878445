"""Key-value stores for guests: Spin's interfaces and `wasi:keyvalue`, SQLite and Redis backends."""

from ._backend import KeyValueBackend, KeyValueError
from ._config import KeyValueApp, open_stores
from ._host import INTERFACES, KeyValueFactor, KeyValueInstance
from ._redis import RedisStore
from ._sqlite import SqliteDatabase, SqliteStore

__all__ = [
    "INTERFACES",
    "KeyValueApp",
    "KeyValueBackend",
    "KeyValueError",
    "KeyValueFactor",
    "KeyValueInstance",
    "RedisStore",
    "SqliteDatabase",
    "SqliteStore",
    "open_stores",
]
