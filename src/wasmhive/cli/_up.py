"""`wasmhive up`: serve a `wasi:http` component (or an app) over HTTP, like `spin up` / `wasmtime serve`."""

from __future__ import annotations

import click

from ..runtime import parse_duration, parse_size
from . import main
from ._common import err_console


@main.command()
@click.argument("path", default=".", type=click.Path(exists=True))
@click.option("--listen", default="127.0.0.1:3000", show_default=True, metavar="HOST:PORT",
              help="Address to listen on.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Worker processes (they share the socket; state lives in backends, never in a worker).")
@click.option("--threads", default=None, type=click.IntRange(1, 256),
              help="Guest threads per worker (instances running at once) [default: 2 x CPUs].")
@click.option("--route", default="/...", show_default=True, help="Route of a single component.")
@click.option("--timeout", default="30s", show_default=True, help="Deadline per request (504 past it).")
@click.option("--memory", default="128MiB", show_default=True, help="Linear memory limit per instance.")
@click.option("--max-body", default="10MB", show_default=True, help="Request body limit (413 past it).")
@click.option("--max-concurrency", default=64, show_default=True, type=click.IntRange(1),
              help="Requests in flight per worker (503 past it).")
@click.option("--allow-outbound", "outbound", multiple=True, metavar="URL",
              help="Allow outbound HTTP to scheme://host[:port] (repeatable; Spin's syntax).")
@click.option("--env", "envs", multiple=True, metavar="NAME=VALUE", help="Guest environment variable.")
@click.option("--pooling/--no-pooling", default=True, show_default=True,
              help="Use the pooling instance allocator (slots reset in place between requests).")
@click.option("--variable", "variables", multiple=True, metavar="NAME=VALUE",
              help="App variable value (beats WASMHIVE_VARIABLE_*/SPIN_VARIABLE_* and .env).")
@click.option("--key-value", "key_values", multiple=True, metavar="KEY=VALUE",
              help="Seed the app's `default` key-value store at start-up.")
@click.option("--runtime-config-file", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Spin-compatible runtime config ([key_value_store.<label>] ...).")
# -- cluster operation (http/_drain.py, http/_health.py) --
@click.option("--drain-delay", default="0s", show_default=True,
              help="On SIGTERM, answer /.well-known/wasmhive/ready with 503 this long before closing the socket.")
@click.option("--drain-timeout", default="30s", show_default=True,
              help="On SIGTERM, how long in-flight requests may run before they are cancelled.")
@click.option("--metrics/--no-metrics", default=False, show_default=True,
              help="Serve Prometheus metrics on GET /metrics (needs wasmhive[metrics]).")
@click.option("--workers-max", default=None, type=click.IntRange(1, 64),
              help="Autoscale: add workers up to this many while CPU per worker stays high, back to "
                   "--workers when idle.")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="json: every log line a JSON object (timestamp, level, logger, message, request id).")
@click.option("--idle-unload", default="0s", show_default=True, metavar="DURATION",
              help="Unload a component unused this long (0s: never); its next request prepares it again "
                   "from the compile cache.")
# -- end cluster operation --
def up(path: str, listen: str, workers: int, threads: int | None, route: str, timeout: str, memory: str,
       max_body: str, max_concurrency: int, outbound: tuple[str, ...], envs: tuple[str, ...],
       pooling: bool, variables: tuple[str, ...] = (), key_values: tuple[str, ...] = (),
       runtime_config_file: str | None = None, drain_delay: str = "0s", drain_timeout: str = "30s",
       metrics: bool = False, workers_max: int | None = None, log_format: str = "text",
       idle_unload: str = "0s") -> None:
    """Serve PATH over HTTP: a wasi:http component (.wasm/.wat, on ROUTE) or an app directory/manifest.

    Every request runs in a fresh instance with its own limits; a trap answers 500, a request past
    its deadline 504.
    """
    from ..errors import ConfigError
    from ..http import UpConfig, serve
    from ..http._serve import parse_listen

    parse_listen(listen)
    env = {}
    for e in envs:
        k, sep, v = e.partition("=")
        if not sep or not k:
            raise ConfigError(f"--env wants NAME=VALUE, got {e!r}")
        env[k] = v
    from ..http._serve import default_threads

    cfg = UpConfig(path=path, listen=listen, workers=workers, threads=threads or default_threads(), route=route,
                   timeout=parse_duration(timeout), memory=parse_size(memory), max_body=parse_size(max_body),
                   max_concurrency=max_concurrency, allowed_outbound_hosts=list(outbound), env=env,
                   pooling=pooling, variables=_pairs("--variable", variables),
                   key_value=_pairs("--key-value", key_values), runtime_config=runtime_config_file)
    cfg.drain_delay, cfg.drain_timeout = parse_duration(drain_delay), parse_duration(drain_timeout)  # cluster
    cfg.idle_unload = parse_duration(idle_unload)  # cluster
    if metrics:  # cluster: fail now, not in every worker, when prometheus-client is missing
        from ..http._metrics import check_available

        check_available()
        cfg.metrics = True
    if workers_max is not None:  # cluster: autoscaling
        if workers_max < workers:
            raise ConfigError(f"--workers-max {workers_max} is below --workers {workers}")
        cfg.workers_max = workers_max
    if log_format == "json":  # cluster: structured logs from here on, the banner included
        from ..http._jsonlog import configure

        configure()
        cfg.log_format = "json"
        import logging

        logging.getLogger("wasmhive").info("serving %s on http://%s (%d worker%s)", path, listen, workers,
                                           "s" if workers > 1 else "")
        serve(cfg)
        return
    err_console.print(f"Serving [bold]{path}[/] on http://{listen}{'' if route == '/...' else route} "
                      f"({workers} worker{'s' if workers > 1 else ''})", markup=True, highlight=False)
    serve(cfg)


def _pairs(option: str, items: tuple[str, ...]) -> dict[str, str]:
    from ..errors import ConfigError

    out = {}
    for item in items:
        k, sep, v = item.partition("=")
        if not sep or not k:
            raise ConfigError(f"{option} wants NAME=VALUE, got {item!r}")
        out[k] = v
    return out
