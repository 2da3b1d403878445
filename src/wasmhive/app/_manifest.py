"""Reading `wasmhive.toml` and Spin's `spin.toml` (manifest version 2) into one `AppConfig`.

Both files share Spin's v2 schema; every field they share means the same thing. A field we do not
know is a warning that names it (never a silent drop); a malformed manifest is a `ConfigError` naming
the file and line.
"""

from __future__ import annotations

import logging
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..appconfig import (
    AppConfig,
    BuildConfig,
    ComponentConfig,
    CronTrigger,
    Executor,
    FileMount,
    HttpTrigger,
    RedisTrigger,
    StaticResponse,
    VariableDecl,
    confined,
    lexical_problem,
    mount_point_problem,
)
from ..errors import ConfigError
from ._manifest_v1 import is_v1, v1_to_v2
from ._remote import DIGEST, cached_path

__all__ = ["MANIFEST_NAMES", "find_manifest", "load_manifest", "parse_manifest"]

log = logging.getLogger("wasmhive.app")

# Looked up in this order when a directory is given.
MANIFEST_NAMES = ("wasmhive.toml", "spin.toml")

_TOP = {"spin_manifest_version", "wasmhive_manifest_version", "application", "variables", "trigger", "component"}
_APPLICATION = {"name", "version", "description", "authors", "trigger", "limits", "targets", "tool"}
_COMPONENT = {"source", "description", "files", "exclude_files", "allowed_outbound_hosts", "allowed_http_hosts",
              "key_value_stores", "variables", "environment", "build", "limits", "tool", "sqlite_databases",
              "ai_models", "dependencies", "dependencies_inherit_configuration", "nn_models"}
_COMPONENT |= {"sealing", "attestation"}  # wasmhive:tee grants (wasmhive's own; Spin has no such fields)
_UNSUPPORTED_COMPONENT = {"dependencies", "dependencies_inherit_configuration"}
_HTTP_TRIGGER = {"id", "route", "component", "executor", "static_response"}
_BUILD = {"command", "workdir", "watch"}
_EXECUTOR = {"type", "argv", "entrypoint"}
_STATIC = {"status_code", "headers", "body"}
_VARIABLE = {"required", "default", "secret", "description"}
_LIMITS = {"timeout", "memory"}
_VAR_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_ID = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")


def find_manifest(path: str | Path) -> Path:
    """The manifest file for `path`: the file itself, or `wasmhive.toml`/`spin.toml` in a directory."""
    p = Path(path)
    if p.is_dir():
        for name in MANIFEST_NAMES:
            if (p / name).is_file():
                return p / name
        raise ConfigError(f"{p}: no {' or '.join(MANIFEST_NAMES)} in this directory")
    if not p.is_file():
        raise ConfigError(f"{p}: no such manifest")
    return p


