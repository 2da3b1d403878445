"""Spin's HTTP routing: exact routes, `/...` prefix wildcards, `:name` segments, and Spin's request headers.

Precedence (what Spin users expect): an exact route beats a wildcard; among wildcards the longest
prefix wins; among equals, literal segments beat `:name` segments. A route defined twice is warned
about and the first definition is kept. `/.well-known/wasmhive/health` and `/.well-known/spin/health`
are answered by the host.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError

__all__ = ["HEALTH_PATHS", "Route", "RouteMatch", "Router", "join_base"]

log = logging.getLogger("wasmhive.http.router")

HEALTH_PATHS = ("/.well-known/wasmhive/health", "/.well-known/spin/health")
_RESERVED = ("/.well-known/wasmhive", "/.well-known/spin")


def join_base(base: str, route: str) -> str:
    """`base` + `route` as one path (`/api` + `/users/...` -> `/api/users/...`)."""
    base = "/" + base.strip("/")
    return route if base == "/" else base + ("" if route == "/" else route)


def _segments(path: str) -> list[str]:
    return [s for s in path.split("/") if s]


@dataclass(frozen=True)
class Route:
    """A parsed route: `raw` as the manifest wrote it, `full` with the app's base path in front."""

    raw: str
    full: str
    base: str
    segments: tuple[str, ...]  # of `full`, without the trailing `...`
    wildcard: bool
    target: Any
    index: int

    @classmethod
    def parse(cls, raw: str, target: Any, *, base: str = "/", index: int = 0) -> Route:
        if not raw.startswith("/"):
            raise ConfigError(f"route {raw!r} must start with /")
        full = join_base(base, raw)
        segs = _segments(full)
        wildcard = bool(segs) and segs[-1] == "..."
        if wildcard:
            segs = segs[:-1]
        for s in segs:
            if s == "..." or ("..." in s):
                raise ConfigError(f"route {raw!r}: `...` may only be the last segment")
            if s.startswith(":") and len(s) == 1:
                raise ConfigError(f"route {raw!r}: a `:` segment needs a name")
        return cls(raw, full, "/" + base.strip("/"), tuple(segs), wildcard, target, index)

    @property
    def rank(self) -> tuple[int, int, int, int]:
        """Sort key, best first when sorted descending (index breaks ties: first defined wins)."""
        literals = sum(1 for s in self.segments if not s.startswith(":"))
        return (0 if self.wildcard else 1, len(self.segments), literals, -self.index)

    @property
    def component_route(self) -> str:
        """The raw route without its `/...` (Spin's `spin-component-route`)."""
        r = self.raw[:-4] if self.raw.endswith("/...") else self.raw
        return r if self.raw != "/..." else ""

    def key(self) -> tuple[tuple[str, ...], bool]:
        """Identity for duplicate detection (`:a` and `:b` in the same place are the same route)."""
        return tuple(":" if s.startswith(":") else s for s in self.segments), self.wildcard

    def match(self, segs: list[str]) -> dict[str, str] | None:
        if len(segs) < len(self.segments) or (not self.wildcard and len(segs) != len(self.segments)):
            return None
        params: dict[str, str] = {}
        for pat, got in zip(self.segments, segs, strict=False):
            if pat.startswith(":"):
                params[pat[1:]] = got
            elif pat != got:
                return None
        return params


@dataclass(frozen=True)
class RouteMatch:
    """A request path matched to a route, with what Spin derives from it."""

    route: Route
    path: str
    params: dict[str, str] = field(default_factory=dict)

    @property
    def target(self) -> Any:
        return self.route.target

    @property
    def path_info(self) -> str:
        """The part of the path after the matched prefix (`/a/b` for `/x/a/b` on `/x/...`; "" for exact)."""
        if not self.route.wildcard:
            return ""
        segs = _segments(self.path)[len(self.route.segments):]
        return "/" + "/".join(segs) if segs else ""

    def spin_headers(self, *, full_url: str, client_addr: str) -> list[tuple[str, str]]:
        """The `spin-*` request headers Spin injects for this match."""
        base = self.route.base
        headers = [
            ("spin-full-url", full_url),
            ("spin-path-info", self.path_info),
            ("spin-matched-route", self.route.full),
            ("spin-base-path", base),
            ("spin-raw-component-route", self.route.raw),
            ("spin-component-route", self.route.component_route),
            ("spin-client-addr", client_addr),
        ]
        headers += [(f"spin-path-match-{k}", v) for k, v in self.params.items()]
        return headers

    def cgi_values(self, *, full_url: str, client_addr: str) -> dict[str, str]:
        """The same values as WAGI environment variables (`X_FULL_URL`, `X_MATCHED_ROUTE`, ...)."""
        out = {}
        for name, value in self.spin_headers(full_url=full_url, client_addr=client_addr):
            out["X_" + name.removeprefix("spin-").upper().replace("-", "_")] = value
        return out


class Router:
    """Routes request paths to targets (whatever the caller attaches: triggers, executors)."""

    def __init__(self, routes: Iterable[tuple[str, Any]], *, base: str = "/") -> None:
        self.base = base
        self.warnings: list[str] = []
        seen: dict[tuple[tuple[str, ...], bool], Route] = {}
        kept: list[Route] = []
        for i, (raw, target) in enumerate(routes):
            route = Route.parse(raw, target, base=base, index=i)
            if route.full.startswith(_RESERVED):
                raise ConfigError(f"route {raw!r} is reserved for the host ({_RESERVED[0]}/...)")
            prev = seen.get(route.key())
            if prev is not None:
                msg = f"duplicate route {raw!r} (same as {prev.raw!r}): the first definition is used"
                self.warnings.append(msg)
                log.warning("%s", msg)
                continue
            seen[route.key()] = route
            kept.append(route)
        self.routes = sorted(kept, key=lambda r: r.rank, reverse=True)

    def match(self, path: str) -> RouteMatch | None:
        """The best route for `path` (already percent-decoded), or None (404)."""
        segs = _segments(path)
        for route in self.routes:
            params = route.match(segs)
            if params is not None:
                return RouteMatch(route, path, params)
        return None

    @staticmethod
    def is_health(path: str) -> bool:
        """Whether `path` is a health-check path the host answers itself."""
        return path.rstrip("/") in HEALTH_PATHS

    def __repr__(self) -> str:
        return f"Router({[r.full for r in self.routes]})"
