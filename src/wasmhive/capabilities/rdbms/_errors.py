"""The error every rdbms host call may end with, named after the WIT's `error` cases."""

from __future__ import annotations

__all__ = ["CASES", "MAX_RESULT_BYTES", "Cancelled", "RdbmsError"]

# The most result data (the values' bytes, 8 per number) one `query` may hand a guest: a bigger result
# would only exhaust the host's memory before the guest's (whose own limit is far lower by default).
MAX_RESULT_BYTES = 64 << 20

CASES = ("connection-failed", "bad-parameter", "query-failed", "value-conversion-failed", "other")


class RdbmsError(Exception):
    """A failure the guest sees as `error.<case>(message)`.

    `fields` carries PostgreSQL's structured error (severity, code, detail, ...) for `spin:postgres@4.0.0`,
    whose `query-failed` case has a `db-error` record; the older interfaces get only the message.
    """

    def __init__(self, case: str, message: str, fields: dict[str, str] | None = None) -> None:
        assert case in CASES, case
        super().__init__(message)
        self.case = case
        self.message = message
        self.fields = fields


class Cancelled(Exception):
    """The watchdog ended a statement at the request deadline (the guest is ended like an interrupt)."""
