"""The operational endpoints `wasmhive up` wraps around a served app (health now; metrics beside it).

Kept out of the HTTP trigger itself: these answer for the process (is it ready, is it draining), not for
the app, and an app mounted in another ASGI server brings that server's own.
"""

from __future__ import annotations

from typing import Any

from ._drain import DrainState
from ._health import Health

__all__ = ["wrap"]


def wrap(app: Any, cfg: Any) -> Any:
    """`app` with the readiness/liveness paths and the SIGTERM drain of `cfg` (an `UpConfig`)."""
    return Health(app, DrainState(delay=getattr(cfg, "drain_delay", 0.0)))
