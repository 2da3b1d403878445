"""The DApp JSON API over real HTTP (uvicorn on loopback): queries, durable updates, signed callers."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from wasmhive.contracts import ContractVM, Identity, encode_args
from wasmhive.contracts._asgi import ContractsApp, sign_request
from wasmhive.runtime import Runtime


@pytest.fixture
def server(tmp_path: Path, runtime: Runtime, canisters: dict[str, bytes]) -> Iterator[tuple[str, ContractVM, Identity]]:
    owner = Identity("owner")
    vm = ContractVM(tmp_path, runtime=runtime)
    vm.deploy(canisters["token"], name="token", caller=owner.principal)
    app = ContractsApp(vm=vm)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    t = threading.Thread(target=srv.run, daemon=True)
    t.start()
    deadline = time.monotonic() + 10
    while not srv.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}", vm, owner
    finally:
        srv.should_exit = True
        t.join(5)
        vm.close()


def test_http_query_update_and_signed_caller(server: tuple[str, ContractVM, Identity]) -> None:
    base, vm, owner = server
    token = vm.canister("token")
    with httpx.Client(base_url=base) as client:
        listing = client.get("/contracts").json()
        assert listing[0]["name"] == "token" and "transfer" in listing[0]["methods"]
        methods = client.get(f"/contracts/{token.id.text}").json()["methods"]
        assert methods["getBalance"] == {"kind": "query", "signature": "(principal) -> (nat64) query"}
        assert methods["transfer"]["signature"] == "(principal, nat64) -> (variant { ok : nat64; err : text; })"
        # An anonymous mint is refused by the canister (a reject, not an HTTP error).
        r = client.post("/contracts/token/update/mint", json={"args": [owner.principal.text, 500]})
        assert r.status_code == 200 and r.json()["status"] == "rejected"
        # Signed by the controller's key: the caller is its self-authenticating principal.
        arg = encode_args(token, "mint", json_args=[owner.principal.text, 500])
        body = {"args": [owner.principal.text, 500],
                **sign_request(owner, "update", token.id.text, "mint", arg)}
        r = client.post(f"/contracts/{token.id.text}/update/mint", json=body)
        assert r.json() == {"status": "replied", "reply": [500], "candid": "(500 : nat64)",
                            "instructions": r.json()["instructions"]}
        r = client.post("/contracts/token/query/getBalance", json={"candid": f'(principal "{owner.principal.text}")'})
        assert r.json()["reply"] == [500]
        # A signature for other arguments does not authenticate this request.
        body["args"] = [owner.principal.text, 501]
        assert client.post(f"/contracts/{token.id.text}/update/mint", json=body).status_code == 403
        assert client.post("/contracts/nope/query/x", json={}).status_code == 404
        assert client.post("/contracts/token/query/nope", json={}).status_code == 404
        assert client.post("/contracts/token/query/getBalance", content=b"{").status_code == 400
        r = client.post("/contracts/token/query/getBalance", json={"args": ["not-a-principal"]})
        assert r.status_code == 400 and "principal" in r.json()["error"]
        r = client.post("/contracts/token/update/transfer", json={"args": [owner.principal.text, 1]})
        assert r.json()["reply"] == [{"err": "insufficient funds: balance 0, transfer 1"}]


async def _inner(scope: dict, receive: object, send: object) -> None:  # type: ignore[type-arg]
    if scope["type"] == "lifespan":
        while True:
            msg = await receive()  # type: ignore[operator]
            await send({"type": msg["type"] + ".complete"})  # type: ignore[operator]
            if msg["type"] == "lifespan.shutdown":
                return
    await send({"type": "http.response.start", "status": 200, "headers": []})  # type: ignore[operator]
    await send({"type": "http.response.body", "body": b"inner"})  # type: ignore[operator]


def test_mounted_beside_another_app(tmp_path: Path, runtime: Runtime, canisters: dict[str, bytes]) -> None:
    from wasmhive.contracts._asgi import mount_contracts

    with ContractVM(tmp_path, runtime=runtime) as vm:
        vm.deploy(canisters["counter"], name="counter")
    app = mount_contracts(_inner, tmp_path)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    t = threading.Thread(target=srv.run, daemon=True)
    t.start()
    while not srv.started:
        time.sleep(0.02)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            assert client.get("/anything").text == "inner"
            assert client.post("/contracts/counter/update/inc", json={}).json()["reply"] == [1]
            assert client.post("/contracts/counter/query/get", json={}).json()["candid"] == "(1 : nat)"
            # While the server holds the state, a second VM on it is refused (it would fork the state).
            with pytest.raises(Exception, match="in use by another"):
                ContractVM(tmp_path, runtime=runtime)
    finally:
        srv.should_exit = True
        t.join(5)
    with ContractVM(tmp_path, runtime=runtime) as vm:  # released at shutdown
        assert vm.call("counter", "get") == "(1 : nat)"


def test_wasmhive_up_serves_contracts(tmp_path: Path, runtime: Runtime, canisters: dict[str, bytes]) -> None:
    """`wasmhive up --contracts` (a real server process) answers its component's routes and /contracts beside them."""
    import os
    import subprocess
    import sys

    template = (Path(__file__).parent.parent / "http" / "minimal.wat.in").read_text()
    (tmp_path / "teapot.wat").write_text(template.replace("VERSION", "0.2.0").replace("MODE", "0"))
    with ContractVM(tmp_path / ".wasmhive", runtime=runtime) as vm:
        vm.deploy(canisters["counter"], name="counter")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k != "WASMHIVE_STATE"}
    proc = subprocess.Popen([sys.executable, "-c", "from wasmhive.cli import main; main()", "up", "teapot.wat",
                             "--listen", f"127.0.0.1:{port}", "--contracts"], cwd=tmp_path, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            deadline = time.monotonic() + 60
            while True:
                try:
                    r = client.get("/")
                    break
                except httpx.TransportError:
                    assert proc.poll() is None and time.monotonic() < deadline, "wasmhive up did not start"
                    time.sleep(0.1)
            assert r.status_code == 418  # the component
            r = client.post("/contracts/counter/update/inc", json={})
            assert r.json()["candid"] == "(1 : nat)"
            assert client.post("/contracts/counter/query/get", json={}).json()["reply"] == [1]
    finally:
        proc.terminate()
        proc.wait(30)
    with ContractVM(tmp_path / ".wasmhive", runtime=runtime) as vm:  # durable, and released on shutdown
        assert vm.call("counter", "get") == "(1 : nat)"
