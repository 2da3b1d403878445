"""Spin manifest version 1 (`spin_manifest_version = "1"`, or the older `spin_version = "1"`), converted
to the version 2 document `_manifest` reads, the way Spin converts it (`spin-manifest`'s v1-to-v2 compat).

    name / version / description / authors          -> [application]
    trigger = { type = "http", base = "/" }          -> [application.trigger.http] base
    [[component]] id = "x" ...                       -> [component.x] ...
    [component.trigger] route / executor             -> [[trigger.http]] id = "trigger-x", component = "x"
    [component.config]                               -> [component.x.variables]
    allowed_http_hosts                               -> allowed_outbound_hosts (http:// and https:// each;
                                                        "insecure:allow-all" = any host, and `self`)

As in Spin, a v1 component without `allowed_outbound_hosts` may also reach any Redis, MySQL and
PostgreSQL host (v1 had no way to say which); our address policy still applies to those.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

__all__ = ["is_v1", "v1_to_v2"]

_TOP = {"spin_manifest_version", "spin_version", "name", "version", "description", "authors", "trigger",
        "variables", "component"}
_COMPONENT = {"id", "source", "trigger", "description", "config", "environment", "files", "exclude_files",
              "allowed_http_hosts", "allowed_outbound_hosts", "key_value_stores", "sqlite_databases", "ai_models",
              "build"}
# Same meaning, same name in v2.
_KEPT = ("source", "description", "environment", "files", "exclude_files", "key_value_stores", "sqlite_databases",
         "ai_models", "build")
_DATABASES = ["redis://*:*", "mysql://*:*", "postgres://*:*"]


def is_v1(doc: dict[str, Any]) -> bool:
    """Whether `doc` is a version 1 Spin manifest."""
    version = doc.get("spin_manifest_version", doc.get("spin_version"))
    return version in ("1", 1) and ("spin_manifest_version" in doc or "spin_version" in doc)


def _hosts(ctx: Any, cid: str, entries: Any) -> list[str]:
    if not isinstance(entries, list) or not all(isinstance(e, str) for e in entries):
        raise ctx.error(f"component `{cid}`: allowed_http_hosts must be a list of strings", "allowed_http_hosts")
    if "insecure:allow-all" in entries:
        return ["http://*:*", "https://*:*", "http://self"]
    out: list[str] = []
    for entry in entries:
        if entry == "self":
            out.append("http://self")
            continue
        parts = urlsplit(entry if "//" in entry else f"http://{entry}")
        try:
            port = parts.port
        except ValueError:
            port = -1
        if parts.scheme not in ("http", "https") or not parts.hostname or port == -1 or parts.path not in ("", "/"):
            raise ctx.error(f"component `{cid}`: allowed_http_hosts entry {entry!r} is not a host, host:port or "
                            "http(s) URL without a path", "allowed_http_hosts")
        host = parts.netloc.rpartition("@")[2]  # host[:port] as written
        out += [f"http://{host}", f"https://{host}"]
    return out


def v1_to_v2(doc: dict[str, Any], ctx: Any) -> dict[str, Any]:
    """The version 2 document for v1 manifest `doc` (errors point at the v1 text through `ctx`)."""
    ctx.check_keys(doc, _TOP, "manifest (version 1)", header="")
    trigger = doc.get("trigger")
    if not isinstance(trigger, dict) or not isinstance(trigger.get("type"), str):
        raise ctx.error('a version 1 manifest needs `trigger = { type = "http", base = "/" }`', "trigger")
    if trigger["type"] != "http":
        raise ctx.error(f"trigger type {trigger['type']!r} is not supported (only http)", "trigger")
    app: dict[str, Any] = {k: doc[k] for k in ("name", "version", "description", "authors") if k in doc}
    app["trigger"] = {"http": {k: v for k, v in trigger.items() if k != "type"}}
    components: dict[str, Any] = {}
    triggers: list[dict[str, Any]] = []
    entries = doc.get("component", [])
    if not isinstance(entries, list):
        raise ctx.error("components are an array of tables ([[component]])", "[component")
    for i, comp in enumerate(entries):
        if not isinstance(comp, dict) or not isinstance(comp.get("id"), str) or not comp["id"]:
            raise ctx.error(f"[[component]] #{i + 1} needs `id = \"...\"`", "[[component]]", nth=i)
        # Spin fixes the two likely problems of an old id: under_scores and MixedCase.
        cid = comp["id"].replace("_", "-").lower()
        ctx.check_keys(comp, _COMPONENT, f"component `{cid}`", "[[component]]", header="[[component]]", nth=i)
        if cid in components:
            raise ctx.error(f"two components have the id {cid!r}", f'"{comp["id"]}"')
        spec = {k: comp[k] for k in _KEPT if k in comp}
        if "config" in comp:
            spec["variables"] = comp["config"]
        hosts = _hosts(ctx, cid, comp.get("allowed_http_hosts", []))
        given = comp.get("allowed_outbound_hosts")
        spec["allowed_outbound_hosts"] = [*given, *hosts] if isinstance(given, list) else [*_DATABASES, *hosts]
        components[cid] = spec
        ctrig = comp.get("trigger")
        if not isinstance(ctrig, dict):
            raise ctx.error(f"component `{cid}` needs a [component.trigger] table with a `route`",
                            "[[component]]", nth=i)
        triggers.append({"id": f"trigger-{cid}", "component": cid, **ctrig})
    return {"spin_manifest_version": 2, "application": app, "variables": doc.get("variables", {}),
            "component": components, "trigger": {"http": triggers}}
