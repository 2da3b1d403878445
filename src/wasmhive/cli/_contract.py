"""`wasmhive contract ...`: build, deploy, call, query, upgrade canisters; the log, verify, identities."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from ..errors import ConfigError
from ._common import fail


def _say(text: str) -> None:
    """One plain line on stdout (no wrapping: ids and paths stay copyable)."""
    sys.stdout.write(text + "\n")


def _vm(ctx: click.Context) -> Any:
    from ..contracts import ContractVM

    return ContractVM(ctx.obj["state"], durability=ctx.obj["durability"], sealed=ctx.obj["sealed"])


def _read_module(path: str) -> bytes:
    """A canister module from a `.wasm` or `.wat` file (text detected from the content), refusing a file
    larger than the VM would accept before reading it."""
    from ..contracts import ContractLimits
    from ..errors import InvalidModule
    from ..runtime._loader import to_binary

    limit = ContractLimits().max_module_size
    size = Path(path).stat().st_size
    if size > 4 * limit:  # text is larger than its binary: the exact check follows on the binary
        raise InvalidModule(f"{path} is {size:_} bytes, more than a canister module may be "
                            f"({limit:_} bytes, ContractLimits.max_module_size)")
    _kind, binary = to_binary(Path(path).read_bytes(), path)
    return binary


def _read_text(path: str, what: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError) as e:
        raise ConfigError(f"cannot read {what} {path}: {e}") from None


def _caller(ctx: click.Context, identity: str | None) -> Any:
    from ..contracts import ANONYMOUS, Identity

    ident = Identity.load(Path(ctx.obj["state"]) / "identities", identity)
    return ANONYMOUS if ident is None else ident.principal


@click.group()
@click.option("--state", default=".wasmhive", show_default=True, envvar="WASMHIVE_STATE",
              help="Directory holding the contract state.")
@click.option("--durability", type=click.Choice(["full", "normal", "off"]), default="full", show_default=True,
              help="full: fsync before each update is acknowledged; normal: survive kill -9, not an OS crash.")
@click.option("--sealed", is_flag=True, envvar="WASMHIVE_STATE_SEALED",
              help="The state is sealed at rest under the platform root key (a new directory becomes sealed; "
              "see docs/CONFIDENTIAL.md).")
@click.pass_context
def contract(ctx: click.Context, state: str, durability: str, sealed: bool) -> None:
    """Run Internet Computer canisters locally (Motoko, C, WAT): deploy, call, query, upgrade, verify."""
    ctx.obj = {"state": state, "durability": durability, "sealed": sealed}


@contract.command()
@click.argument("source", type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Output .wasm (default: beside the source).")
def build(source: str, output: str | None) -> None:
    """Compile a Motoko actor to canister Wasm (offline; writes X.wasm and X.did)."""
    from ..contracts import build_motoko

    src = Path(source)
    if src.suffix != ".mo":
        raise ConfigError("contract build compiles Motoko (.mo); build C/WAT canisters with their own toolchain")
    out = Path(output) if output else src.with_suffix(".wasm")
    wasm, _did = build_motoko(src, out)
    _say(f"built {out} ({len(wasm)} bytes) and {out.with_suffix('.did')}")


@contract.command()
@click.argument("wasm", type=click.Path(exists=True, dir_okay=False))
@click.option("--name", help="Canister name (default: the file name).")
@click.option("--arg", "arg_text", default="()", help="Init arguments in Candid text.")
@click.option("--cycles", type=int, default=None, help="Initial cycles balance.")
@click.option("--did", type=click.Path(exists=True, dir_okay=False), help="Candid interface (default: the module's).")
@click.option("--identity", help="Identity to deploy as (becomes the controller).")
@click.pass_context
def deploy(ctx: click.Context, wasm: str, name: str | None, arg_text: str, cycles: int | None, did: str | None,
           identity: str | None) -> None:
    """Install a canister module (.wasm or .wat)."""
    from ..contracts import encode, parse_args
    from ..contracts._types import DEFAULT_CYCLES

    data = _read_module(wasm)
    did_text = _read_text(did, "Candid interface") if did else None
    values, types = parse_args(arg_text)
    with _vm(ctx) as vm:
        if did_text is None and Path(wasm).with_suffix(".did").exists():
            did_text = _read_text(str(Path(wasm).with_suffix(".did")), "Candid interface")
        c = vm.deploy(data, name=name or Path(wasm).stem, arg=encode(types, values) if values else b"DIDL\0\0",
                      caller=_caller(ctx, identity), cycles=cycles or DEFAULT_CYCLES, did=did_text)
        _say(f"deployed {c.name} as {c.id.text} (methods: {', '.join(c.methods) or 'none'})")


def _call(ctx: click.Context, name: str, method: str, args: str | None, as_json: bool, identity: str | None,
          query: bool | None) -> None:
    from ..contracts import encode_args, reply_json, reply_text

    with _vm(ctx) as vm:
        c = vm.canister(name)
        if as_json:
            try:
                json_args = json.loads(args) if args else []
            except (ValueError, RecursionError) as e:
                raise ConfigError(f"ARGS is not a JSON array: {type(e).__name__}: {str(e)[:200]}") from None
            if not isinstance(json_args, list):
                raise ConfigError("ARGS must be a JSON array of the method's arguments")
            data = encode_args(c, method, json_args=json_args)
        else:
            data = encode_args(c, method, args or "()")
        caller = _caller(ctx, identity)
        if query is None:  # like `dfx canister call`: a query method is called as a query
            query = c.export_kind(method) in ("query", "composite_query")
        r = vm.query(c, method, data, caller) if query else vm.update(c, method, data, caller)
        if not r.ok:
            fail(f"rejected (code {r.reject_code}): {r.reject_message}", 1)
        if as_json:
            sys.stdout.write(json.dumps(reply_json(c, method, r.data)) + "\n")
        else:
            sys.stdout.write(reply_text(c, method, r.data) + "\n")


@contract.command()
@click.argument("name")
@click.argument("method")
@click.argument("args", required=False)
@click.option("--json", "as_json", is_flag=True, help="ARGS is a JSON array; print the reply as JSON.")
@click.option("--identity", help="Call as this identity (default: the selected one).")
@click.pass_context
def call(ctx: click.Context, name: str, method: str, args: str | None, as_json: bool, identity: str | None) -> None:
    """Call a method (an update, or a query if the method is one): ARGS in Candid text,
    e.g. '(principal "aaaaa-aa", 100 : nat64)'."""
    _call(ctx, name, method, args, as_json, identity, query=None)


@contract.command()
@click.argument("name")
@click.argument("method")
@click.argument("args", required=False)
@click.option("--json", "as_json", is_flag=True, help="ARGS is a JSON array; print the reply as JSON.")
@click.option("--identity", help="Query as this identity.")
@click.pass_context
def query(ctx: click.Context, name: str, method: str, args: str | None, as_json: bool, identity: str | None) -> None:
    """Run a query (never changes state)."""
    _call(ctx, name, method, args, as_json, identity, query=True)


@contract.command()
@click.argument("name")
@click.argument("wasm", type=click.Path(exists=True, dir_okay=False))
@click.option("--arg", "arg_text", default="()", help="post_upgrade arguments in Candid text.")
@click.option("--identity", help="A controller identity.")
@click.pass_context
def upgrade(ctx: click.Context, name: str, wasm: str, arg_text: str, identity: str | None) -> None:
    """Upgrade a canister to a new module, keeping its state (undone if the upgrade traps)."""
    from ..contracts import encode, parse_args

    values, types = parse_args(arg_text)
    data = _read_module(wasm)  # .wat as for deploy
    did = Path(wasm).with_suffix(".did")
    with _vm(ctx) as vm:
        c = vm.upgrade(name, data, arg=encode(types, values) if values else b"DIDL\0\0",
                       caller=_caller(ctx, identity),
                       did=_read_text(str(did), "Candid interface") if did.exists() else None)
        _say(f"upgraded {c.name} (version {c.version})")


@contract.command("list")
@click.pass_context
def list_(ctx: click.Context) -> None:
    """List the deployed canisters."""
    with _vm(ctx) as vm:
        for c in vm.canisters.values():
            _say(f"{c.name}\t{c.id.text}\tcycles={c.cycles}\tmethods={','.join(c.methods)}")


@contract.command()
@click.argument("name")
@click.pass_context
def info(ctx: click.Context, name: str) -> None:
    """Show a canister: id, module hash, cycles, version, and its Candid interface."""
    with _vm(ctx) as vm:
        c = vm.canister(name)
        sys.stdout.write(f"name:     {c.name}\nid:       {c.id.text}\nmodule:   sha256:{c.module_hash}\n"
                         f"cycles:   {c.cycles:_}\nversion:  {c.version}\n"
                         f"memory:   {len(c.shadow):_} bytes heap, {len(c.stable):_} bytes stable\n"
                         f"state:    {c.state_hash().hex()}\n")
        did = getattr(c, "did_text", None) or c.info.custom.get("icp:public candid:service") or \
            c.info.custom.get("icp:private candid:service")
        if did:
            text = did.decode("utf-8", "replace") if isinstance(did, bytes) else did
            sys.stdout.write("candid:\n" + "".join(f"  {line}\n" for line in text.strip().splitlines()))


@contract.command()
@click.argument("name", required=False)
@click.option("--limit", type=int, default=20, show_default=True, help="Show the last N entries.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.pass_context
def log(ctx: click.Context, name: str | None, limit: int, as_json: bool) -> None:
    """Show the hash-chained log (height, kind, canister, method, caller, hashes)."""
    import sqlite3

    from ..contracts import Principal
    from ..contracts._store import load_entries

    path = Path(ctx.obj["state"]) / "contracts.db"
    if not path.exists():
        fail(f"no contract state in {ctx.obj['state']}")
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    entries = load_entries(db)
    db.close()
    if name is not None:
        # Read-only: resolve the name from the install entries (a running server may hold the VM).
        ids = {e.canister for e in entries if e.kind == "install" and name in (e.method, e.canister)}
        if not ids:
            fail(f"no canister named {name} in the log")
        entries = [e for e in entries if e.canister in ids]
    for e in entries[-limit:]:
        row = {"height": e.height, "kind": e.kind, "canister": e.canister, "method": e.method,
               "caller": Principal(e.caller).text, "arg_hash": e.arg_hash().hex(), "reply_hash": e.reply_hash.hex(),
               "state_hash": e.state_hash.hex(), "instructions": e.instructions, "hash": e.hash.hex()}
        if as_json:
            sys.stdout.write(json.dumps(row) + "\n")
        else:
            sys.stdout.write(f"{e.height:>6} {e.kind:<8} {e.canister} {e.method:<16} caller={row['caller']} "
                             f"instr={e.instructions} state={e.state_hash.hex()[:16]} hash={e.hash.hex()[:16]}\n")


@contract.command()
@click.argument("name", required=False)
@click.pass_context
def verify(ctx: click.Context, name: str | None) -> None:
    """Replay the log from the modules and check every state hash (exit 1 on any mismatch)."""
    from ..contracts import verify as run_verify

    report = run_verify(ctx.obj["state"], name)
    if not report.ok:
        fail(f"verification FAILED at height {report.height}: {report.problem}", 1)
    for n, h in sorted(report.state_hashes.items()):
        _say(f"{n}\tstate {h}")
    _say(f"verified: {report.height} log entries replayed, every state hash matches")


@contract.command()
@click.argument("name")
@click.argument("amount", type=click.IntRange(1))
@click.pass_context
def deposit(ctx: click.Context, name: str, amount: int) -> None:
    """Top up a canister's cycles balance."""
    with _vm(ctx) as vm:
        vm.deposit_cycles(name, amount)
        _say(f"{vm.canister(name).name}: {vm.canister(name).cycles:_} cycles")


