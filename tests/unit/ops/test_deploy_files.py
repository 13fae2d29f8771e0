"""The deployment files agree with the code: lock covers the dependencies, compose roles exist."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[3]


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _compose() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return doc


def test_lock_pins_every_runtime_dependency_and_flower() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = [re.split(r"[\[<>=!~ ;]", d, maxsplit=1)[0] for d in project["dependencies"]]
    wanted += ["flower"]
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"not pinned: {line}"
            pins[_norm(name)] = version
    missing = [w for w in wanted if _norm(w) not in pins]
    assert not missing, f"requirements.lock lacks {missing}"


def test_dockerfile_is_slim_non_root_and_enters_vbq() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert text.startswith("#") and "FROM python:3.11-slim" in text
    assert re.search(r"^USER (?!root)\S+", text, re.M)
    assert 'ENTRYPOINT ["vbq"]' in text
    assert "requirements.lock" in text


def _stages(text: str) -> dict[str, str]:
    """Dockerfile stage name → its instructions."""
    parts = re.split(r"^FROM (\S+) AS (\S+)\n", text, flags=re.M)
    return {parts[i + 1]: parts[i + 2] for i in range(1, len(parts) - 2, 3)}


def test_dockerfile_production_target_has_no_emulators_or_demo() -> None:
    text = (ROOT / "Dockerfile").read_text()
    stages = _stages(text)
    assert list(stages) == ["base", "local", "production"]  # production is the default (last)
    for name in ("base", "production"):
        assert "emulators" not in stages[name] and "demo" not in stages[name], name
    assert "COPY emulators" in stages["local"] and "COPY demo" in stages["local"]
    services = _compose()["services"]
    for name, svc in services.items():
        build = svc.get("build")
        if isinstance(build, dict):
            wanted = "local" if svc.get("command", [""])[:1] == ["emulator"] else "production"
            assert build["target"] == wanted, name


def test_extras_lock_pins_what_the_extras_add() -> None:
    main = {
        _norm(line.partition("==")[0])
        for line in (ROOT / "requirements.lock").read_text().splitlines()
        if line and not line.startswith("#")
    }
    extras = {
        _norm(line.partition("==")[0])
        for line in (ROOT / "requirements-extras.lock").read_text().splitlines()
        if line and not line.startswith("#")
    }
    for folder in ("emulators", "demo"):
        project = tomllib.loads((ROOT / folder / "pyproject.toml").read_text())["project"]
        for dep in project["dependencies"]:
            name = _norm(re.split(r"[\[<>=!~ ;]", dep, maxsplit=1)[0])
            if name.startswith("vertex-batch-queue"):
                continue
            assert name in main | extras, f"{folder}: {name} is pinned in no lock file"
    assert "gcp-storage-emulator" in extras and "gcp-storage-emulator" not in main


def test_compose_has_every_role_and_a_scalable_worker() -> None:
    services = _compose()["services"]
    for name in ("redis", "pubsub", "vertex", "gcs", "api", "worker", "beat", "subscriber"):
        assert name in services, name
    assert {"flower", "prometheus"} <= set(services)
    worker = services["worker"]
    assert "container_name" not in worker and "ports" not in worker
    assert all("healthcheck" in services[n] for n in services)
    redis_cmd = " ".join(services["redis"]["command"])
    assert "--appendonly yes" in redis_cmd and "noeviction" in redis_cmd
    assert services["pubsub"]["image"].startswith("gcr.io/google.com/cloudsdktool/google-cloud-cli")


def test_compose_commands_are_real_vbq_commands() -> None:
    from vbq.cli import cli

    for name, svc in _compose()["services"].items():
        if svc.get("image") not in {"vbq:local", "vbq:production"} or "entrypoint" in svc:
            continue
        command = svc["command"]
        group = cli.commands[command[0]]
        if command[0] == "emulator":
            group = group.commands[command[1]]  # type: ignore[attr-defined]
        options = {o for p in group.params for o in getattr(p, "opts", [])}
        used = {a for a in command if a.startswith("--")}
        assert used <= options, f"{name}: unknown options {used - options}"


def test_prometheus_scrapes_every_long_running_role() -> None:
    text = (ROOT / "ops" / "prometheus.yml").read_text()
    for target in ("worker", "subscriber", "beat:9100", "api:8080"):
        assert target in text


def _k8s() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in sorted((ROOT / "ops" / "k8s").glob("*.yaml")):
        docs.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
    return docs


def test_k8s_deployments_run_real_roles_with_probes_and_one_beat() -> None:
    from vbq.cli import cli

    deployments = {d["metadata"]["name"]: d for d in _k8s() if d["kind"] == "Deployment"}
    assert set(deployments) == {
        f"vbq-{r}" for r in ("worker", "beat", "relay", "subscriber", "api")
    }
    assert deployments["vbq-beat"]["spec"]["replicas"] == 1
    for name, d in deployments.items():
        pod = d["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert container["args"][0] in cli.commands, name
        port = container["ports"][0]["containerPort"]
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": port}
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": port}
        assert pod["serviceAccountName"] == "vbq"
        assert pod["terminationGracePeriodSeconds"] > 30  # VBQ_SHUTDOWN_GRACE_S + margin
    kinds = {d["kind"] for d in _k8s()}
    assert {"Service", "HorizontalPodAutoscaler", "ConfigMap", "ServiceAccount"} <= kinds
    listed = yaml.safe_load((ROOT / "ops" / "k8s" / "kustomization.yaml").read_text())
    on_disk = {p.name for p in (ROOT / "ops" / "k8s").glob("*.yaml")} - {"kustomization.yaml"}
    assert set(listed["resources"]) == on_disk


def test_grafana_dashboard_queries_only_metrics_that_exist() -> None:
    import json

    from vbq import metrics

    dashboard = json.loads((ROOT / "ops" / "grafana" / "vbq.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    used = set(re.findall(r"\bvbq_[a-z_]+", " ".join(exprs)))
    defined = {m._name for m in vars(metrics).values() if hasattr(m, "_name")}
    gauges = {
        "vbq_submissions",
        "vbq_submissions_by_tenant",
        "vbq_outbox_depth",
        "vbq_outbox_oldest_age_seconds",
        "vbq_slots_in_use",
        "vbq_redis_up",
    }
    suffixes = ("_total", "_bucket", "_sum", "_count")
    for name in used:
        base = next((name[: -len(s)] for s in suffixes if name.endswith(s)), name)
        assert (
            base in defined or name in gauges or base + "_total" in {d + "_total" for d in defined}
        ), name
    assert len(used) >= 12
