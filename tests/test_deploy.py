"""The deployment files under `deploy/`, checked offline: structure, cross-references, and the container's
command run for real (`wasmhive up` with the Deployment's args, the ConfigMaps' runtime config and
variables, probed on the Deployment's probe paths)."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
import tomllib
from pathlib import Path
from typing import Any

import httpx
import pytest

from app_fixtures import redis_url

__all__ = ["redis_url"]  # a fixture (as in tests/test_app_e2e.py)

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"


def _docs() -> dict[tuple[str, str], dict[str, Any]]:
    kust = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    out = {}
    for name in kust["resources"]:
        for doc in yaml.safe_load_all((K8S / name).read_text()):
            assert {"apiVersion", "kind", "metadata"} <= doc.keys(), (name, doc)
            out[(doc["kind"], doc["metadata"]["name"])] = doc
    return out


def _one(docs: dict[tuple[str, str], dict[str, Any]], kind: str) -> dict[str, Any]:
    found = [d for (k, _), d in docs.items() if k == kind]
    assert len(found) == 1, kind
    return found[0]


def _container(docs: dict[tuple[str, str], dict[str, Any]]) -> dict[str, Any]:
    containers = _one(docs, "Deployment")["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return dict(containers[0])


def _seconds(args: list[str], option: str) -> float:
    from wasmhive.runtime import parse_duration

    return parse_duration(args[args.index(option) + 1])


def test_manifests_reference_each_other() -> None:
    from wasmhive.http._health import LIVE_PATH, READY_PATH

    docs = _docs()
    deploy, service, hpa = _one(docs, "Deployment"), _one(docs, "Service"), _one(docs, "HorizontalPodAutoscaler")
    pod = deploy["spec"]["template"]
    labels = pod["metadata"]["labels"]
    assert deploy["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert service["spec"]["selector"].items() <= labels.items()
    c = _container(docs)
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert all(p["targetPort"] in ports for p in service["spec"]["ports"])
    listen = c["args"][c["args"].index("--listen") + 1]
    assert int(listen.rsplit(":", 1)[1]) == ports["http"]
    # Probes: readiness on /ready, liveness (and startup) on /live, all on the serving port.
    assert c["readinessProbe"]["httpGet"]["path"] == READY_PATH
    assert c["livenessProbe"]["httpGet"]["path"] == LIVE_PATH
    assert c["startupProbe"]["httpGet"]["path"] == LIVE_PATH
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert c[probe]["httpGet"]["port"] in (ports["http"], "http")
    # Resources: requests and limits both set (the HPA's CPU utilisation is relative to the request).
    assert {"cpu", "memory"} <= c["resources"]["requests"].keys()
    assert {"cpu", "memory"} <= c["resources"]["limits"].keys()
    # Non-root, read-only root filesystem; everything written goes to declared volumes.
    spec = pod["spec"]
    assert spec["securityContext"]["runAsNonRoot"] is True and spec["securityContext"]["runAsUser"] != 0
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert c["securityContext"]["allowPrivilegeEscalation"] is False
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert {m["name"] for m in c["volumeMounts"]} <= volumes.keys()
    # The drain fits in the grace period: Kubernetes never SIGKILLs a pod that is still draining.
    drain = _seconds(c["args"], "--drain-delay") + _seconds(c["args"], "--drain-timeout")
    assert spec["terminationGracePeriodSeconds"] > drain
    # ConfigMaps referenced exist and hold what is used.
    for ref in c.get("envFrom", []):
        assert ("ConfigMap", ref["configMapRef"]["name"]) in docs
    for vol in volumes.values():
        if "configMap" in vol:
            cm = docs[("ConfigMap", vol["configMap"]["name"])]
            assert all(item["key"] in cm["data"] for item in vol["configMap"].get("items", []))
    # The HPA scales this Deployment, with a slower scale-down than scale-up (hysteresis).
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                             "name": deploy["metadata"]["name"]}
    assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    behavior = hpa["spec"]["behavior"]
    assert behavior["scaleDown"]["stabilizationWindowSeconds"] > behavior["scaleUp"]["stabilizationWindowSeconds"]


def test_container_args_are_valid_up_options(tmp_path: Path) -> None:
    """The Deployment's and the image's arguments parse as `wasmhive up` options (click, no server)."""
    import click

    from wasmhive.cli import main

    up = main.get_command(click.Context(main), "up")
    assert up is not None
    c = _container(_docs())
    cmd = _containerfile_cmd()
    for args in (c["args"], cmd):
        # Paths inside the image, made real here (click checks they exist).
        (tmp_path / "runtime-config.toml").write_text("")
        here = {"/app": ROOT.as_posix(), "/etc/wasmhive/runtime-config.toml": str(tmp_path / "runtime-config.toml")}
        with up.make_context("up", [here.get(a, a) for a in args]) as ctx:
            assert ctx.params["listen"].endswith(":3000")


def _containerfile_cmd() -> list[str]:
    import json

    text = (DEPLOY / "Containerfile").read_text()
    m = re.search(r"^CMD (\[.*\])$", text, re.M)
    assert m is not None
    return list(json.loads(m.group(1)))


def test_containerfile_is_multi_stage_and_non_root() -> None:
    text = (DEPLOY / "Containerfile").read_text()
    stages = re.findall(r"^FROM \S+ AS (\w+)$", text, re.M)
    assert len(stages) >= 2
    final = text[text.rindex("\nFROM "):]
    user = re.findall(r"^USER (\S+)$", final, re.M)
    assert user and user[-1].split(":")[0] not in ("0", "root")
    assert "COPY --from=build" in final
    # No toolchain in the image that runs: the run stage installs nothing with pip.
    assert "pip install" not in final
    assert re.search(r'^ENTRYPOINT \["wasmhive", "up"\]$', final, re.M)


def test_kustomize_builds_offline() -> None:
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed")
    out = subprocess.run(["kubectl", "kustomize", str(K8S)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    kinds = sorted(d["kind"] for d in yaml.safe_load_all(out.stdout))
    assert kinds == ["ConfigMap", "ConfigMap", "Deployment", "HorizontalPodAutoscaler", "Service"]


@pytest.mark.slow
def test_the_pod_command_serves_probes_and_drains(compile_cache: Path, tmp_path: Path,
                                                  redis_url: str) -> None:
    """What the Deployment runs, run here: the example app with the ConfigMaps' runtime config (Redis)
    and variables; the probes' paths answer; SIGTERM ends it within terminationGracePeriodSeconds."""
    from app_fixtures import build_example, copy_example
    from cluster_fixtures import free_port, wasmhive_up

    docs = _docs()
    c = _container(docs)
    app = copy_example(tmp_path / "app")
    build_example(app)
    before = {p.resolve() for p in app.rglob("*") if p.is_file()}
    rc_map = docs[("ConfigMap", "wasmhive-app-runtime")]["data"]["runtime-config.toml"]
    rc = tomllib.loads(rc_map)
    assert rc["key_value_store"]["default"]["type"] == "redis"
    (tmp_path / "runtime-config.toml").write_text(rc_map.replace("redis://redis:6379/0", redis_url))
    env = dict(docs[("ConfigMap", "wasmhive-app-env")]["data"])
    port = free_port()
    args = []
    for a in c["args"]:
        args.append({"/app": str(app), "0.0.0.0:3000": f"127.0.0.1:{port}",
                     "/etc/wasmhive/runtime-config.toml": str(tmp_path / "runtime-config.toml")}.get(a, a))
    env |= {"WASMHIVE_CACHE": str(compile_cache), "WASMHIVE_STATE": str(tmp_path / "state")}
    grace = docs[("Deployment", "wasmhive-app")]["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    with wasmhive_up(args, tmp_path / "pod.log", env) as pod:
        pod.wait_ready()
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            assert httpx.get(pod.url + c[probe]["httpGet"]["path"], timeout=5).status_code == 200
        assert httpx.get(pod.url + "/api/hello", timeout=10).text.startswith("Hello from kubernetes!")
        assert "wasmhive_requests_total" in httpx.get(pod.url + "/metrics", timeout=10).text
        # With a read-only root filesystem only mounted volumes are writable: everything the pod wrote into
        # the app directory must be under a volume the Deployment mounts there (key-value went to Redis).
        mounts = [m["mountPath"].removeprefix("/app/") for m in c["volumeMounts"]
                  if m["mountPath"].startswith("/app/") and not m.get("readOnly")]
        written = [p.relative_to(app).as_posix() for p in app.rglob("*") if p.is_file() and p.resolve() not in before]
        assert written, "the example app stages its files at start-up: nothing written means nothing checked"
        assert all(any(w.startswith(m + "/") for m in mounts) for w in written), (written, mounts)
        t0 = time.monotonic()
        pod.proc.terminate()
        pod.proc.wait(grace)
        assert time.monotonic() - t0 < grace
