"""Variables: providers, templates, required/default/secret, and outbound host policies."""

from __future__ import annotations

from pathlib import Path

import pytest

from app_fixtures import write_app
from wasmhive.app import RuntimeOptions
from wasmhive.capabilities.outbound_http import OutboundPolicy
from wasmhive.capabilities.variables import resolve
from wasmhive.errors import ConfigError

APP = """\
[variables]
region = { default = "eu" }
token = { required = true, secret = true }
host = { default = "api.example.com" }

[component.a]
source = "a.wasm"
allowed_outbound_hosts = ["https://{{ host }}", "http://127.0.0.1:*"]
[component.a.variables]
greeting = "hi from {{ region }}"
token = "{{token}}"
[component.b]
source = "b.wasm"
"""


def test_provider_precedence(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("# comment\nregion=dotenv\nWASMHIVE_VARIABLE_TOKEN='from-dotenv'\n")
    cfg = write_app(tmp_path, APP, runtime=RuntimeOptions(environ={"SPIN_VARIABLE_TOKEN": "from-env"}))
    r = resolve(cfg)
    assert r.app_values == {"region": "dotenv", "token": "from-env", "host": "api.example.com"}
    assert r.component("a") == {"greeting": "hi from dotenv", "token": "from-env"}
    assert r.component("b") == {}
    assert "from-env" not in repr(r)  # secrets never printed
    cfg.runtime = RuntimeOptions(variables={"token": "cli", "region": "cli"},
                                 environ={"WASMHIVE_VARIABLE_TOKEN": "env", "WASMHIVE_VARIABLE_REGION": "env"})
    r = resolve(cfg)
    assert r.app_values["token"] == "cli" and r.app_values["region"] == "cli"


def test_missing_required_variable_is_a_clear_startup_error(tmp_path: Path) -> None:
    cfg = write_app(tmp_path, APP, runtime=RuntimeOptions(environ={}))
    with pytest.raises(ConfigError, match=r"missing required variable: token \(set WASMHIVE_VARIABLE_TOKEN"):
        resolve(cfg)


def test_unknown_cli_variable(tmp_path: Path) -> None:
    cfg = write_app(tmp_path, APP, runtime=RuntimeOptions(variables={"nope": "1", "token": "t"}, environ={}))
    with pytest.raises(ConfigError, match="--variable nope: the app declares no such variable"):
        resolve(cfg)


def test_bad_dotenv_line(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("ok=1\nthis is not an assignment\n")
    cfg = write_app(tmp_path, APP, runtime=RuntimeOptions(environ={"WASMHIVE_VARIABLE_TOKEN": "t"}))
    with pytest.raises(ConfigError, match=r"\.env:2: expected NAME=value"):
        resolve(cfg)


@pytest.mark.parametrize(("rule", "scheme", "host", "port", "ok"), [
    ("https://example.com", "https", "example.com", 443, True),
    ("https://example.com", "http", "example.com", 80, False),
    ("https://example.com", "https", "example.com", 8443, False),
    ("https://example.com", "https", "evil.com", 443, False),
    ("https://*.example.com", "https", "api.example.com", 443, True),
    ("https://*.example.com", "https", "example.com", 443, False),
    ("https://*.example.com", "https", "badexample.com", 443, False),
    ("http://localhost:*", "http", "localhost", 9999, True),
    ("http://h:8000..8010", "http", "h", 8005, True),
    ("http://h:8000..8010", "http", "h", 8011, False),
    ("*://h:443", "https", "h", 443, True),
    ("https://*", "https", "anything.org", 443, True),
    ("http://10.0.0.0/8:*", "http", "10.1.2.3", 80, True),
    ("http://10.0.0.0/8:*", "http", "11.1.2.3", 80, False),
    ("http://[::1]:8080", "http", "::1", 8080, True),
    ("redis://cache", "redis", "cache", 6379, True),
])
def test_outbound_rules(rule: str, scheme: str, host: str, port: int, ok: bool) -> None:
    assert OutboundPolicy.parse([rule]).allows(scheme, host, port) is ok


def test_outbound_default_deny_and_private_addresses() -> None:
    assert not OutboundPolicy().allows("https", "example.com")
    wild = OutboundPolicy.parse(["https://*", "http://127.0.0.1:8080"])
    assert wild.allows_address("https", "example.com", "93.184.216.34", 443)
    assert not wild.allows_address("https", "sneaky.example", "127.0.0.1", 443)  # wildcard: no loopback
    assert not wild.allows_address("https", "sneaky.example", "10.0.0.1", 443)
    assert wild.allows_address("http", "127.0.0.1", "127.0.0.1", 8080)  # explicitly named
    assert OutboundPolicy.parse(["self"]).allows_self()


@pytest.mark.parametrize(("rule", "message"), [
    ("example.com", "needs a scheme"),
    ("https://example.com/path", "must not contain a path"),
    ("https://ex*mple.com", "only a leading"),
    ("foo://example.com", "give a port"),
    ("http://h:99999", "bad port"),
    ("https://{{ nope }}", "names no application variable"),
])
def test_outbound_bad_rules(rule: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        OutboundPolicy.parse([rule])


def test_outbound_templates_from_variables(tmp_path: Path) -> None:
    from wasmhive.capabilities import AppCapabilities

    cfg = write_app(tmp_path, APP, runtime=RuntimeOptions(environ={"WASMHIVE_VARIABLE_TOKEN": "t",
                                                                   "WASMHIVE_VARIABLE_HOST": "other.org"}))
    caps = AppCapabilities(cfg)
    try:
        policy = caps.instance("a").states["outbound_http"]
        assert policy.allows("https", "other.org", 443) and not policy.allows("https", "api.example.com", 443)
        assert not caps.instance("b").states["outbound_http"].allows("https", "other.org", 443)
    finally:
        caps.close()
