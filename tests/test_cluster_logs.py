"""`wasmhive up --log-format json`: every line a JSON record, request ids in records and responses."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from cluster_fixtures import up_guest

pytest_plugins = ("http_fixtures",)
pytestmark = pytest.mark.slow


@pytest.mark.parametrize("workers", [1, 2])
def test_json_logs_with_request_ids(workers: int, http_guest: Path, compile_cache: Path, tmp_path: Path) -> None:
    with up_guest(http_guest, compile_cache, tmp_path,
                  "--workers", str(workers), "--log-format", "json") as up:
        up.wait_ready()
        hello = httpx.get(up.url + "/hello", headers={"x-request-id": "req-abc.1"}, timeout=10)
        assert hello.headers["x-request-id"] == "req-abc.1"  # a sane client id is kept
        trap = httpx.get(up.url + "/trap", headers={"x-request-id": 'evil" id\\'}, timeout=10)
        assert trap.status_code == 500
        trap_id = trap.headers["x-request-id"]
        assert re.fullmatch(r"[0-9a-f]{32}", trap_id)  # an unsafe one is replaced by a fresh id
        assert httpx.get(up.url + "/print", timeout=10).status_code == 200
        up.term()
        up.proc.wait(30)
    lines = [line for line in up.log_text().splitlines() if line.strip()]
    records = []
    for line in lines:
        rec = json.loads(line)  # every line, from the banner to the shutdown, is one JSON object
        assert {"ts", "level", "logger", "msg", "pid"} <= rec.keys(), rec
        datetime.strptime(rec["ts"], "%Y-%m-%dT%H:%M:%S.%fZ")
        records.append(rec)
    access = [r for r in records if r["logger"] == "wasmhive.http.access"]
    hello_line = next(r for r in access if '"GET /hello ' in r["msg"])
    assert hello_line["request_id"] == "req-abc.1" and " 200 " in hello_line["msg"]
    assert (hello_line["method"], hello_line["target"], hello_line["status"]) == ("GET", "/hello", 200)
    assert hello_line["component"] == http_guest.stem and hello_line["duration_ms"] > 0
    trap_line = next(r for r in access if '"GET /trap ' in r["msg"])
    assert trap_line["request_id"] == trap_id and " 500 " in trap_line["msg"]
    assert any(r["level"] == "ERROR" and "GET /trap" in r["msg"] and "trapped" in r["msg"] for r in records)
    assert any("hello on stdout" in r["msg"] for r in records)  # the guest's own output, as records
    assert any(r["logger"].startswith("uvicorn") for r in records)  # the server's lines too
    assert len({r["pid"] for r in records}) >= workers


def test_json_logs_option_is_checked() -> None:
    import subprocess
    import sys

    exe = Path(sys.executable).parent / "wasmhive"
    r = subprocess.run([str(exe), "up", ".", "--log-format", "xml"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 64 and "xml" in r.stderr and "Traceback" not in r.stderr
