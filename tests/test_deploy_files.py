"""deploy/: Prometheus config and rules (promtool), the Grafana dashboard against the metrics
the code really exports, docker compose, Dockerfiles and the Helm chart (helm template when a
helm binary exists, structural checks always)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
PROM = DEPLOY / "prometheus"
CHART = DEPLOY / "helm" / "polc"
METRIC_RE = re.compile(r"\bpolc_[a-z0-9_]+\b")


def exported_metric_names() -> set[str]:
    """Every series name the cloud and edge metrics modules export (with the _total,
    _bucket/_sum/_count suffixes Prometheus sees)."""
    from polc.cloud.metrics import CloudMetrics
    from polc.edge.metrics import EdgeMetrics

    cloud = CloudMetrics("test")
    cloud.init_series()
    names: set[str] = set()
    for registry in (cloud.registry, EdgeMetrics().registry):
        for family in registry.collect():
            base = family.name
            names.add(base)
            names.update(
                {
                    "counter": [f"{base}_total"],
                    "histogram": [f"{base}_bucket", f"{base}_sum", f"{base}_count"],
                }.get(family.type, [])
            )
    return names


def _promtool() -> str:
    tool = shutil.which("promtool")
    if tool is None:
        pytest.skip("promtool not installed (Debian package `prometheus`; .ci/run installs it)")
    return tool


def test_promtool_accepts_config_and_rules():
    tool = _promtool()
    for args in (
        ["check", "config", str(PROM / "prometheus.yml")],
        ["check", "rules", str(PROM / "alerts.yml")],
    ):
        run = subprocess.run([tool, *args], capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, run.stdout + run.stderr


def test_alert_rules_cover_the_failure_modes_with_real_metrics():
    rules = [
        r for g in yaml.safe_load((PROM / "alerts.yml").read_text())["groups"] for r in g["rules"]
    ]
    exported = exported_metric_names()
    used: set[str] = set()
    for rule in rules:
        names = set(METRIC_RE.findall(rule["expr"]))
        assert names <= exported, f"{rule['alert']}: unknown metrics {names - exported}"
        used |= names
    # stream errors, decode failures, queue saturation, edge spool growth, store near limit
    for metric in (
        "polc_cloud_frames_failed_total",
        "polc_cloud_batch_queue_frames",
        "polc_edge_spool_frames",
        "polc_cloud_store_size_bytes",
        "polc_cloud_store_limit_bytes",
        "polc_cloud_analysis_lag_seconds",
    ):
        assert metric in used
    config = yaml.safe_load((PROM / "prometheus.yml").read_text())
    assert {j["job_name"] for j in config["scrape_configs"]} == {"polc-cloud", "polc-edge"}
    assert config["rule_files"] == ["alerts.yml"]


def test_dashboard_queries_only_exported_metrics():
    dash = json.loads((DEPLOY / "grafana" / "polc-dashboard.json").read_text())
    exported = exported_metric_names()
    used: set[str] = set()
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dash["panels"]:
        exprs = [t["expr"] for t in panel["targets"]]
        assert exprs, panel["title"]
        for expr in exprs:
            names = set(METRIC_RE.findall(expr))
            assert names, f"{panel['title']}: {expr} queries no polc metric"
            assert names <= exported, f"{panel['title']}: unknown metrics {names - exported}"
            assert expr.count("(") == expr.count(")") and expr.count("{") == expr.count("}")
            used |= names
    required = {
        "polc_cloud_frames_received_total",
        "polc_cloud_received_bytes_total",
        "polc_cloud_frame_bpp_bucket",
        "polc_cloud_decode_duration_seconds_bucket",
        "polc_cloud_inference_duration_seconds_bucket",
        "polc_cloud_reconstruct_duration_seconds_bucket",
        "polc_cloud_batch_size_bucket",
        "polc_cloud_batch_queue_frames",
        "polc_cloud_open_streams",
        "polc_cloud_frames_failed_total",
        "polc_cloud_store_size_bytes",
        "polc_edge_spool_frames",
        "polc_cloud_analysis_lag_seconds",
    }
    assert required <= used, required - used
    quantiles = [
        e for p in dash["panels"] for t in p["targets"] if "histogram_quantile" in (e := t["expr"])
    ]
    assert all("_bucket" in e and "le" in e for e in quantiles)


def test_compose_file_structure():
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) == {"postgres", "cloud", "edge", "prometheus", "grafana"}
    for name, svc in services.items():
        for dep in svc.get("depends_on", []):
            assert dep in services, f"{name} depends on unknown {dep}"
        if "build" in svc:
            assert (DEPLOY / svc["build"]["context"] / svc["build"]["dockerfile"]).is_file()
        for vol in svc.get("volumes", []):
            src = vol.split(":")[0]
            if src.startswith("."):
                assert (DEPLOY / src).exists(), f"{name}: missing {src}"
            else:
                assert src in compose["volumes"], f"{name}: undeclared volume {src}"
    env = services["cloud"]["environment"]
    assert env["POLC_CLOUD_STORE__BACKEND"] == "postgres"
    assert "@postgres:5432/" in env["POLC_CLOUD_STORE__POSTGRES_DSN"]
    assert services["cloud"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    # the cloud's environment is a valid configuration
    from polc.cloud.config import load_config

    overrides = {
        k.removeprefix("POLC_CLOUD_").lower().replace("__", "."): v
        for k, v in env.items()
        if "${" not in str(v)
    }
    cfg = load_config(None, overrides)
    assert cfg.store.backend == "postgres"
    # the edge's arguments parse with the real command line
    from polc.app.cli import build_parser

    args = build_parser().parse_args(["edge", "run", *services["edge"]["command"]])
    assert args.server == "cloud:50051"
    # prometheus scrapes the compose services' metric ports
    targets = {
        t
        for job in yaml.safe_load((PROM / "prometheus.yml").read_text())["scrape_configs"]
        for sc in job.get("static_configs", [])
        for t in sc["targets"]
    }
    assert targets == {"cloud:9464", "edge:9465"}


@pytest.mark.parametrize("name", ["cloud", "edge-x86", "edge-jetson"])
def test_dockerfiles(name):
    text = (DEPLOY / "docker" / f"{name}.Dockerfile").read_text()
    froms = re.findall(r"^FROM\s+(\S+)", text, re.M)
    assert len(froms) >= 2, "multi-stage"
    assert re.search(r"^USER\s+(?!root|0\b)\S+", text, re.M), "non-root user"
    assert "HEALTHCHECK" in text and "pip wheel" in text
    for src in re.findall(r"^COPY\s+(?!--)(\S+)\s", text, re.M):
        assert (ROOT / src).exists(), f"COPY {src}: missing"
    args = dict(re.findall(r"^ARG\s+(\w+)=(\S+)", text, re.M))
    base = " ".join(args.values())
    if name == "edge-jetson":
        assert "l4t" in base
    else:
        assert "nvidia/cuda" in base and "runtime" in base
    if name == "cloud":
        assert "grpc_health" in text  # the health check speaks grpc.health.v1


def _values_paths(node, prefix=()) -> set[tuple[str, ...]]:
    out = {prefix}
    if isinstance(node, dict):
        for key, value in node.items():
            out |= _values_paths(value, (*prefix, key))
    return out


def test_helm_chart_structure():
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2" and chart["name"] == "polc" and chart["version"]
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    known = _values_paths(values)
    kinds = set()
    for tpl in sorted((CHART / "templates").iterdir()):
        text = tpl.read_text()
        assert "{{" not in re.sub(r"{{.*?}}", "", text), f"{tpl.name}: unclosed action"
        opens = len(re.findall(r"{{-?\s*(if|with|range|define)\b", text))
        assert opens == len(re.findall(r"{{-?\s*end\b", text)), f"{tpl.name}: unbalanced end"
        for ref in re.findall(r"\.Values\.([A-Za-z0-9_.]+)", text):
            assert tuple(ref.split(".")) in known, f"{tpl.name}: .Values.{ref} not in values"
        kinds |= set(re.findall(r"^kind:\s*(\w+)", text, re.M))
    assert {
        "Deployment",
        "Service",
        "PodDisruptionBudget",
        "HorizontalPodAutoscaler",
        "ServiceMonitor",
        "Secret",
        "ConfigMap",
        "PersistentVolumeClaim",
        "Ingress",
    } <= kinds
    deployment = (CHART / "templates" / "deployment.yaml").read_text()
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert re.search(probe + r":\n\s+grpc:", deployment), probe
    assert "preStop" in deployment and "terminationGracePeriodSeconds" in deployment
    assert values["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert values["config"]["connection"]["max_connection_age_seconds"] > 0
    assert (
        values["config"]["connection"]["shutdown_grace_seconds"]
        < values["terminationGracePeriodSeconds"] - values["preStopSleepSeconds"]
    )
    assert values["autoscaling"]["metricName"] in exported_metric_names()
    # the service configuration the chart renders is valid for the server
    from polc.cloud.config import load_config

    flat: dict[str, object] = {}

    def walk(node, prefix=""):
        for k, v in node.items():
            if isinstance(v, dict):
                walk(v, f"{prefix}{k}.")
            else:
                flat[f"{prefix}{k}"] = v

    walk(values["config"])
    cfg = load_config(
        None,
        {**flat, "store.backend": "postgres", "store.postgres_dsn": "postgresql://polc@db/polc"},
    )
    assert cfg.connection.max_connection_age_seconds == 600


def test_helm_template_renders():
    helm = shutil.which("helm")
    if helm is None:
        pytest.skip("helm binary not installed (no Debian package); structure checked above")
    run = subprocess.run(
        [
            helm,
            "template",
            "polc",
            str(CHART),
            "--set",
            "postgres.dsn=postgresql://x@db/p",
            "--set",
            "tls.enabled=true",
            "--set",
            "auth.tokens[0].name=a",
            "--set",
            "auth.tokens[0].role=operator",
            "--set",
            "auth.tokens[0].token_sha256=" + "0" * 64,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    docs = [d for d in yaml.safe_load_all(run.stdout) if d]
    assert {d["kind"] for d in docs} >= {"Deployment", "Service", "HorizontalPodAutoscaler"}
