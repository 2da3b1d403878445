"""The DApp HTTP JSON API (an ASGI app, mounted by `wasmhive up` or any ASGI server).

    GET  /contracts                          -> the canisters: name, id, methods
    GET  /contracts/<id|name>                -> one canister: methods with their Candid signatures
    POST /contracts/<id|name>/query/<method> -> run a query
    POST /contracts/<id|name>/update/<method>-> run an update (replied once durable)

Request body (JSON): `{"args": [...]}` (JSON values, converted by the method's Candid types) or
`{"candid": "(principal \\"aaaaa-aa\\", 5 : nat64)"}`. Callers are anonymous unless the request is
signed: `sender_pubkey` (hex DER Ed25519 key), `expiry` (ns since epoch) and `signature` (hex) over
`request_digest(...)`; the caller is then the key's self-authenticating principal. The expiry may be at
most `ContractLimits.max_ingress_expiry` ahead; a signed update is executed once: sent again before its
expiry, it gets the first reply (the request id, a hash of key and signed content, is kept with the log).
Response: `{"status": "replied", "reply": [...], "candid": "(...)"}` or
`{"status": "rejected", "reject_code": n, "reject_message": "..."}` (HTTP 200 either way; 4xx for bad
requests, unknown canisters or methods, bad signatures).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import SealingError, WasmhiveError
from ._candid_text import signature
from ._client import encode_args, reply_json, reply_text
from ._principal import ANONYMOUS, Identity, Principal, self_authenticating, verify_signature
from ._types import ContractLimits
from ._vm import ContractError, ContractVM

__all__ = ["ContractsApp", "mount_contracts", "request_digest", "sign_request"]

MAX_BODY = 2 * 1024 * 1024


def request_digest(kind: str, canister: str, method: str, arg: bytes, expiry: int) -> bytes:
    """What a caller signs: the call's kind, target, method, argument hash and expiry."""
    return hashlib.sha256(b"wasmhive-ingress\n" + f"{kind}\n{canister}\n{method}\n".encode()
                          + hashlib.sha256(arg).digest() + str(expiry).encode()).digest()


def sign_request(identity: Identity, kind: str, canister: str, method: str, arg: bytes,
                 ttl: float = 300.0) -> dict[str, Any]:
    """The auth fields of a signed request (add them to the JSON body)."""
    expiry = time.time_ns() + int(ttl * 1e9)
    sig = identity.sign(request_digest(kind, canister, method, arg, expiry))
    return {"sender_pubkey": identity.public_key_der.hex(), "expiry": expiry, "signature": sig.hex()}