@contract.command()
@click.pass_context
def tick(ctx: click.Context) -> None:
    """Run the timers that are due."""
    with _vm(ctx) as vm:
        _say(f"{vm.tick()} timer(s) fired")


@contract.group()
def identity() -> None:
    """Ed25519 identities (self-authenticating principals, like dfx identities)."""


def _id_dir(ctx: click.Context) -> Path:
    return Path(ctx.obj["state"]) / "identities"


@identity.command("new")
@click.argument("name")
@click.pass_context
def identity_new(ctx: click.Context, name: str) -> None:
    """Create an identity (a new Ed25519 key)."""
    from ..contracts import Identity

    if name == "anonymous":
        raise ConfigError("'anonymous' is reserved")
    ident = Identity(name)
    path = ident.save(_id_dir(ctx))
    _say(f"created identity {name}: {ident.principal.text} ({path})")


@identity.command("use")
@click.argument("name")
@click.pass_context
def identity_use(ctx: click.Context, name: str) -> None:
    """Select the identity used by default (or 'anonymous')."""
    from ..contracts import Identity

    d = _id_dir(ctx)
    if name != "anonymous":
        Identity.load(d, name)
    d.mkdir(parents=True, exist_ok=True)
    (d / "default").write_text(name + "\n")
    _say(f"using identity {name}")


@identity.command("show")
@click.argument("name", required=False)
@click.pass_context
def identity_show(ctx: click.Context, name: str | None) -> None:
    """Print the principal of the selected (or named) identity."""
    from ..contracts import ANONYMOUS, Identity

    ident = Identity.load(_id_dir(ctx), name)
    sys.stdout.write((ANONYMOUS if ident is None else ident.principal).text + "\n")


@identity.command("list")
@click.pass_context
def identity_list(ctx: click.Context) -> None:
    """List identities."""
    from ..contracts._principal import current_identity_name

    d = _id_dir(ctx)
    cur = current_identity_name(d)
    for n in ["anonymous", *sorted(p.stem for p in d.glob("*.pem"))] if d.exists() else ["anonymous"]:
        _say(("* " if n == cur else "  ") + n)
