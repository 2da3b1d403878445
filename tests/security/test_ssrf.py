"""Outbound requests cannot be steered at the host or its network through DNS.

The attack that once worked: an allowed host *name* that resolves to a loopback or private address was
reached (a DNS rebinding of an allowed public name reaches the host's own services). Now only a rule
that names the IP literal (or `localhost`) reaches such addresses; a name that resolves there is
denied; Spin's behaviour is an explicit operator opt-in.

The name used here is the machine's own host name, which resolves (through /etc/hosts or DNS) to a
local address without any network: a real resolution, not a test seam.
"""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path
from typing import Any

import pytest

from wasmhive.app._manifest import parse_manifest
from wasmhive.capabilities import AppCapabilities
from wasmhive.capabilities.outbound_http import OutboundPolicy
from wasmhive.errors import ConfigError
from wasmhive.http import HttpApp
from wasmhive.http._types import Request

pytest_plugins = ("http_fixtures",)

DENIED = "error: ErrorCode_DestinationIpProhibited"


@pytest.fixture(scope="module")
def local_name() -> str:
    """A host name (not an IP literal, not `localhost`) that resolves to a non-global address here."""
    name = socket.gethostname()
    try:
        addrs = {i[4][0] for i in socket.getaddrinfo(name, 80, type=socket.SOCK_STREAM)}
    except socket.gaierror:
        pytest.skip(f"the host name {name!r} does not resolve on this machine")
    if name == "localhost" or not any(not ipaddress.ip_address(a.split("%")[0]).is_global for a in addrs):
        pytest.skip(f"the host name {name!r} resolves to no local address ({addrs})")
    return name


def _get(new_executor: Any, policy: OutboundPolicy, url: str) -> str:
    with HttpApp([("/...", new_executor(outbound=policy))]) as app:
        return str(app.handle(Request("GET", "/outbound", f"url={url}")).text)


def test_an_allowed_name_resolving_to_loopback_is_denied(new_executor: Any, outbound_target: str,
                                                         local_name: str) -> None:
    port = outbound_target.rsplit(":", 1)[1]
    target = f"http://{local_name}:{port}"
    # The rule allows the name itself, by name: the resolved address (loopback) is still refused.
    assert _get(new_executor, OutboundPolicy.parse([target]), f"{target}/x") == DENIED
    # ... and so does a wildcard.
    assert _get(new_executor, OutboundPolicy.parse(["http://*:*"]), f"{target}/x") == DENIED


def test_the_ip_literal_or_localhost_reaches_loopback(new_executor: Any, outbound_target: str) -> None:
    port = outbound_target.rsplit(":", 1)[1]
    assert _get(new_executor, OutboundPolicy.parse([outbound_target]), f"{outbound_target}/x").startswith(
        "200\ntarget /x")
    local = f"http://localhost:{port}"
    assert _get(new_executor, OutboundPolicy.parse([local]), f"{local}/y").startswith("200\ntarget /y")


def test_the_operator_opt_in_restores_spins_behaviour(new_executor: Any, outbound_target: str,
                                                      local_name: str) -> None:
    port = outbound_target.rsplit(":", 1)[1]
    target = f"http://{local_name}:{port}"
    policy = OutboundPolicy.parse([target], allow_private=True)
    assert _get(new_executor, policy, f"{target}/z").startswith("200\ntarget /z")


def _caps(tmp_path: Path, runtime_config: str, *, trusted: bool) -> AppCapabilities:
    manifest = '[component.a]\nsource = "a.wasm"\nallowed_outbound_hosts = ["https://api.example.com"]\n'
    cfg = parse_manifest(manifest, tmp_path / "wasmhive.toml")
    import tomllib

    cfg.runtime.runtime_config = tomllib.loads(runtime_config)
    cfg.runtime.runtime_config_path = tmp_path / "runtime-config.toml"
    cfg.runtime.runtime_config_trusted = trusted
    return AppCapabilities(cfg)


def test_only_the_operator_can_opt_in(tmp_path: Path) -> None:
    opt_in = "[outbound_http]\nallow_private_addresses = true\n"
    with pytest.raises(ConfigError, match="an app cannot grant it to itself"):
        _caps(tmp_path, opt_in, trusted=False)
    caps = _caps(tmp_path, opt_in, trusted=True)
    try:
        policy = caps.state("outbound_http")["a"]
        assert policy.allow_private and policy.allows_address("https", "api.example.com", "10.0.0.5")
    finally:
        caps.close()
    with pytest.raises(ConfigError, match="must be true or false"):
        _caps(tmp_path, '[outbound_http]\nallow_private_addresses = "yes"\n', trusted=True)
    with pytest.raises(ConfigError, match="unknown field"):
        _caps(tmp_path, "[outbound_http]\nallow_everything = true\n", trusted=True)


@pytest.mark.parametrize(("rule", "host", "ip", "ok"), [
    ("https://api.example.com", "api.example.com", "93.184.216.34", True),   # public: fine
    ("https://api.example.com", "api.example.com", "127.0.0.1", False),      # rebound to loopback
    ("https://api.example.com", "api.example.com", "169.254.169.254", False),  # cloud metadata
    ("https://api.example.com", "api.example.com", "10.1.2.3", False),
    ("https://api.example.com", "api.example.com", "::ffff:127.0.0.1", False),  # IPv4-mapped loopback
    ("https://api.example.com", "api.example.com", "64:ff9b::a9fe:a9fe", False),  # NAT64 of metadata
    ("https://api.example.com", "api.example.com", "2002:7f00:1::", False),    # 6to4 of loopback
    ("https://api.example.com", "api.example.com", "fe80::1%eth0", False),
    ("https://api.example.com", "api.example.com", "0.0.0.0", False),
    ("https://*.example.com", "api.example.com", "192.168.1.1", False),
    ("https://127.0.0.1", "127.0.0.1", "127.0.0.1", True),                    # the literal itself
    ("https://10.0.0.0/8", "10.1.2.3", "10.1.2.3", True),                     # a network, literally
    ("https://localhost", "localhost", "127.0.0.1", True),
    ("https://localhost", "localhost", "::1", True),
    ("https://localhost", "localhost", "10.0.0.1", False),                    # localhost means loopback
])
def test_address_rules(rule: str, host: str, ip: str, ok: bool) -> None:
    assert OutboundPolicy.parse([rule]).allows_address("https", host, ip) is ok
