"""Where a server's logs go: guest output and the access log on the terminal, and per-component files.

Executors log each line a guest writes on the `wasmhive.guest` logger, with the record attributes
`component`, `stream` ("stdout"/"stderr") and `line` (the text alone); the HTTP app logs one line per
request on `wasmhive.http.access`; the autoscaler one line per change on `wasmhive.autoscale`. By default (as `spin up` does) both reach stderr, guest lines prefixed
with their component id; `quiet` keeps them off the terminal. `log_dir` appends each guest line to
`<log_dir>/<component>_<stream>.txt` (Spin's `--log-dir` layout), quiet or not. Errors (traps, deadlines)
are on other loggers and always shown.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from pathlib import Path
from typing import IO

from ..errors import ConfigError

__all__ = ["GUEST_LOGGER", "ComponentFiles", "configure_logs", "guest_line"]

GUEST_LOGGER = "wasmhive.guest"
SCALING_LOGGER = "wasmhive.autoscale"  # the supervisor's worker-count changes (`--workers-max`)
_SHOWN = (GUEST_LOGGER, "wasmhive.http.access", SCALING_LOGGER)
_MARK = "_wasmhive_serve_handler"  # handlers this module installed (replaced when configured again)

_guest_log = logging.getLogger(GUEST_LOGGER)


def guest_line(component: str, stream: str, line: str) -> None:
    """Log one line of guest output (what every executor calls)."""
    _guest_log.info("[%s %s] %s", component, stream, line, extra={"component": component, "stream": stream,
                                                                   "line": line})


class ComponentFiles(logging.Handler):
    """Appends each guest line to `<dir>/<component>_<stream>.txt` (opened on first use, line-buffered:
    several worker processes append to the same files a line at a time)."""

    def __init__(self, directory: str | Path) -> None:
        super().__init__(logging.INFO)
        self.dir = Path(directory)
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ConfigError(f"--log-dir {directory}: cannot create it ({e.strerror})") from None
        self._files: dict[tuple[str, str], IO[str]] = {}
        self._open_lock = threading.Lock()

    def _file(self, component: str, stream: str) -> IO[str]:
        key = (component, stream)
        with self._open_lock:
            f = self._files.get(key)
            if f is None:
                # Component ids are manifest ids or file stems: keep the name a plain file name.
                safe = re.sub(r"[^A-Za-z0-9_.-]", "_", component).lstrip(".") or "component"
                f = (self.dir / f"{safe}_{stream}.txt").open("a", encoding="utf-8", buffering=1)
                self._files[key] = f
            return f

    def emit(self, record: logging.LogRecord) -> None:
        component, stream = getattr(record, "component", None), getattr(record, "stream", None)
        if component is None or stream is None:
            return
        try:
            self._file(str(component), str(stream)).write(f"{getattr(record, 'line', record.getMessage())}\n")
        except OSError:
            self.handleError(record)

    def close(self) -> None:
        with self._open_lock:
            for f in self._files.values():
                f.close()
            self._files.clear()
        super().close()


def configure_logs(*, quiet: bool = False, log_dir: str | Path | None = None, json: bool = False) -> None:
    """Route guest output and access lines for a server process (see the module docstring). With `json`
    (`--log-format json`) the terminal lines go through the root logger's JSON handler instead."""
    console = None if quiet or json else logging.StreamHandler(sys.stderr)
    if console is not None:
        console.setFormatter(logging.Formatter("%(message)s"))
    files = ComponentFiles(log_dir) if log_dir is not None else None
    for name in _SHOWN:
        logger = logging.getLogger(name)
        for h in [h for h in logger.handlers if getattr(h, _MARK, False)]:
            logger.removeHandler(h)
            h.close()
        wanted = [h for h in (console, files if name == GUEST_LOGGER else None) if h is not None]
        for h in wanted:
            setattr(h, _MARK, True)
            logger.addHandler(h)
        shown_by_root = json and not quiet
        if wanted or shown_by_root:
            logger.setLevel(logging.INFO)
        else:
            logger.setLevel(logging.WARNING if quiet else logging.NOTSET)  # -q: errors only
        # Shown once: by our handlers, or (JSON) by the root's; never both.
        logger.propagate = shown_by_root or not wanted
