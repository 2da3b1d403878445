"""`wasmhive up`: serve a `wasi:http` component (or an app) over HTTP, like `spin up` / `wasmtime serve`.

The options are declared once (`up_options`) and shared with `build --up` and `watch`, which pass every
one of them through (`up_argv` renders the ones the user gave back into arguments for a child `up`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click
from click.core import ParameterSource

from ._common import console, err_console

__all__ = ["UP_OPTION_NAMES", "given_up_options", "run_up", "up_argv", "up_options"]

F = TypeVar("F", bound=Callable[..., Any])

_OPTIONS: list[Callable[[Any], Any]] = [
    click.option("--listen", default="127.0.0.1:3000", show_default=True, metavar="HOST:PORT",
                 help="Address to listen on (port 0: any free port)."),
    click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
                 help="Worker processes (they share the socket, each pinned to its own CPU; state lives in backends, never "
                 "in a worker)."),
    click.option("--threads", default=None, type=click.IntRange(1, 256),
                 help="Guest threads per worker (instances running at once) [default: 2 x CPUs]."),
    click.option("--route", default=None, help="Route of a single component [default: /...]; an app's routes "
                 "come from its manifest."),
    click.option("--timeout", default=None, metavar="DURATION",
                 help="Deadline per request, 504 past it [default: 30s]. For an app: every component's "
                 "default; the manifest's [limits] win."),
    click.option("--memory", default=None, metavar="SIZE",
                 help="Linear memory limit per instance [default: 128MiB]. For an app: every component's "
                 "default; the manifest's [limits] win."),
    click.option("--max-body", default="10MB", show_default=True, help="Request body limit (413 past it)."),
    click.option("--max-concurrency", default=64, show_default=True, type=click.IntRange(1),
                 help="Requests in flight per worker (503 past it)."),
    click.option("--allow-outbound", "outbound", multiple=True, metavar="URL",
                 help="Allow outbound HTTP to scheme://host[:port] (repeatable; Spin's syntax). For an app: "
                 "added to every component's allowed_outbound_hosts."),
    click.option("-e", "--env", "envs", multiple=True, metavar="NAME=VALUE",
                 help="Guest environment variable (repeatable). For an app: every component's; a "
                 "component's own `environment` wins."),
    click.option("--pooling/--no-pooling", default=True, show_default=True,
                 help="Use the pooling instance allocator (slots reset in place between requests)."),
    click.option("--variable", "variables", multiple=True, metavar="NAME=VALUE",
                 help="App variable value (beats WASMHIVE_VARIABLE_*/SPIN_VARIABLE_* and .env)."),
    click.option("--key-value", "key_values", multiple=True, metavar="KEY=VALUE",
                 help="Seed the app's `default` key-value store at start-up."),
    click.option("--sqlite", "sqlite", multiple=True, metavar="SQL|@FILE",
                 help="Run a SQLite statement (or @file of statements) on the app's `default` database at "
                 "start-up, like `spin up --sqlite`; a failing statement refuses start-up."),
    click.option("--runtime-config-file", type=click.Path(exists=True, dir_okay=False), default=None,
                 help="Spin-compatible runtime config ([key_value_store.<label>] ...)."),
    click.option("--contracts", is_flag=True, default=False,
                 help="Serve the contract VM's JSON API under /contracts (state: $WASMHIVE_STATE or .wasmhive); "
                 "the app's own /contracts routes still win."),
    click.option("-q", "--quiet", is_flag=True, default=False,
                 help="Do not show guest output and the access log (errors are still shown)."),
    click.option("--log-dir", default=None, type=click.Path(file_okay=False), metavar="DIR",
                 help="Append each component's output to DIR/<component>_stdout.txt and _stderr.txt."),
    # -- cluster operation (http/_drain.py, _health.py, _metrics.py, _autoscale.py, _jsonlog.py, _idle.py) --
    click.option("--drain-delay", default="0s", show_default=True,
                 help="On SIGTERM, answer /.well-known/wasmhive/ready with 503 this long before closing the socket."),
    click.option("--drain-timeout", default="30s", show_default=True,
                 help="On SIGTERM, how long in-flight requests may run before they are cancelled."),
    click.option("--metrics/--no-metrics", default=False, show_default=True,
                 help="Serve Prometheus metrics on GET /metrics (needs wasmhive[metrics])."),
    click.option("--traces/--no-traces", default=False, show_default=True,
                 help="Export OpenTelemetry traces over OTLP/HTTP, as the OTEL_EXPORTER_OTLP_* variables say "
                 "(needs wasmhive[otel])."),
    click.option("--workers-max", default=None, type=click.IntRange(1, 64),
                 help="Autoscale: add workers up to this many while CPU or requests in flight per worker stay "
                 "high, back to --workers when idle."),
    click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True,
                 help="json: every log line a JSON object (timestamp, level, logger, message, request id)."),
    click.option("--idle-unload", default="0s", show_default=True, metavar="DURATION",
                 help="Unload a component unused this long (0s: never); its next request prepares it again "
                 "from the compile cache."),
]
UP_OPTION_NAMES = ("listen", "workers", "threads", "route", "timeout", "memory", "max_body", "max_concurrency",
                   "outbound", "envs", "pooling", "variables", "key_values", "runtime_config_file", "contracts",
                   "quiet", "log_dir", "drain_delay", "drain_timeout", "metrics", "workers_max", "log_format",
                   "idle_unload", "traces", "sqlite")


def up_options(f: F) -> F:
    """Add every `wasmhive up` option to a command (its parameters are then `UP_OPTION_NAMES`)."""
    for option in reversed(_OPTIONS):
        f = option(f)
    return f


def up_argv(ctx: click.Context) -> list[str]:
    """The `up` options the user gave to `ctx`'s command, rendered back into command-line arguments."""
    argv: list[str] = []
    for param in ctx.command.params:
        if param.name not in UP_OPTION_NAMES or not isinstance(param, click.Option):
            continue
        source = ctx.get_parameter_source(param.name)
        if source in (None, ParameterSource.DEFAULT):
            continue
        value = ctx.params[param.name]
        flag = max(param.opts, key=len)
        if param.is_flag and param.secondary_opts:
            argv.append(flag if value else max(param.secondary_opts, key=len))
        elif param.is_flag:
            if value:
                argv.append(flag)
        elif param.multiple:
            for v in value:
                argv += [flag, str(v)]
        elif value is not None:
            argv += [flag, str(value)]
    return argv


