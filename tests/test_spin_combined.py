"""Issue 13's combined Spin app (`examples/spin-combined`): a spin-sdk 3.4.1 guest using SQLite, outbound
Redis, variables, outbound HTTP and key-value at once, served by `wasmhive up spin.toml` unchanged, against
a real Redis and a real pricing server on loopback; the data is checked where it landed."""

from __future__ import annotations

import shutil
import sqlite3
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from app_fixtures import Server, build_spin_sdk_app, redis_url

__all__ = ["redis_url"]  # the session fixture, re-exported so pytest finds it

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "spin-combined"
PRICES = {"apple": "1.25", "pear": "0.8"}


class Pricing:
    """A real HTTP server on a free loopback port: `GET /price/ITEM` answers the price, or 404."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        seen = self.paths

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                seen.append(self.path)
                price = PRICES.get(self.path.removeprefix("/price/"))
                body = (price or "unknown item").encode()
                self.send_response(200 if price else 404)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def pricing() -> Iterator[Pricing]:
    p = Pricing()
    try:
        yield p
    finally:
        p.close()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example's sources (as committed) and its component, built once with spin-sdk's componentize-py."""
    dest = tmp_path_factory.mktemp("spin-combined-build")
    for name in ("spin.toml", "app.py", "migration.sql"):
        shutil.copy(EXAMPLE / name, dest / name)
    build_spin_sdk_app(dest / "app.py", dest / "app.wasm")
    return dest


@pytest.fixture
def app(built: Path, tmp_path: Path) -> Path:
    """A fresh copy of the built app: no state yet."""
    for name in ("spin.toml", "app.py", "migration.sql", "app.wasm"):
        shutil.copy(built / name, tmp_path / name)
    return tmp_path


def serve(app: Path, pricing: Pricing, redis_address: str) -> Server:
    # Spin's own way to set variables (SPIN_VARIABLE_*): the manifest is used as it is.
    env = {"SPIN_VARIABLE_PRICING_URL": f"http://127.0.0.1:{pricing.port}",
           "SPIN_VARIABLE_REDIS_ADDRESS": redis_address}
    return Server(app / "spin.toml", "--sqlite", f"@{app / 'migration.sql'}", env=env).wait(180)


def test_combined_app_end_to_end(app: Path, pricing: Pricing, redis_url: str) -> None:
    import redis

    r = redis.Redis.from_url(redis_url)
    r.delete("orders:count", "orders:item:apple", "orders:item:pear", "orders:item:plum")
    sub = r.pubsub()
    sub.subscribe("orders")
    assert sub.get_message(timeout=5)["type"] == "subscribe"
    server = serve(app, pricing, redis_url)
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            a = client.post("/orders/apple", params={"quantity": 3})
            assert a.status_code == 201, server.output()
            assert a.json() == {"id": 1, "item": "apple", "quantity": 3, "unit_price": 1.25, "total": 3.75,
                                "currency": "EUR", "orders": 1, "orders_of_item": 1}
            p = client.post("/orders/pear", params={"quantity": 2})
            assert p.json()["total"] == 1.6 and p.json()["orders"] == 2
            # An item the pricing service does not know: 502, and nothing stored anywhere.
            bad = client.post("/orders/plum")
            assert bad.status_code == 502 and "404" in bad.json()["error"]
            assert pricing.paths == ["/price/apple", "/price/pear", "/price/plum"]
            listed = client.get("/orders").json()
            assert listed == {"orders": [[1, "apple", 3, 1.25], [2, "pear", 2, 0.8]], "redis_count": 2,
                              "last_order": {"id": 2, "item": "pear"}}
    finally:
        server.kill()
    # The data where it landed: Spin's default database file, the real Redis, the published messages.
    with sqlite3.connect(app / ".wasmhive" / "sqlite_db.db") as db:
        assert db.execute("SELECT item, quantity, unit_price, currency FROM orders ORDER BY id").fetchall() == [
            ("apple", 3, 1.25, "EUR"), ("pear", 2, 0.8, "EUR")]
    assert r.get("orders:count") == b"2"
    assert (r.get("orders:item:apple"), r.get("orders:item:pear"), r.get("orders:item:plum")) == (b"1", b"1", None)
    published = [sub.get_message(timeout=5) for _ in range(2)]
    assert [m["data"] for m in published if m] == [b"1 apple 3", b"2 pear 2"]
    sub.close()
    # The key-value store survives a restart (a second `wasmhive up` of the same app reads it back).
    server = serve(app, pricing, redis_url)
    try:
        assert httpx.get(server.url + "/orders", timeout=60).json()["last_order"] == {"id": 2, "item": "pear"}
    finally:
        server.kill()
    r.close()


def test_combined_app_denied(app: Path, pricing: Pricing, redis_url: str) -> None:
    """What the manifest does not grant is refused with the WIT's own error, and nothing is reached."""
    server = serve(app, pricing, redis_url)
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            # The pricing server itself, by a name no rule allows (rules name 127.0.0.1): never contacted.
            r = client.get("/probe/http", params={"url": f"http://localhost:{pricing.port}/price/apple"})
            assert (r.status_code, r.json()) == (403, {"error": "ErrorCode_HttpRequestDenied"}), server.output()
            assert pricing.paths == []
            # The granted address works through the same probe, so the refusal above is the policy.
            assert client.get("/probe/http", params={"url": f"http://127.0.0.1:{pricing.port}/price/pear"}).json() \
                == {"status": 200}
            # A database `sqlite_databases` does not list: access-denied, no file made.
            r = client.get("/probe/sqlite", params={"db": "other"})
            assert (r.status_code, r.json()) == (403, {"error": "Error_AccessDenied"})
            assert client.get("/probe/sqlite", params={"db": "default"}).json() == {"opened": "default"}
            # A Redis address not granted: Spin's answer for a denied host is invalid-address.
            port = redis_url.rsplit(":", 1)[1].split("/")[0]
            r = client.get("/probe/redis", params={"addr": f"redis://localhost:{port}"})
            assert (r.status_code, r.json()) == (403, {"error": "Error_InvalidAddress"})
            assert client.get("/probe/redis", params={"addr": redis_url}).json() == {"opened": redis_url}
    finally:
        server.kill()
    assert not list(app.glob(".wasmhive/*other*"))
    assert pricing.paths == ["/price/pear"]