def load_manifest(path: str | Path) -> AppConfig:
    """Read and validate a manifest file (or the manifest in a directory)."""
    p = find_manifest(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{p}: cannot read manifest: {e}") from None
    return parse_manifest(text, p)


@dataclass
class _Ctx:
    """Where we are: the manifest's path and text (to point errors and warnings at a line)."""

    path: Path
    text: str
    warnings: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.lines = self.text.splitlines()

    def line_of(self, *needles: str, table: str | None = None, key: str | None = None, nth: int = 0) -> int | None:
        """The line of `key` inside `table` (its `nth` occurrence for `[[arrays]]`), else the first line
        containing the most specific needle found (a table header or key)."""
        if table is not None:
            span = self._section(table, nth)
            if span is not None:
                start, end = span
                if key is not None:
                    pattern = re.compile(rf"^\s*(?:{re.escape(key)}|\"{re.escape(key)}\"|'{re.escape(key)}')\s*[=.]")
                    for i in range(start, end):
                        if pattern.match(self.lines[i]):
                            return i + 1
                for needle in needles:
                    for i in range(start, end):
                        if needle in self.lines[i]:
                            return i + 1
                if table:
                    return start  # the header line: the key is inline or dotted there
        for needle in needles:
            for i, line in enumerate(self.lines, 1):
                if needle in line:
                    return i
        return None

    def _section(self, table: str, nth: int) -> tuple[int, int] | None:
        """Line indexes [first key, next header) of the `nth` `table` header; "" is the top of the file."""
        headers = [i for i, ln in enumerate(self.lines) if ln.lstrip().startswith("[")]
        if not table:
            return 0, headers[0] if headers else len(self.lines)
        seen = 0
        for n, i in enumerate(headers):
            head = self.lines[i].strip()
            if head == table or (head.startswith(table) and head[len(table):].lstrip().startswith("#")):
                if seen == nth:
                    return i + 1, headers[n + 1] if n + 1 < len(headers) else len(self.lines)
                seen += 1
        return None

    def where(self, *needles: str, table: str | None = None, key: str | None = None, nth: int = 0) -> str:
        line = self.line_of(*needles, table=table, key=key, nth=nth)
        return f"{self.path}:{line}" if line else str(self.path)

    def error(self, message: str, *needles: str, table: str | None = None, key: str | None = None,
              nth: int = 0) -> ConfigError:
        return ConfigError(f"{self.where(*needles, table=table, key=key, nth=nth)}: {message}")

    def warn(self, message: str, *needles: str, table: str | None = None, key: str | None = None,
             nth: int = 0) -> None:
        text = f"{self.where(*needles, table=table, key=key, nth=nth)}: {message}"
        self.warnings.append(text)
        log.warning("%s", text)

    def check_keys(self, table: Mapping[str, Any], known: set[str], what: str, *needles: str,
                   header: str | None = None, nth: int = 0,
                   unsupported: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        """Warn (at the key's own line inside `header`'s table) about every key not in `known`."""
        for key in table:
            if key in unsupported:
                self.warn(f"{what}: field `{_shown(key)}` is not supported yet and is ignored", f"{key} ", *needles,
                          table=header, key=key, nth=nth)
            elif key not in known:
                self.warn(f"{what}: unknown field `{_shown(key)}` is ignored", f"{key} ", f"{key}=", f"[{key}",
                          f"[[{key}", *needles,
                          table=header, key=key, nth=nth)


def _shown(key: str) -> str:
    """A key as it may be quoted in a message: control characters escaped (a warning is not a terminal
    escape sequence)."""
    return key if key.isprintable() else repr(key)[1:-1]


MAX_TOML_NESTING = 100  # arrays / inline tables inside each other; no manifest or runtime config needs more


def _too_deep(text: str, limit: int = MAX_TOML_NESTING) -> bool:
    """Whether arrays/inline tables nest deeper than `limit` (brackets inside strings and comments do
    not count). Checked before parsing: tomllib recurses once per level, and how deep Python's stack
    already is when it runs is not ours to know, so a RecursionError is not a reliable signal."""
    depth, i, n = 0, 0, len(text)
    while i < n:
        c = text[i]
        if c == "#":
            i = text.find("\n", i)
            if i < 0:
                break
        elif c in "\"'":
            quote = text[i:i + 3] if text[i:i + 3] in ('"""', "'''") else c
            i += len(quote)
            while i < n and not text.startswith(quote, i):
                if c == '"' and text[i] == "\\":
                    i += 1  # basic strings: skip the escaped character
                elif len(quote) == 1 and text[i] == "\n":
                    break  # an unterminated one-line string: tomllib will say so
                i += 1
            i += len(quote) - 1
        elif c in "[{":
            depth += 1
            if depth > limit:
                return True
        elif c in "]}":
            depth = max(depth - 1, 0)
        i += 1
    return False


def load_toml(text: str, path: Path) -> dict[str, Any]:
    """Parse TOML `text` read from `path`; a `ConfigError` names the file, line and column."""
    if _too_deep(text):
        raise ConfigError(f"{path}: malformed TOML: arrays or tables nested too deeply "
                          f"(more than {MAX_TOML_NESTING} levels)")
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        # tomllib says "... (at line L, column C)": lift the line to the front, compiler style.
        m = re.search(r"\(at line (\d+), column (\d+)\)", str(e))
        msg = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(e))
        where = f"{path}:{m.group(1)}:{m.group(2)}" if m else str(path)
        raise ConfigError(f"{where}: malformed TOML: {msg}") from None
    except RecursionError:
        # tomllib recurses once per level of nested arrays/inline tables: no manifest needs thousands.
        raise ConfigError(f"{path}: malformed TOML: arrays or tables nested too deeply") from None


def parse_manifest(text: str, path: str | Path = "wasmhive.toml") -> AppConfig:
    """Parse manifest `text` read from `path` (relative paths in it resolve against its directory)."""
    path = Path(path)
    doc = load_toml(text, path)
    ctx = _Ctx(path, text)
    if is_v1(doc):  # Spin manifest version 1: converted as Spin converts it
        doc = v1_to_v2(doc, ctx)
    version = doc.get("spin_manifest_version", doc.get("wasmhive_manifest_version"))
    if "spin_manifest_version" in doc and version not in (2, "2"):
        raise ctx.error(f"spin_manifest_version = {version!r} is not supported (1 or 2)", "spin_manifest_version")
    if "wasmhive_manifest_version" in doc and doc["wasmhive_manifest_version"] not in (1, "1"):
        raise ctx.error("wasmhive_manifest_version must be 1", "wasmhive_manifest_version")
    if path.name == "spin.toml" and "spin_manifest_version" not in doc:
        raise ctx.error("spin.toml needs `spin_manifest_version = 2` (or \"1\" for a version 1 manifest)")
    ctx.check_keys(doc, _TOP, "manifest", header="")

    app = _table(ctx, doc, "application", "[application]")
    ctx.check_keys(app, _APPLICATION, "[application]", "[application]", header="[application]")
    trig_app = _table(ctx, app, "trigger", "[application.trigger")
    http_app = _table(ctx, trig_app, "http", "[application.trigger.http]")
    base = http_app.get("base", "/")
    if not isinstance(base, str) or not base.startswith("/"):
        raise ctx.error("[application.trigger.http] base must be a path starting with /", "base")
    for key in http_app:
        if key != "base":
            ctx.warn(f"[application.trigger.http]: unknown field `{key}` is ignored", key,
                     table="[application.trigger.http]", key=key)

    variables = {name: _variable(ctx, name, spec) for name, spec in _table(ctx, doc, "variables", "[variables]").items()}
    components = {cid: _component(ctx, cid, spec, path.parent)
                  for cid, spec in _table(ctx, doc, "component", "[component").items()}

    triggers_all = _table(ctx, doc, "trigger", "[[trigger")
    triggers: list[HttpTrigger] = []
    redis_address, redis_triggers = _redis_triggers(ctx, trig_app, triggers_all, components, path.parent)
    cron_triggers: list[CronTrigger] = []
    for kind, entries in triggers_all.items():
        if kind == "redis":
            continue  # parsed above
        if kind == "cron":  # Spin's cron trigger plugin; `server/_cron_trigger.py` runs it
            cron_triggers = _cron_triggers(ctx, entries, components)
            continue
        if kind != "http":
            ctx.warn(f"trigger type `{kind}` is not supported yet; its triggers are ignored", f"[[trigger.{kind}]]")
            continue
        if not isinstance(entries, list):
            raise ctx.error("`trigger.http` must be an array of tables ([[trigger.http]])", "trigger.http")
        for i, entry in enumerate(entries):
            triggers.append(_http_trigger(ctx, i, entry, components, path.parent))

    cfg = AppConfig(
        name=str(app.get("name", path.parent.resolve().name)),
        version=str(app.get("version", "0.0.0")),
        description=str(app.get("description", "")),
        base=base,
        dir=path.parent.resolve(),
        manifest_path=path.resolve() if path.exists() else path,
        variables=variables,
        components=components,
        triggers=triggers,
        cron_triggers=cron_triggers,
        limits=_limits(ctx, app.get("limits", {}), "[application.limits]"),
        warnings=ctx.warnings,
        spin=path.name == "spin.toml" or "spin_manifest_version" in doc,
        redis_triggers=redis_triggers,
        redis_address=redis_address,
    )
    _cross_check(ctx, cfg)
    return cfg


def _table(ctx: _Ctx, parent: Mapping[str, Any], key: str, needle: str) -> dict[str, Any]:
    value = parent.get(key, {})
    if not isinstance(value, dict):
        raise ctx.error(f"`{key}` must be a table", needle, key)
    return value


def _str_list(ctx: _Ctx, value: Any, what: str, needle: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ctx.error(f"{what} must be a list of strings", needle)
    return list(value)


def _str_map(ctx: _Ctx, value: Any, what: str, needle: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ctx.error(f"{what} must be a table of strings", needle)
    return dict(value)


def _variable(ctx: _Ctx, name: str, spec: Any) -> VariableDecl:
    needle = f"{name} "
    if not _VAR_NAME.match(name):
        raise ctx.error(f"variable name {name!r} must be lowercase letters, digits and _ (starting with a letter)",
                        needle)
    if not isinstance(spec, dict):
        raise ctx.error(f"variable `{name}` must be a table like {{ default = \"...\" }} or {{ required = true }}",
                        needle)
    ctx.check_keys(spec, _VARIABLE, f"variable `{name}`", needle, header="[variables]")
    required = spec.get("required", False)
    default = spec.get("default")
    if not isinstance(required, bool) or not isinstance(spec.get("secret", False), bool):
        raise ctx.error(f"variable `{name}`: required and secret must be true or false", needle)
    if default is not None and not isinstance(default, str):
        raise ctx.error(f"variable `{name}`: default must be a string", needle)
    if required and default is not None:
        raise ctx.error(f"variable `{name}` cannot be both required and have a default", needle)
    if not required and default is None:
        raise ctx.error(f"variable `{name}` needs either `required = true` or a `default`", needle)
    return VariableDecl(name, required, default, bool(spec.get("secret", False)))


def _limits(ctx: _Ctx, spec: Any, what: str) -> dict[str, str | int | float]:
    if not isinstance(spec, dict):
        raise ctx.error(f"{what} must be a table", what)
    ctx.check_keys(spec, _LIMITS, what, what, header=what)
    return {k: v for k, v in spec.items() if k in _LIMITS}


def _relpath(ctx: _Ctx, cid: str, root: Path, text: str, what: str, *needles: str, glob: bool = False,
             table: str | None = None) -> str:
    """`text` if it names a path inside the app directory (by its text, and on disk after symlinks are
    resolved); otherwise an error pointing at the line."""
    table = table or f"[component.{cid}]"
    problem = lexical_problem(text)
    if problem is None and not glob and confined(root, text) is None:
        problem = "leads outside the app directory (through a symlink)"
    if problem is not None:
        raise ctx.error(f"component `{cid}`: {what} {text!r} {problem}", _quoted(text), *needles, table=table)
    return text


def _quoted(text: str) -> str:
    """The TOML basic-string form of `text` (how it most likely appears in the manifest)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _files(ctx: _Ctx, cid: str, value: Any, root: Path) -> list[FileMount]:
    needle = f"[component.{cid}]"
    if not isinstance(value, list):
        raise ctx.error(f"component `{cid}`: files must be a list", "files", needle)
    mounts = []
    for item in value:
        if isinstance(item, str):
            mounts.append(FileMount(_relpath(ctx, cid, root, item, "files entry", "files", glob=True), None))
        elif isinstance(item, dict) and set(item) == {"source", "destination"} and all(
                isinstance(v, str) for v in item.values()):
            dest = item["destination"]
            problem = mount_point_problem(dest)
            if problem is not None:
                raise ctx.error(f"component `{cid}`: files destination {dest!r} {problem}", _quoted(dest),
                                "destination", table=needle)
            source = _relpath(ctx, cid, root, item["source"], "files source", "source")
            mounts.append(FileMount(source, dest))
        else:
            raise ctx.error(f"component `{cid}`: a files entry is a glob string or "
                            "{ source = \"dir\", destination = \"/path\" }", "files", needle)
    return mounts


def _component(ctx: _Ctx, cid: str, spec: Any, root: Path) -> ComponentConfig:
    needle = f"[component.{cid}]"
    if not _ID.match(cid):
        raise ctx.error(f"component id {cid!r} may contain only letters, digits, '-', '_' and '.'", needle)
    if not isinstance(spec, dict):
        raise ctx.error(f"[component.{cid}] must be a table", needle)
    ctx.check_keys(spec, _COMPONENT, f"component `{cid}`", needle, header=needle, unsupported=_UNSUPPORTED_COMPONENT)
    source = spec.get("source")
    remote = _remote_source(ctx, cid, source, needle) if isinstance(source, dict) else None
    if remote is None:
        if not isinstance(source, str) or not source:
            raise ctx.error(f"component `{cid}` needs `source = \"path/to.wasm\"`", needle)
        _relpath(ctx, cid, root, source, "source", "source")
    hosts = spec.get("allowed_outbound_hosts", [])
    if "allowed_http_hosts" in spec:
        ctx.warn(f"component `{cid}`: `allowed_http_hosts` is Spin 1 syntax; use allowed_outbound_hosts",
                 "allowed_http_hosts")
    build = None
    if "build" in spec:
        b = _table(ctx, spec, "build", f"[component.{cid}.build]")
        ctx.check_keys(b, _BUILD, f"[component.{cid}.build]", f"[component.{cid}.build]",
                       header=f"[component.{cid}.build]")
        command = b.get("command")
        if not isinstance(command, (str, list)) or not command:
            raise ctx.error(f"[component.{cid}.build] needs a `command`", f"[component.{cid}.build]")
        workdir = b.get("workdir")
        if workdir is not None and not isinstance(workdir, str):
            raise ctx.error(f"[component.{cid}.build] workdir must be a string", "workdir")
        if isinstance(workdir, str):
            _relpath(ctx, cid, root, workdir, "build workdir", "workdir", table=f"[component.{cid}.build]")
        build = BuildConfig(command if isinstance(command, str) else _str_list(ctx, command, "command", "command"),
                            (root / workdir) if isinstance(workdir, str) else root,
                            _str_list(ctx, b.get("watch", []), "build.watch", "watch"))
    return ComponentConfig(
        id=cid,
        source=cached_path(remote[1]) if remote is not None else (root / str(source)),
        remote=remote,
        description=str(spec.get("description", "")),
        files=_files(ctx, cid, spec.get("files", []), root),
        exclude_files=_str_list(ctx, spec.get("exclude_files", []), "exclude_files", "exclude_files"),
        allowed_outbound_hosts=_str_list(ctx, hosts, "allowed_outbound_hosts", "allowed_outbound_hosts"),
        key_value_stores=_str_list(ctx, spec.get("key_value_stores", []), "key_value_stores", "key_value_stores"),
        sqlite_databases=_str_list(ctx, spec.get("sqlite_databases", []), "sqlite_databases", "sqlite_databases"),
        nn_models=_str_list(ctx, spec.get("nn_models", []), "nn_models", "nn_models"),
        variables=_str_map(ctx, spec.get("variables", {}), f"[component.{cid}.variables]",
                           f"[component.{cid}.variables]"),
        environment=_str_map(ctx, spec.get("environment", {}), "environment", "environment"),
        build=build,
        limits=_limits(ctx, spec.get("limits", {}), f"[component.{cid}.limits]"),
        **_tee_grants(ctx, cid, spec),
        ai_models=_str_list(ctx, spec.get("ai_models", []), "ai_models", "ai_models"),  # llm capability
    )


def _tee_grants(ctx: _Ctx, cid: str, spec: Mapping[str, Any]) -> dict[str, bool]:
    """`sealing` / `attestation`: true or false (absent = false: denied by default)."""
    grants = {}
    for key in ("sealing", "attestation"):
        value = spec.get(key, False)
        if not isinstance(value, bool):
            raise ctx.error(f"component `{cid}`: {key} must be true or false", f"{key} ", table=f"[component.{cid}]",
                            key=key)
        grants[key] = value
    return grants


def _http_trigger(ctx: _Ctx, i: int, entry: Any, components: dict[str, ComponentConfig], root: Path) -> HttpTrigger:
    needle = "[[trigger.http]]"
    if not isinstance(entry, dict):
        raise ctx.error("each [[trigger.http]] must be a table", needle)
    ctx.check_keys(entry, _HTTP_TRIGGER, f"trigger #{i + 1}", needle, header=needle, nth=i)
    route = entry.get("route")
    private = False
    if isinstance(route, dict):
        if route != {"private": True}:
            raise ctx.error("route must be a path or `{ private = true }`", "route")
        private, route = True, None
    elif not isinstance(route, str) or not route.startswith("/"):
        raise ctx.error(f"trigger #{i + 1}: `route` must be a path starting with / (got {route!r})", "route", needle)
    comp = entry.get("component")
    static = None
    if "static_response" in entry:
        s = entry["static_response"]
        if not isinstance(s, dict):
            raise ctx.error("static_response must be a table", "static_response")
        ctx.check_keys(s, _STATIC, "static_response", "static_response")
        status = s.get("status_code", 200)
        body = s.get("body", "")
        if not isinstance(status, int) or not 100 <= status <= 599 or not isinstance(body, str):
            raise ctx.error("static_response needs an integer status_code (100-599) and a string body",
                            "static_response")
        static = StaticResponse(status, _str_map(ctx, s.get("headers", {}), "static_response.headers",
                                                 "static_response"), body.encode())
        if comp is not None:
            raise ctx.error("a trigger has either `component` or `static_response`, not both", "static_response")
    elif isinstance(comp, dict):
        cid = str(entry.get("id") or f"inline-component-{i + 1}")
        components[cid] = _component(ctx, cid, comp, root)
        comp = cid
    elif not isinstance(comp, str):
        raise ctx.error(f"trigger #{i + 1} ({route}) needs `component = \"id\"` or a static_response", needle)
    elif comp not in components:
        raise ctx.error(f"trigger for route {route} names component `{comp}`, which is not defined "
                        f"(defined: {', '.join(sorted(components)) or 'none'})", f'"{comp}"', "component")
    ex = entry.get("executor", {"type": "http"})
    if not isinstance(ex, dict):
        raise ctx.error("executor must be a table like { type = \"wagi\" }", "executor")
    ctx.check_keys(ex, _EXECUTOR, "executor", "executor")
    etype = ex.get("type", "http")
    if etype not in ("http", "wagi", "spin"):
        raise ctx.error(f"executor type {etype!r} is not supported (http or wagi)", "executor")
    executor = Executor("wagi" if etype == "wagi" else "http", str(ex.get("argv", "${SCRIPT_NAME} ${ARGS}")),
                        str(ex.get("entrypoint", "_start")))
    return HttpTrigger(route=route, private=private, component=comp, executor=executor, static_response=static,
                       id=str(entry.get("id", "")))


def _remote_source(ctx: _Ctx, cid: str, source: dict[str, Any], needle: str) -> tuple[str, str]:
    """Spin's `source = { url = "https://...", digest = "sha256:..." }` (downloaded at start-up, `_remote.py`)."""
    if "registry" in source or "package" in source:
        raise ctx.error(f"component `{cid}`: registry sources (source = {{ registry, package, version }}) are not "
                        "supported; use source = { url = \"https://...\", digest = \"sha256:...\" } or a local path",
                        "source", needle)
    url, digest = source.get("url"), source.get("digest")
    if set(source) != {"url", "digest"} or not isinstance(url, str) or not isinstance(digest, str):
        raise ctx.error(f"component `{cid}`: a remote source is {{ url = \"https://...\", digest = \"sha256:...\" }}",
                        "source", needle)
    if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
        raise ctx.error(f"component `{cid}`: source url {url!r} must be an http:// or https:// URL", "source", needle)
    if not DIGEST.match(digest):
        raise ctx.error(f"component `{cid}`: source digest {digest!r} must be \"sha256:<64 lowercase hex digits>\"",
                        "source", needle)
    return url, digest


def _cron_triggers(ctx: _Ctx, entries: Any, components: dict[str, ComponentConfig]) -> list[CronTrigger]:
    """`[[trigger.cron]]` entries: `component` (a defined id) and `cron_expression` (checked when `up` starts
    the schedule)."""
    needle = "[[trigger.cron]]"
    if not isinstance(entries, list):
        raise ctx.error("`trigger.cron` must be an array of tables ([[trigger.cron]])", "trigger.cron")
    out = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise ctx.error("each [[trigger.cron]] must be a table", needle)
        ctx.check_keys(entry, {"id", "component", "cron_expression"}, f"cron trigger #{i + 1}", needle,
                       header=needle, nth=i)
        comp, expr = entry.get("component"), entry.get("cron_expression")
        if not isinstance(expr, str) or not expr.strip():
            raise ctx.error(f"cron trigger #{i + 1} needs `cron_expression = \"sec min hour day month weekday\"`",
                            needle)
        if isinstance(comp, dict):
            cid = str(entry.get("id") or f"inline-cron-component-{i + 1}")
            components[cid] = _component(ctx, cid, comp, ctx.path.parent)
            comp = cid
        if not isinstance(comp, str) or comp not in components:
            raise ctx.error(f"cron trigger #{i + 1} names component {comp!r}, which is not defined (defined: "
                            f"{', '.join(sorted(components)) or 'none'})", needle)
        out.append(CronTrigger(comp, expr.strip()))
    return out
_REDIS_TRIGGER = {"id", "channel", "component", "address"}


def _redis_triggers(ctx: _Ctx, trig_app: Mapping[str, Any], triggers_all: Mapping[str, Any],
                    components: dict[str, ComponentConfig], root: Path) -> tuple[str | None, list[RedisTrigger]]:
    """`[application.trigger.redis] address` and the `[[trigger.redis]]` entries (Spin 2's shape; `address`
    and `channel` may hold `{{ variable }}`s, rendered at start-up; `component` may be an inline table)."""
    table = _table(ctx, trig_app, "redis", "[application.trigger.redis]")
    ctx.check_keys(table, {"address"}, "[application.trigger.redis]", "[application.trigger.redis]",
                   header="[application.trigger.redis]")
    app_address = table.get("address")
    if app_address is not None and not isinstance(app_address, str):
        raise ctx.error("[application.trigger.redis] address must be a string like \"redis://host:6379\"", "address")
    entries = triggers_all.get("redis", [])
    needle = "[[trigger.redis]]"
    if not isinstance(entries, list):
        raise ctx.error("`trigger.redis` must be an array of tables ([[trigger.redis]])", "trigger.redis")
    out = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise ctx.error("each [[trigger.redis]] must be a table", needle)
        ctx.check_keys(entry, _REDIS_TRIGGER, f"redis trigger #{i + 1}", needle, header=needle, nth=i)
        channel, comp, address = entry.get("channel"), entry.get("component"), entry.get("address", app_address)
        if not isinstance(channel, str) or not channel:
            raise ctx.error(f"redis trigger #{i + 1}: `channel` must be a non-empty string", "channel", needle)
        if isinstance(comp, dict):
            cid = str(entry.get("id") or f"inline-redis-component-{i + 1}")
            components[cid] = _component(ctx, cid, comp, root)
            comp = cid
        if not isinstance(comp, str) or comp not in components:
            raise ctx.error(f"redis trigger #{i + 1}: `component` must name a [component.<id>] table "
                            f"(got {comp!r})", "component", needle)
        if not isinstance(address, str) or not address:
            raise ctx.error(f"redis trigger #{i + 1}: no Redis address: set `address` here or in "
                            "[application.trigger.redis]", needle)
        out.append(RedisTrigger(channel, comp, address))
    return app_address, out


def _cross_check(ctx: _Ctx, cfg: AppConfig) -> None:
    """Rules that span tables: templates name declared variables."""
    for comp in cfg.components.values():
        for key, template in comp.variables.items():
            if not _VAR_NAME.match(key):
                raise ctx.error(f"component `{comp.id}`: variable name {key!r} is not valid", f"{key} ")
            for ref in re.findall(r"\{\{\s*([^}\s]*)\s*\}\}", template):
                if ref not in cfg.variables:
                    raise ctx.error(f"component `{comp.id}`: variable `{key}` uses {{{{ {ref} }}}}, which is not "
                                    "declared in [variables]", f"{key} ")
        for host in comp.allowed_outbound_hosts:
            for ref in re.findall(r"\{\{\s*([^}\s]*)\s*\}\}", host):
                if ref not in cfg.variables:
                    raise ctx.error(f"component `{comp.id}`: allowed_outbound_hosts uses {{{{ {ref} }}}}, which is "
                                    "not declared in [variables]", "allowed_outbound_hosts")
