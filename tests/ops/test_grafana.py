"""The Grafana dashboard is a valid dashboard over exactly the metrics docs/metrics.md
lists: its JSON loads, every query parses as PromQL (promtool, Prometheus' own parser),
and every metric name a query uses is in the list, so the test the exporter gets later
(the server exports every listed name) covers the dashboard too."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from conftest import REPO_ROOT, run

DASHBOARD = REPO_ROOT / "deploy/grafana/shoal.json"
METRICS_DOC = REPO_ROOT / "docs/metrics.md"
# Series a histogram `X` is exported as (docs/metrics.md says so).
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
# Grafana's variables, replaced by values of the same kind before PromQL parses a query.
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__interval": "1m", "$server": ".*"}
METRIC_NAME = re.compile(r"\b((?:minio|shoal)_[a-z0-9_]+)\b")


def documented_metrics() -> dict[str, str]:
    """`name -> type` from the tables of docs/metrics.md (rows starting with a `name`)."""
    metrics = {}
    for line in METRICS_DOC.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and re.fullmatch(r"`(minio|shoal)_[a-z0-9_]+`", cells[0]):
            name = cells[0].strip("`")
            assert name not in metrics, f"{name} listed twice"
            metrics[name] = cells[1]
    return metrics


def allowed_series(metrics: dict[str, str]) -> set[str]:
    series = set(metrics)
    for name, kind in metrics.items():
        if kind == "histogram":
            series.update(name + suffix for suffix in HISTOGRAM_SUFFIXES)
    return series


def queries(dashboard: dict) -> list[str]:
    """Every PromQL query of the dashboard: panel targets and template variables."""
    found = []
    panels = list(dashboard["panels"])
    while panels:
        panel = panels.pop()
        panels.extend(panel.get("panels", []))
        found.extend(t["expr"] for t in panel.get("targets", []))
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            found.append(variable["query"]["query"])
    return found


def unknown_names(exprs: list[str], metrics: dict[str, str]) -> set[str]:
    allowed = allowed_series(metrics)
    return {name for expr in exprs for name in METRIC_NAME.findall(expr)} - allowed


def test_metrics_doc_lists_typed_unique_names():
    """docs/metrics.md lists a good number of metrics, each once, each with a known type."""
    metrics = documented_metrics()
    assert len(metrics) >= 40
    assert set(metrics.values()) <= {"counter", "gauge", "histogram", "distribution"}, set(metrics.values())
    for name, kind in metrics.items():
        if kind == "counter" and name.startswith("shoal_"):
            assert name.endswith("_total"), f"{name}: Shoal's own counters end in _total"


def test_dashboard_is_a_grafana_dashboard():
    """The JSON loads and has what Grafana needs to import it: a title, a uid, a schema
    version, a Prometheus data source input, and panels with unique ids and positions."""
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["title"] and dashboard["uid"] and dashboard["schemaVersion"] >= 36
    assert [i["pluginId"] for i in dashboard["__inputs"]] == ["prometheus"]
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        grid = panel["gridPos"]
        assert 0 <= grid["x"] and grid["x"] + grid["w"] <= 24, panel["title"]
        if panel["type"] != "row":
            assert panel["targets"] and panel["datasource"]["uid"] == "${DS_PROMETHEUS}", panel["title"]


def test_dashboard_uses_only_documented_metrics():
    """Every metric name in every query is listed in docs/metrics.md."""
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = queries(dashboard)
    assert len(exprs) >= 30
    assert unknown_names(exprs, documented_metrics()) == set()


def test_dashboard_covers_each_area_of_the_metrics():
    """The dashboard shows requests by API and status, latency, traffic, drive state,
    space, latency and errors, set health, connections and the memory budget."""
    used = {name for expr in queries(json.loads(DASHBOARD.read_text())) for name in METRIC_NAME.findall(expr)}
    for name in (
        "minio_s3_requests_total", "shoal_s3_requests_status_total",
        "shoal_s3_requests_duration_seconds_bucket", "minio_s3_traffic_received_bytes",
        "minio_s3_traffic_sent_bytes", "shoal_node_drive_state", "minio_node_drive_free_bytes",
        "minio_node_drive_latency_us", "minio_node_drive_errors_timeout",
        "minio_cluster_health_erasure_set_online_drives", "shoal_node_connections_open",
        "shoal_node_memory_budget_used_bytes",
    ):
        assert name in used, name


def test_name_check_catches_an_unlisted_metric():
    """The check above can fail: a name missing from the list, or a histogram suffix on a
    metric that is not a histogram, is reported."""
    metrics = documented_metrics()
    exprs = ['rate(minio_s3_requests_totl[5m])', 'rate(minio_s3_requests_total_bucket[5m])']
    assert unknown_names(exprs, metrics) == {"minio_s3_requests_totl", "minio_s3_requests_total_bucket"}


def test_every_query_parses_as_promql(tmp_path):
    """promtool accepts every query (as recording rules), after Grafana's variables are
    given values; a broken query makes it fail."""
    exprs = queries(json.loads(DASHBOARD.read_text()))

    def check(expressions: list[str]) -> str:
        rules = tmp_path / "rules.yml"
        resolved = []
        for expr in expressions:
            for variable, value in GRAFANA_VARIABLES.items():
                expr = expr.replace(variable, value)
            resolved.append(expr)
        group = [{"record": f"dashboard:query_{i}", "expr": e} for i, e in enumerate(resolved)]
        rules.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": group}]}))
        done = run(["promtool", "check", "rules", str(rules)], check=False)
        return f"exit {done.returncode}\n{done.stdout}{done.stderr}"

    # label_values() is Grafana's, not PromQL: only the metric it reads is checked above.
    output = check([e for e in exprs if not e.startswith("label_values(")])
    assert output.startswith("exit 0"), output
    broken = check(["sum by (api (rate(minio_s3_requests_total[1m]))"])
    assert not broken.startswith("exit 0"), broken
