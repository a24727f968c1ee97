"""Grafana provisioning and dashboards: valid models that read only series that exist."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from promql_inventory import (
    DATASOURCES_FILE,
    REPO_ROOT,
    dashboard_expressions,
    dashboard_files,
    datasource_queries,
    iter_panels,
    load_dashboard,
    parse_label_values,
    unknown_series,
)

DASHBOARD_PROVIDERS = REPO_ROOT / "grafana" / "provisioning" / "dashboards" / "dashboards.yml"
DASHBOARDS_MOUNT = "/var/lib/grafana/dashboards"  # where docker-compose mounts grafana/dashboards
BUILTIN_DATASOURCE_UIDS = frozenset({"-- Grafana --", "grafana"})
EXPECTED = {"service-overview.json", "collector-health.json"}


def _datasources() -> dict[str, dict[str, Any]]:
    provisioned = yaml.safe_load(DATASOURCES_FILE.read_text(encoding="utf-8"))["datasources"]
    return {datasource["uid"]: datasource for datasource in provisioned}


def _datasource_refs(node: Any) -> Iterator[Any]:
    """Every value of a `datasource` key anywhere in a dashboard model."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "datasource":
                yield value
            yield from _datasource_refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _datasource_refs(item)


def _variables(model: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {variable["name"]: variable for variable in model.get("templating", {}).get("list", [])}


def _variable_query(variable: dict[str, Any]) -> str:
    query = variable.get("query", "")
    return str(query.get("query", "") if isinstance(query, dict) else query)


def _promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        message = "promtool is not installed (Debian package prometheus)"
        if os.environ.get("REQUIRE_STACK") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return path


dashboards = pytest.mark.parametrize("path", dashboard_files(), ids=lambda path: path.name)


# ------------------------------------------------------------------------------- provisioning


def test_datasources_have_the_uids_dashboards_use() -> None:
    datasources = _datasources()
    assert {uid: ds["type"] for uid, ds in datasources.items()} == {
        "prometheus": "prometheus",
        "tempo": "tempo",
        "loki": "loki",
    }


def test_datasources_link_signals_to_each_other() -> None:
    datasources = _datasources()
    prometheus, tempo, loki = (datasources[uid]["jsonData"] for uid in ("prometheus", "tempo", "loki"))
    (exemplars,) = prometheus["exemplarTraceIdDestinations"]
    assert (exemplars["name"], exemplars["datasourceUid"]) == ("trace_id", "tempo")
    assert tempo["tracesToLogsV2"]["datasourceUid"] == "loki"
    assert tempo["tracesToLogsV2"]["filterByTraceID"] is True
    assert "__trace.traceId" in tempo["tracesToLogsV2"]["query"]
    assert tempo["tracesToMetrics"]["datasourceUid"] == "prometheus"
    assert tempo["serviceMap"]["datasourceUid"] == "prometheus"
    assert loki["derivedFields"], "Loki needs a derived field from trace id to Tempo"
    assert {field["datasourceUid"] for field in loki["derivedFields"]} == {"tempo"}
    assert any(f["matcherType"] == "label" and f["matcherRegex"] == "trace_id" for f in loki["derivedFields"])


def test_every_datasource_cross_reference_exists() -> None:
    uids = set(_datasources())

    def refs(node: Any) -> Iterator[str]:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "datasourceUid":
                    yield value
                yield from refs(value)
        elif isinstance(node, list):
            for item in node:
                yield from refs(item)

    assert set(refs([ds["jsonData"] for ds in _datasources().values()])) <= uids


def test_dashboard_provider_reads_the_compose_mount() -> None:
    (provider,) = yaml.safe_load(DASHBOARD_PROVIDERS.read_text(encoding="utf-8"))["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == DASHBOARDS_MOUNT


def test_the_expected_dashboards_exist() -> None:
    assert {path.name for path in dashboard_files()} >= EXPECTED


# ---------------------------------------------------------------------------------- dashboards


@dashboards
def test_dashboard_is_a_grafana_model(path: Path) -> None:
    model = load_dashboard(path)  # JSON validity
    assert 0 < len(model["uid"]) <= 40
    assert model["title"]
    assert 36 <= model["schemaVersion"] <= 41
    assert model.get("id") is None, "provisioned dashboards carry no database id"
    assert model["panels"]


def test_dashboard_uids_and_titles_are_unique() -> None:
    models = [load_dashboard(path) for path in dashboard_files()]
    assert len({model["uid"] for model in models}) == len(models)
    assert len({model["title"] for model in models}) == len(models)


@dashboards
def test_panel_ids_are_unique_and_panels_fit_the_grid(path: Path) -> None:
    panels = list(iter_panels(load_dashboard(path)["panels"]))
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids)), f"duplicate panel ids: {sorted(ids)}"
    cells: dict[tuple[int, int], int] = {}
    for panel in panels:
        grid = panel["gridPos"]
        assert 0 <= grid["x"] < grid["x"] + grid["w"] <= 24, panel["title"]
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in cells, f"panels {cells.get((x, y))} and {panel['id']} overlap"
                cells[(x, y)] = panel["id"]


