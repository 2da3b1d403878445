"""`wasmhive measure`, `wasmhive sign`, `wasmhive attest` and `wasmhive attest verify` (wasmhive.tee)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from ..errors import ConfigError
from ._common import WasmhiveGroup


def _key_dir(key_dir: str | None) -> Path:
    """The platform key directory: --key-dir, else $WASMHIVE_TEE_KEY_DIR, else ./.wasmhive/tee (the app here)."""
    if key_dir:
        return Path(key_dir)
    env = os.environ.get("WASMHIVE_TEE_KEY_DIR")
    return Path(env) if env else Path(".wasmhive") / "tee"


def _hex(text: str, what: str) -> bytes:
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise ConfigError(f"{what} must be hex, got {text[:40]!r}") from None


@click.command("measure")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print measurement and signer as JSON.")
def measure_cmd(file: str, as_json: bool) -> None:
    """Print the measurement of FILE (SHA-256 of its binary), and its signer if FILE.signer.json verifies."""
    from ..tee import identity_of, measure, signer_manifest_path

    ident = identity_of(measure(file), signer_manifest_path(file))
    if as_json:
        click.echo(json.dumps({"measurement": ident.measurement, "signer": ident.signer,
                               "security_version": ident.security_version}))
        return
    click.echo(ident.measurement)
    if ident.signer is not None:
        click.echo(f"signer {ident.signer} security_version {ident.security_version}", err=True)


@click.command("sign")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--key", "key_path", required=True, type=click.Path(dir_okay=False),
              help="The signer's Ed25519 private key (PEM, mode 0600).")
@click.option("--security-version", "svn", type=int, default=0, show_default=True,
              help="Raise it with every release that fixes a security bug.")
@click.option("--new-key", is_flag=True, help="Create the key (mode 0600) if it does not exist.")
@click.option("-o", "--out", default=None, help="Where to write the signer manifest [default: FILE.signer.json].")
def sign_cmd(file: str, key_path: str, svn: int, new_key: bool, out: str | None) -> None:
    """Sign FILE's measurement: write a signer manifest (the same-signer sealing policy's identity)."""
    from ..tee import load_signer_key, measure, sign_measurement, signer_id, signer_manifest_path

    measurement = measure(file)
    key = load_signer_key(key_path, create=new_key)
    doc = sign_measurement(key, measurement, svn)
    dest = Path(out) if out else signer_manifest_path(file)
    dest.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    click.echo(f"signer {signer_id(key.public_key())} security_version {svn} -> {dest}")


class _AttestGroup(WasmhiveGroup):
    """`attest FILE ...` makes evidence; `attest verify ...` and `attest key` are subcommands."""

    def resolve_command(self, ctx: click.Context, args: list[str]) -> tuple[str | None, click.Command | None,
                                                                             list[str]]:
        if args and args[0] in self.commands:
            return super().resolve_command(ctx, args)
        return "make", self.commands["make"], args

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Usage forms"):
            formatter.write_dl([("attest FILE --nonce HEX", "evidence for FILE (signed by the platform key)"),
                                ("attest verify EVIDENCE ...", "check evidence (signature, nonce, measurement)"),
                                ("attest key", "print the platform's attestation public key (PEM)")])


@click.group("attest", cls=_AttestGroup, invoke_without_command=False)
def attest() -> None:
    """Attestation evidence: make it for a module, verify it, or print the platform's public key."""


@attest.command("make", hidden=True)
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--nonce", required=True, help="The relying party's nonce (hex, 1..64 bytes).")
@click.option("--user-data", default="", help="Data to bind into the evidence (hex, at most 1024 bytes).")
@click.option("--key-dir", default=None, help="Platform key directory [default: $WASMHIVE_TEE_KEY_DIR or "
              "./.wasmhive/tee].")
def attest_make(file: str, nonce: str, user_data: str, key_dir: str | None) -> None:
    """Print evidence for FILE: its measurement (and signer), bound to NONCE, signed by the platform."""
    from ..tee import identity_of, make_evidence, measure, platform_keys, signer_manifest_path

    ident = identity_of(measure(file), signer_manifest_path(file))
    keys = platform_keys({k: v for k, v in os.environ.items() if k != "WASMHIVE_TEE_KEY_DIR"}, _key_dir(key_dir))
    click.echo(make_evidence(keys, ident, _hex(nonce, "--nonce"), _hex(user_data, "--user-data"),
                             {"issued_by": "wasmhive attest", "file": Path(file).name}))


@attest.command("key")
@click.option("--key-dir", default=None, help="Platform key directory [default: $WASMHIVE_TEE_KEY_DIR or "
              "./.wasmhive/tee].")
def attest_key(key_dir: str | None) -> None:
    """Print the platform's attestation public key (PEM): what relying parties pin."""
    from ..tee import platform_keys, public_key_text

    keys = platform_keys({k: v for k, v in os.environ.items() if k != "WASMHIVE_TEE_KEY_DIR"}, _key_dir(key_dir))
    click.echo(public_key_text(keys.public_key), nl=False)


@attest.command("verify")
@click.argument("evidence")
@click.option("--public-key", "public_key", required=True, type=click.Path(dir_okay=False),
              help="The platform's attestation public key (PEM), from `wasmhive attest key`.")
@click.option("--nonce", required=True, help="The nonce you sent (hex).")
@click.option("--expect-measurement", default=None, help="The measurement the code must have.")
@click.option("--expect-signer", default=None, help="The signer id the code must have.")
@click.option("--min-security-version", type=int, default=None, help="The lowest acceptable security version.")
@click.option("--max-age", type=float, default=300.0, show_default=True, help="Seconds the evidence stays fresh.")
def attest_verify(evidence: str, public_key: str, nonce: str, expect_measurement: str | None,
                  expect_signer: str | None, min_security_version: int | None, max_age: float) -> None:
    """Verify EVIDENCE (a token, a file holding one, or - for stdin); print its claims as JSON."""
    from ..tee import load_public_key, parse_measurement, verify_evidence

    if evidence == "-":
        token = sys.stdin.read()
    elif evidence.count(".") == 2 and "/" not in evidence:  # a token itself (a JWS compact serialization)
        token = evidence
    else:
        try:
            token = Path(evidence).read_text(encoding="utf-8", errors="replace")
        except OSError as e:
            raise ConfigError(f"{evidence}: cannot read evidence: {e.strerror}") from None
    try:
        pem = Path(public_key).read_bytes()
    except OSError as e:
        raise ConfigError(f"{public_key}: cannot read the public key: {e.strerror}") from None
    expect: dict[str, Any] = {}
    if expect_measurement is not None:
        expect["expect_measurement"] = parse_measurement(expect_measurement, "--expect-measurement")
    if expect_signer is not None:
        expect["expect_signer"] = parse_measurement(expect_signer, "--expect-signer")
    ev = verify_evidence(token, load_public_key(pem), nonce=_hex(nonce, "--nonce"),
                         min_security_version=min_security_version, max_age=max_age, **expect)
    click.echo(json.dumps(ev.claims, indent=2, sort_keys=True))