class _HTTPError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class ContractsApp:
    """ASGI app serving the contract VM of `state_dir` (or a given `vm`) under `prefix`; `limits` are
    the `ContractLimits` of a VM it opens itself (e.g. a shorter `max_ingress_expiry`); `sealed` opens its
    state sealed at rest (a state directory's sealing never switches silently: a mismatch is a 503)."""

    def __init__(self, state_dir: str | Path = ".wasmhive", *, vm: ContractVM | None = None,
                 prefix: str = "/contracts", durability: str = "full", limits: ContractLimits | None = None,
                 sealed: bool = False) -> None:
        self.prefix = prefix.rstrip("/")
        self._state_dir = Path(state_dir)
        self._durability = durability
        self._limits = limits
        self._sealed = sealed
        self._vm = vm
        self._own_vm = vm is None
        self._open_lock = threading.Lock()

    @property
    def vm(self) -> ContractVM:
        with self._open_lock:
            if self._vm is None:
                if not (self._state_dir / "contracts.db").exists():
                    raise _HTTPError(404, f"no contracts deployed in {self._state_dir} "
                                          "(wasmhive contract deploy ...)")
                try:
                    self._vm = ContractVM(self._state_dir, durability=self._durability, limits=self._limits,
                                          sealed=self._sealed)
                except (ContractError, SealingError) as e:  # another process owns the state; a sealing refusal
                    raise _HTTPError(503, str(e)) from None
            return self._vm

    def close(self) -> None:
        """Close the VM if this app opened it (writes a checkpoint, releases the state directory)."""
        if self._vm is not None and self._own_vm:
            self._vm.close()
            self._vm = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                msg = await receive()
                if msg["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif msg["type"] == "lifespan.shutdown":
                    await asyncio.to_thread(self.close)
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        try:
            status, payload = await self._handle(scope, receive)
        except _HTTPError as e:
            status, payload = e.status, {"error": str(e)}
        except WasmhiveError as e:
            status, payload = 400, {"error": str(e)}
        body = json.dumps(payload).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    async def _handle(self, scope: dict[str, Any], receive: Any) -> tuple[int, Any]:
        path: str = scope["path"]
        if not (path == self.prefix or path.startswith(self.prefix + "/")):
            raise _HTTPError(404, "not found")
        parts = [p for p in path[len(self.prefix):].split("/") if p]
        method = scope["method"]
        vm = await asyncio.to_thread(lambda: self.vm)
        if not parts:
            if method != "GET":
                raise _HTTPError(405, "use GET")
            return 200, [{"name": c.name, "id": c.id.text, "methods": c.methods} for c in list(vm.canisters.values())]
        try:
            c = vm.canister(parts[0])
        except ContractError as e:
            raise _HTTPError(404, str(e)) from None
        if len(parts) == 1:
            sigs = {}
            for m in c.methods:
                sig = c.service.methods.get(m) if c.service else None
                sigs[m] = {"kind": c.export_kind(m),
                           "signature": signature(sig.args, sig.rets, sig.modes) if sig else None}
            return 200, {"name": c.name, "id": c.id.text, "methods": sigs, "cycles": c.cycles}
        if len(parts) != 3 or parts[1] not in ("query", "update"):
            raise _HTTPError(404, "use /contracts/<id>/query/<method> or /contracts/<id>/update/<method>")
        if method != "POST":
            raise _HTTPError(405, "use POST")
        kind, name = parts[1], parts[2]
        if name not in c.methods:
            raise _HTTPError(404, f"{c.name} has no method {name!r}")
        req = await _read_json(receive)
        if "args" in req:
            if not isinstance(req["args"], list):
                raise _HTTPError(400, "`args` must be a JSON array")
            arg = encode_args(c, name, json_args=req["args"])
        else:
            arg = encode_args(c, name, str(req.get("candid", "()")))
        caller, request_id, expiry = _caller(req, kind, c.id.text, name, arg, vm.limits.max_ingress_expiry)
        if kind == "query":
            r = await asyncio.to_thread(vm.query, c, name, arg, caller)
        else:
            r = await asyncio.to_thread(lambda: vm.update(c, name, arg, caller, request_id=request_id, expiry=expiry))
        if not r.ok:
            return 200, {"status": "rejected", "reject_code": r.reject_code, "reject_message": r.reject_message}
        return 200, {"status": "replied", "reply": reply_json(c, name, r.data), "candid": reply_text(c, name, r.data),
                     "instructions": r.instructions}


def _caller(req: dict[str, Any], kind: str, canister: str, method: str, arg: bytes,
            max_expiry: float) -> tuple[Principal, bytes | None, int]:
    """(caller, request id, expiry) of a request; anonymous requests have no id."""
    if "sender_pubkey" not in req:
        return ANONYMOUS, None, 0
    try:
        key = bytes.fromhex(req["sender_pubkey"])
        sig = bytes.fromhex(req["signature"])
        expiry = req["expiry"]
        if not isinstance(expiry, int) or isinstance(expiry, bool):
            raise TypeError
    except (KeyError, ValueError, TypeError):
        raise _HTTPError(400, "a signed request needs sender_pubkey, signature (hex) and expiry "
                              "(an integer, ns since the epoch)") from None
    now = time.time_ns()
    if expiry < now:
        raise _HTTPError(403, "the request has expired")
    if expiry > now + int(max_expiry * 1e9):
        raise _HTTPError(403, f"the request's expiry is more than {max_expiry:g} s ahead (the ingress expiry "
                              "limit): sign it with a shorter time to live")
    digest = request_digest(kind, canister, method, arg, expiry)
    if not verify_signature(key, sig, digest):
        raise _HTTPError(403, "bad signature")
    return self_authenticating(key), hashlib.sha256(b"wasmhive-request-id\n" + key + digest).digest(), expiry


async def _read_json(receive: Any) -> dict[str, Any]:
    chunks = []
    size = 0
    while True:
        msg = await receive()
        if msg["type"] == "http.disconnect":
            raise _HTTPError(400, "client went away")
        body = msg.get("body", b"")
        size += len(body)
        if size > MAX_BODY:
            raise _HTTPError(413, "request body too large")
        chunks.append(body)
        if not msg.get("more_body"):
            break
    raw = b"".join(chunks)
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as e:
        raise _HTTPError(400, f"body is not JSON: {e}") from None
    except RecursionError:
        raise _HTTPError(400, "body is not acceptable JSON: nested too deeply") from None
    except ValueError as e:  # e.g. an integer with more digits than Python converts
        raise _HTTPError(400, f"body is not acceptable JSON: {e}") from None
    if not isinstance(data, dict):
        raise _HTTPError(400, "body must be a JSON object")
    return data


class _Mounted:
    """`inner` with the contracts API under `prefix` (what `wasmhive up --contracts` serves).

    A path under the prefix goes to the contracts API unless `app_keeps(path)` says the inner app has a
    route for it that must win (`wasmhive up` passes its router's precedence, see `server/_serve.py`).
    """

    def __init__(self, inner: Any, contracts: ContractsApp, app_keeps: Callable[[str], bool] | None = None) -> None:
        self.inner = inner
        self.contracts = contracts
        self.app_keeps = app_keeps

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def _to_contracts(self, path: str) -> bool:
        prefix = self.contracts.prefix
        if not (path == prefix or path.startswith(prefix + "/")):
            return False
        return self.app_keeps is None or not self.app_keeps(path)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and self._to_contracts(scope["path"]):
            await self.contracts(scope, receive, send)
            return
        if scope["type"] == "lifespan":
            async def send_then_close(msg: dict[str, Any]) -> None:
                if msg["type"] == "lifespan.shutdown.complete":
                    await asyncio.to_thread(self.contracts.close)
                await send(msg)
            await self.inner(scope, receive, send_then_close)
            return
        await self.inner(scope, receive, send)


def mount_contracts(app: Any, state_dir: str | Path = ".wasmhive", prefix: str = "/contracts", *,
                    app_keeps: Callable[[str], bool] | None = None, sealed: bool = False) -> Any:
    """Wrap ASGI `app` so that `prefix` serves the contract VM of `state_dir` (opened on first use).

    `app_keeps(path)`: True for a path under `prefix` that `app` must still serve (its own route);
    without it the whole prefix belongs to the contracts API. `sealed`: the state is sealed at rest."""
    return _Mounted(app, ContractsApp(state_dir, prefix=prefix, sealed=sealed), app_keeps)