def given_up_options(ctx: click.Context) -> list[str]:
    """The `up` options (as `--flag`) given to `ctx`'s command, to refuse them where they would do nothing."""
    return [max(p.opts, key=len) for p in ctx.command.params
            if p.name in UP_OPTION_NAMES and ctx.get_parameter_source(p.name) not in (None, ParameterSource.DEFAULT)]


@click.command()
@click.argument("path", default=".", type=click.Path(exists=True))
@up_options
def up(path: str, **options: Any) -> None:
    """Serve PATH over HTTP: a wasi:http component (.wasm/.wat, on ROUTE) or an app directory/manifest.

    Every request runs in a fresh instance with its own limits; a trap answers 500, a request past
    its deadline 504. Guest output and one access-log line per request are shown (-q: not).
    """
    run_up(path, **options)


def run_up(path: str, *, listen: str, workers: int, threads: int | None, route: str | None, timeout: str | None,
           memory: str | None, max_body: str, max_concurrency: int, outbound: tuple[str, ...],
           envs: tuple[str, ...], pooling: bool, variables: tuple[str, ...] = (), key_values: tuple[str, ...] = (),
           runtime_config_file: str | None = None, contracts: bool = False, quiet: bool = False,
           log_dir: str | None = None, drain_delay: str = "0s", drain_timeout: str = "30s", metrics: bool = False,
           workers_max: int | None = None, log_format: str = "text", idle_unload: str = "0s",
           traces: bool = False, sqlite: tuple[str, ...] = ()) -> None:
    """Serve `path` with the `up` options (what `up` and `build --up` run)."""
    from ..capabilities.outbound_http import OutboundPolicy
    from ..errors import ConfigError
    from ..runtime import parse_duration, parse_size
    from ..server import UpConfig, serve
    from ..server._serve import default_threads, parse_listen

    parse_listen(listen)
    try:
        OutboundPolicy.parse(list(outbound))
    except ConfigError as e:
        raise ConfigError(f"--allow-outbound: {e}") from None
    cfg = UpConfig(path=path, listen=listen, workers=workers, threads=threads or default_threads(), route=route,
                   timeout=None if timeout is None else _option("--timeout", parse_duration, timeout),
                   memory=None if memory is None else _option("--memory", parse_size, memory),
                   max_body=_option("--max-body", parse_size, max_body), max_concurrency=max_concurrency,
                   allowed_outbound_hosts=list(outbound), env=_pairs("--env", envs), pooling=pooling,
                   variables=_pairs("--variable", variables), key_value=_pairs("--key-value", key_values),
                   runtime_config=runtime_config_file, contracts=contracts, quiet=quiet, log_dir=log_dir,
                   sqlite=list(sqlite))
    _cluster_options(cfg, drain_delay=drain_delay, drain_timeout=drain_timeout, metrics=metrics,
                     workers_max=workers_max, log_format=log_format, idle_unload=idle_unload, traces=traces)
    import logging

    # uvicorn's own lines ("Started server process", shutdown) only with -v: our banner replaces them.
    uvicorn_level = "info" if logging.getLogger().getEffectiveLevel() <= logging.INFO else "warning"
    try:
        serve(cfg, log_level=uvicorn_level, events=_Events(log_dir, json=log_format == "json"))
    except KeyboardInterrupt:
        # Only start-up gets here (uvicorn handles Ctrl-C while serving). A compile may still be running
        # on its helper thread inside wasmtime: leave at once instead of waiting for it or tearing the
        # engine down under it. Nothing was served yet, so nothing is lost.
        err_console.print("[bold red]error:[/] interrupted", markup=True)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(130)


