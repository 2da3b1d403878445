"""A Spin app built with the spin-js-sdk's toolchain (`j2w` from `@spinframework/build-tools`) runs under
`wasmhive up spin.toml`: SQLite (both interface versions), key-value and a variable, over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from app_fixtures import Server
from spinjs_fixtures import spinjs_app


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    app = spinjs_app(tmp_path_factory.mktemp("spinjs"))
    s = Server(app, "--sqlite", f"@{app.parent / 'migration.sql'}",
               env={"SPIN_VARIABLE_GREETING": "hi from env"}).wait(300)
    try:
        yield s
    finally:
        s.kill()


def test_spinjs_sqlite_kv_variable(server: Server) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        r = client.post("/notes", content="héllo")
        assert (r.status_code, r.json()) == (201, {"posts": 1}), server.output()[-3000:]
        assert client.post("/notes", content="second").json() == {"posts": 2}  # key-value counts posts
        r = client.get("/notes")
        assert r.status_code == 200, server.output()[-3000:]
        assert r.json() == {
            "greeting": "hi from env",
            "columns": ["id", "body", "size", "raw", "absent"],
            "rows": [
                [["integer", "1"], ["text", "héllo"], ["real", 2.5], ["blob", "68c3a96c6c6f"], ["null", None]],
                [["integer", "2"], ["text", "second"], ["real", 3], ["blob", "7365636f6e64"], ["null", None]],
            ],
        }
        assert client.get("/v3").json() == {"rowid": "3", "changes": "1"}
        assert client.get("/denied").json() == {"error": "access-denied"}
        assert client.get("/bad").json() == {"error": "io: no such table: missing_table"}