@dashboards
def test_datasources_are_referenced_by_provisioned_uid(path: Path) -> None:
    uids = set(_datasources()) | BUILTIN_DATASOURCE_UIDS
    for ref in _datasource_refs(load_dashboard(path)):
        assert isinstance(ref, dict), f"datasource by name, not uid: {ref!r}"
        assert ref.get("uid") in uids, ref


@dashboards
def test_every_query_panel_has_a_datasource_and_promql(path: Path) -> None:
    for panel in iter_panels(load_dashboard(path)["panels"]):
        if panel["type"] == "row":
            continue
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["expr"].strip(), panel["title"]
            assert target["datasource"]["uid"] == "prometheus", panel["title"]
        assert len({target["refId"] for target in panel["targets"]}) == len(panel["targets"])


def test_service_overview_filters_by_service_and_environment() -> None:
    model = load_dashboard(REPO_ROOT / "grafana" / "dashboards" / "service-overview.json")
    variables = _variables(model)
    assert parse_label_values(_variable_query(variables["service"]))[1] == "service_name"
    assert parse_label_values(_variable_query(variables["env"]))[1] == "deployment_environment_name"
    panels = [panel for panel in iter_panels(model["panels"]) if panel["type"] != "row"]
    for panel in panels:
        for target in panel["targets"]:
            assert '"$service"' in target["expr"], f"{panel['title']} ignores $service"


@dashboards
def test_variables_are_label_values_queries_on_prometheus(path: Path) -> None:
    for variable in _variables(load_dashboard(path)).values():
        assert variable["type"] == "query"
        assert variable["datasource"]["uid"] == "prometheus"
        parse_label_values(_variable_query(variable))  # raises on anything else


def test_dashboards_read_only_contract_series_and_recording_rules() -> None:
    """A metric renamed in docs/signals.md or prometheus/rules and not here (or the reverse) fails."""
    expressions = dashboard_expressions() + datasource_queries()
    assert expressions
    assert unknown_series(expressions) == []


def test_dashboard_promql_parses(tmp_path: Path) -> None:
    """Each expression, variables rendered as Grafana would, through promtool's PromQL parser."""
    promtool = _promtool()
    items = dashboard_expressions() + datasource_queries()
    rules = [{"record": f"dashboard:check_{index}:expr", "expr": item.render()} for index, item in enumerate(items)]
    rule_file = tmp_path / "dashboard-queries.yml"
    rule_file.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}), encoding="utf-8")
    # Fixed argv of a trusted local tool, no shell.
    result = subprocess.run(  # noqa: S603
        [promtool, "check", "rules", str(rule_file)], capture_output=True, text=True, timeout=60, check=False
    )
    sources = "\n".join(f"dashboard:check_{index}:expr = {item.source}" for index, item in enumerate(items))
    assert result.returncode == 0, f"{result.stdout}{result.stderr}\n{sources}"


@dashboards
def test_dashboard_json_is_stored_formatted(path: Path) -> None:
    """Stable diffs: two-space indentation, trailing newline."""
    text = path.read_text(encoding="utf-8")
    assert text == json.dumps(json.loads(text), indent=2) + "\n"