class _Events:
    """Start-up progress and the banner, as `spin up` shows them."""

    def __init__(self, log_dir: str | None, *, json: bool = False) -> None:
        self.log_dir = log_dir
        self.json = json  # --log-format json: the banner is a log line too

    def component(self, name: str, seconds: float | None, note: str) -> None:
        if self.json:
            import logging

            if seconds is None:
                logging.getLogger("wasmhive").info("preparing component %s (%s)", name, note)
            else:
                logging.getLogger("wasmhive").info("ready: %s in %.2fs (%s)", name, seconds, note)
            return
        from rich.markup import escape

        if seconds is None:
            err_console.print(f"Preparing component [bold]{escape(name)}[/] ({escape(note)})...", markup=True,
                              soft_wrap=True)
        else:
            err_console.print(f"Ready: [bold]{escape(name)}[/] in {seconds:.2f}s ({escape(note)})", markup=True,
                              soft_wrap=True)

    def serving(self, url: str, routes: list[tuple[str, str]], workers: int) -> None:
        lines = [f"Serving {url}" + (f" ({workers} workers)" if workers > 1 else ""), "Available Routes:"]
        lines += [f"  {name}: {where}" for name, where in routes]
        if self.log_dir is not None:
            lines.append(f"Logging component stdio to {os.path.join(self.log_dir, '')}")
        if self.json:
            import logging

            logging.getLogger("wasmhive").info("%s", "\n".join(lines))
            return
        console.print("\n".join(lines), markup=False, soft_wrap=True)
        sys.stdout.flush()


def _option(option: str, parse: Callable[[str], Any], text: str) -> Any:
    from ..errors import ConfigError

    try:
        return parse(text)
    except ConfigError as e:
        raise ConfigError(f"{option}: {e}") from None


def _cluster_options(cfg: Any, *, drain_delay: str, drain_timeout: str, metrics: bool, workers_max: int | None,
                     log_format: str, idle_unload: str, traces: bool = False) -> None:
    """The cluster-operation options onto `cfg` (drain, metrics, traces, autoscaling, JSON logs, idle unload)."""
    from ..errors import ConfigError
    from ..runtime import parse_duration

    cfg.drain_delay = _option("--drain-delay", parse_duration, drain_delay)
    cfg.drain_timeout = _option("--drain-timeout", parse_duration, drain_timeout)
    cfg.idle_unload = _option("--idle-unload", parse_duration, idle_unload)
    if metrics:  # fail now, not in every worker, when prometheus-client is missing
        from ..http._metrics import check_available

        check_available()
        cfg.metrics = True
    if traces:  # likewise for the OpenTelemetry SDK
        from ..http._tracing import check_available as traces_available

        traces_available()
        cfg.traces = True
    if workers_max is not None:
        if workers_max < cfg.workers:
            raise ConfigError(f"--workers-max {workers_max} is below --workers {cfg.workers}")
        cfg.workers_max = workers_max
    if log_format == "json":  # structured logs from here on, the banner included
        from ..http._jsonlog import configure

        configure()
        cfg.log_format = "json"


def _pairs(option: str, items: tuple[str, ...]) -> dict[str, str]:
    from ..errors import ConfigError

    out = {}
    for item in items:
        k, sep, v = item.partition("=")
        if not sep or not k:
            raise ConfigError(f"{option} wants NAME=VALUE, got {item!r}")
        out[k] = v
    return out
