"""Outbound relational databases for guests: Spin's PostgreSQL (psycopg) and MySQL (PyMySQL) interfaces."""

from ._errors import RdbmsError
from ._host import INTERFACES, RdbmsApp, RdbmsFactor, RdbmsInstance
from ._watchdog import Watchdog

__all__ = ["INTERFACES", "RdbmsApp", "RdbmsError", "RdbmsFactor", "RdbmsInstance", "Watchdog"]
