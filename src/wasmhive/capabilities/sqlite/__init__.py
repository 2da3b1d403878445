"""SQLite databases for guests: Spin's `sqlite` interfaces (2.0.0 and 3.0.0) over local SQLite files."""

from ._config import SqliteApp, open_databases
from ._database import Database, QueryResult, SqlConnection, SqliteError, StatementTimeout
from ._host import INTERFACES, SqliteFactor, SqliteInstance

__all__ = [
    "INTERFACES",
    "Database",
    "QueryResult",
    "SqlConnection",
    "SqliteApp",
    "SqliteError",
    "SqliteFactor",
    "SqliteInstance",
    "StatementTimeout",
    "open_databases",
]
