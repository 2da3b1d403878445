"""Spin's cron trigger (the `spin-trigger-cron` plugin's manifest shape), run by `wasmhive up`.

    [[trigger.cron]]
    component = "tick"
    cron_expression = "*/2 * * * * *"     # sec min hour day-of-month month day-of-week [year], UTC

The component exports the plugin's world `fermyon:spin-cron/spin-cron`:
`handle-cron-event: func(metadata: metadata) -> result<_, error>` with `metadata { timestamp: u64 }` (the
scheduled time, seconds since the Unix epoch). Each tick runs in a fresh instance with the component's
limits (memory, deadline) and capabilities, exactly like an HTTP request. A trap or an `error` result is
logged and the schedule goes on; a tick that comes while the previous one still runs is skipped (logged),
so slow guests never pile up. Ticks missed while the process was busy are not made up.

Expressions are parsed with `croniter` (6 or 7 fields, seconds first); a bad one refuses start-up.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, DeadlineExceeded, InvalidModule, LinkError, translate

if TYPE_CHECKING:
    from ..app import App

__all__ = ["CronRunner", "CronSchedule", "start_cron"]

log = logging.getLogger("wasmhive.cron")
EXPORT = "handle-cron-event"


class CronSchedule:
    """A parsed cron expression: `next_after(t)` is the first fire time (Unix seconds) after `t`."""

    def __init__(self, expression: str) -> None:
        """Raises `ValueError` saying what is wrong with `expression`."""
        try:
            from croniter import croniter  # type: ignore[import-untyped]  # no stubs
        except ImportError:
            raise ValueError("the cron trigger needs croniter (pip install 'wasmhive[cron]')") from None
        fields = expression.split()
        if len(fields) not in (6, 7):
            raise ValueError(f"cron expression {expression!r} has {len(fields)} fields; it needs 6 or 7 "
                             "(sec min hour day-of-month month day-of-week [year])")
        if not croniter.is_valid(expression, second_at_beginning=True):
            raise ValueError(f"cron expression {expression!r} is not valid")
        self.expression = expression
        self._croniter = croniter
        self.next_after(time.time())  # an expression that never fires again (a past year) is an error too

    def next_after(self, t: float) -> float:
        from croniter import CroniterBadDateError

        try:
            it = self._croniter(self.expression, datetime.fromtimestamp(t, UTC), second_at_beginning=True)
            return float(it.get_next(float))
        except CroniterBadDateError:
            raise ValueError(f"cron expression {self.expression!r} never fires after "
                             f"{datetime.fromtimestamp(t, UTC):%Y-%m-%d %H:%M:%S} UTC") from None


class CronComponent:
    """One component prepared for ticks: compiled and linked once, instantiated per tick."""

    def __init__(self, app: App, component_id: str) -> None:
        from ..app._app import _limits
        from ..wasi import build_linker, current

        comp = app.config.components[component_id]
        if not comp.source.is_file():
            raise ConfigError(f"{app.config.manifest_path}: component `{comp.id}`: source {comp.source} does not exist")
        self.id = comp.id
        self.runtime = app.runtime
        self.limits = _limits(app.config, comp, app.defaults)
        self.env = list(comp.environment.items())
        self.caps = app.capabilities
        self.compiled = app.runtime.load(comp.source)
        if self.compiled.kind != "component":
            raise InvalidModule(f"a cron component must be a component exporting `{EXPORT}`",
                                source=self.compiled.name)
        component = self.compiled.component
        index = component.get_export_index(EXPORT)
        if index is None:
            raise InvalidModule(f"this component does not export `{EXPORT}` (world fermyon:spin-cron/spin-cron)",
                                source=self.compiled.name)
        self.index = index
        self._call: Any = None  # `ExportCall` of `handle-cron-event`, built on the first tick
        self._call_lock = threading.Lock()

        def state_of() -> Any:
            return current().capabilities

        def link(root: Any) -> None:
            self.caps.link_component(root, state_of, component, app.runtime.engine, comp.id)

        try:
            self.linker = build_linker(app.runtime.engine, component, link)
        except Exception as e:
            raise LinkError(f"{self.compiled.name}: {str(e).splitlines()[0]}") from None

    def run(self, timestamp: int) -> None:
        """One tick in a fresh instance; never raises (failures are logged)."""
        import wasmtime

        from ..component._hostcall import ExportCall, take_host_error
        from ..component._values import ResultError, Variant
        from ..http._executor import _Lines  # guest stdout/stderr to the log, line by line
        from ..wasi import HostState, attach

        out, err = _Lines(self.id, "stdout"), _Lines(self.id, "stderr")
        deadline = time.monotonic() + self.limits.timeout if self.limits.timeout is not None else None
        state = HostState(deadline=deadline, stdout=out, stderr=err, name=self.id)
        state.capabilities = self.caps.instance(self.id)
        store = None
        try:
            store = self.runtime.new_store(self.limits, compiled=self.compiled)
            cfg = wasmtime.WasiConfig()
            if self.env:
                cfg.env = self.env
            store.set_wasi(cfg)
            instance = self.linker.instantiate(store, self.compiled.component)
            func = instance.get_func(store, self.index)
            assert func is not None
            with self._call_lock:
                if self._call is None:
                    self._call = ExportCall(func, store)
            with attach(store, state):
                self._call(store, func, {"timestamp": timestamp})
        except ResultError as e:  # the guest returned `err(error)`: `error` is `other(string)`
            why = e.value.value if isinstance(e.value, Variant) else e.value
            log.error("cron component `%s` (tick %d): returned an error: %s", self.id, timestamp, why)
        except Exception as e:
            host_error = take_host_error()
            error = translate(e, timeout=self.limits.timeout)
            if isinstance(error, DeadlineExceeded) or state.deadline_hit:
                log.error("cron component `%s` (tick %d): ran past its %gs deadline", self.id, timestamp,
                          self.limits.timeout or 0)
            else:
                cause = f"host call failed: {host_error}" if host_error is not None else error
                log.error("cron component `%s` (tick %d): guest trapped: %s", self.id, timestamp, cause)
        finally:
            state.close()
            out.close()
            err.close()
            del store


@dataclass
class _Job:
    schedule: CronSchedule
    run: Callable[[int], None]
    name: str
    busy: threading.Lock = field(default_factory=threading.Lock)


class CronRunner:
    """Runs jobs on their schedules, each tick on its own thread; overlapping ticks are skipped."""

    def __init__(self) -> None:
        self.schedules: list[tuple[str, str]] = []  # (component, expression), for the start-up banner
        self._jobs: list[_Job] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def add(self, schedule: CronSchedule, run: Callable[[int], None], name: str) -> None:
        """Schedule `run(timestamp)`; call before `start`."""
        self._jobs.append(_Job(schedule, run, name))

    def start(self) -> None:
        for job in self._jobs:
            t = threading.Thread(target=self._loop, args=(job,), name=f"cron {job.name}", daemon=True)
            t.start()
            self._threads.append(t)

    def _loop(self, job: _Job) -> None:
        when = job.schedule.next_after(time.time())
        while not self._stop.wait(max(0.0, when - time.time())):
            if job.busy.acquire(blocking=False):
                threading.Thread(target=self._tick, args=(job, int(when)), name=f"cron tick {job.name}",
                                 daemon=True).start()
            else:
                log.warning("cron `%s`: tick %d skipped: the previous tick is still running", job.name, int(when))
            try:
                when = job.schedule.next_after(max(when, time.time() - 0.5))
            except ValueError as e:  # the schedule ended (a year field in the past now)
                log.info("cron `%s`: %s; no more ticks", job.name, e)
                return

    @staticmethod
    def _tick(job: _Job, timestamp: int) -> None:
        try:
            job.run(timestamp)
        except Exception:  # run() logs its own failures; this is a bug, not the guest's
            log.exception("cron `%s`: tick %d failed", job.name, timestamp)
        finally:
            job.busy.release()

    def close(self) -> None:
        """Stop scheduling (a tick already running finishes on its own, bounded by its deadline)."""
        self._stop.set()
        for t in self._threads:
            t.join(timeout=2)


def start_cron(app: App) -> CronRunner | None:
    """Validate every `[[trigger.cron]]` of `app`, prepare its components and start the schedule (None
    when the app has no cron trigger). Raises `ConfigError` for a bad expression."""
    triggers = app.config.cron_triggers
    if not triggers:
        return None
    runner = CronRunner()
    components: dict[str, CronComponent] = {}
    for i, trig in enumerate(triggers):
        try:
            schedule = CronSchedule(trig.cron_expression)
        except ValueError as e:
            raise ConfigError(f"{app.config.manifest_path}: cron trigger #{i + 1} (component `{trig.component}`): "
                              f"{e}") from None
        comp = components.get(trig.component) or CronComponent(app, trig.component)
        components[trig.component] = comp
        runner.add(schedule, comp.run, f"{trig.component} #{i + 1}")
        runner.schedules.append((trig.component, trig.cron_expression))
    runner.start()
    log.info("cron: %s", ", ".join(f"`{t.component}` on {t.cron_expression!r}" for t in triggers))
    return runner
