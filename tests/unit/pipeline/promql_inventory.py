"""Every PromQL expression the pipeline ships, and the series names they are allowed to read.

A helper for tests, with no tests of its own. Sources: recording and alert rules
(prometheus/rules/*.yml), dashboard panels and template variables (grafana/dashboards/*.json) and the
Tempo data source's trace-to-metrics queries (grafana/provisioning/datasources). Test modules beside
it import it by name (pytest puts this folder on sys.path; tests folders have no __init__.py);
others can load it by path.

The end-to-end suite evaluates each expression against a live Prometheus::

    for item in promql_expressions():
        query(item.render({"service": "mindhit-api"}))
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

REPO_ROOT = Path(__file__).resolve().parents[3]
RULES_DIR = REPO_ROOT / "prometheus" / "rules"
PROMETHEUS_TESTS_DIR = REPO_ROOT / "prometheus" / "tests"
DASHBOARDS_DIR = REPO_ROOT / "grafana" / "dashboards"
DATASOURCES_FILE = REPO_ROOT / "grafana" / "provisioning" / "datasources" / "datasources.yml"
SIGNALS_DOC = REPO_ROOT / "docs" / "signals.md"

# Series Prometheus makes itself for every scrape target; not telemetry, so not in the contract.
PROMETHEUS_SYNTHETIC_SERIES = frozenset({"up"})

Kind = Literal["recording_rule", "alert_rule", "dashboard_panel", "dashboard_variable", "datasource_query"]


@dataclass(frozen=True)
class PromQLExpression:
    """One expression as written in its file (Grafana variables unexpanded)."""

    kind: Kind
    source: str  # file relative to the repository, then "#" and where in it
    name: str  # rule name, panel title, variable name or query name
    expr: str

    def render(self, variables: Mapping[str, str] | None = None, *, rate_interval: str = "1m") -> str:
        """The expression with Grafana's variables replaced, ready for Prometheus' query API."""
        return render_grafana_variables(self.expr, variables, rate_interval=rate_interval)


# ---------------------------------------------------------------------------------------- sources


def _relative(path: Path) -> str:
    return path.relative_to(REPO_ROOT).as_posix()


def _load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def rule_files() -> list[Path]:
    return sorted(RULES_DIR.glob("*.yml"))


def rules(kind: Literal["record", "alert"]) -> Iterator[tuple[Path, dict[str, Any]]]:
    """(file, rule) for every rule of that kind in prometheus/rules."""
    for path in rule_files():
        for group in (_load_yaml(path) or {}).get("groups", []):
            for rule in group.get("rules", []):
                if kind in rule:
                    yield path, rule


def recording_rules() -> list[PromQLExpression]:
    return [
        PromQLExpression("recording_rule", f"{_relative(path)}#{rule['record']}", rule["record"], rule["expr"])
        for path, rule in rules("record")
    ]


def alert_rules() -> list[PromQLExpression]:
    return [
        PromQLExpression("alert_rule", f"{_relative(path)}#{rule['alert']}", rule["alert"], rule["expr"])
        for path, rule in rules("alert")
    ]


def recording_rule_names() -> set[str]:
    return {rule["record"] for _, rule in rules("record")}


def dashboard_files() -> list[Path]:
    return sorted(DASHBOARDS_DIR.glob("*.json"))


def load_dashboard(path: Path) -> dict[str, Any]:
    model: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return model


def iter_panels(panels: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every panel, including those nested in (collapsed) rows."""
    for panel in panels:
        yield panel
        yield from iter_panels(panel.get("panels", []))


_LABEL_VALUES = re.compile(r"^\s*label_values\(\s*(?:(?P<selector>.+),\s*)?(?P<label>\w+)\s*\)\s*$", re.DOTALL)


def parse_label_values(query: str) -> tuple[str | None, str]:
    """Split Grafana's ``label_values(selector, label)`` into its selector (or None) and label."""
    match = _LABEL_VALUES.match(query)
    if not match:
        raise ValueError(f"not a label_values() query: {query!r}")
    return match["selector"], match["label"]


def _variable_query(variable: dict[str, Any]) -> str:
    query = variable.get("query", "")
    return str(query.get("query", "") if isinstance(query, dict) else query)


def dashboard_expressions() -> list[PromQLExpression]:
    """Panel targets, and the selectors inside query variables' label_values()."""
    found: list[PromQLExpression] = []
    for path in dashboard_files():
        model = load_dashboard(path)
        for panel in iter_panels(model.get("panels", [])):
            for target in panel.get("targets", []):
                if target.get("expr"):
                    source = f"{_relative(path)}#panel={panel['id']}/{target.get('refId', '?')}"
                    found.append(PromQLExpression("dashboard_panel", source, panel.get("title", ""), target["expr"]))
        for variable in model.get("templating", {}).get("list", []):
            if variable.get("type") != "query":
                continue
            selector, _label = parse_label_values(_variable_query(variable))
            if selector:
                source = f"{_relative(path)}#var={variable['name']}"
                found.append(PromQLExpression("dashboard_variable", source, variable["name"], selector))
    return found


def datasource_queries() -> list[PromQLExpression]:
    """PromQL kept in data source settings (Tempo's trace-to-metrics links)."""
    found: list[PromQLExpression] = []
    for datasource in (_load_yaml(DATASOURCES_FILE) or {}).get("datasources", []):
        trace_to_metrics = (datasource.get("jsonData") or {}).get("tracesToMetrics") or {}
        for query in trace_to_metrics.get("queries", []):
            # `$$` is how a provisioning file writes a literal `$`.
            expr = str(query["query"]).replace("$$", "$")
            source = f"{_relative(DATASOURCES_FILE)}#{datasource['uid']}/tracesToMetrics/{query['name']}"
            found.append(PromQLExpression("datasource_query", source, query["name"], expr))
    return found


def promql_expressions(kinds: Iterable[Kind] | None = None) -> list[PromQLExpression]:
    """Every expression of every dashboard, rule and data source, optionally of some kinds only."""
    everything = recording_rules() + alert_rules() + dashboard_expressions() + datasource_queries()
    if kinds is None:
        return everything
    wanted = set(kinds)
    return [item for item in everything if item.kind in wanted]


# ------------------------------------------------------------------------------ Grafana variables

_GRAFANA_VARIABLE = re.compile(r"\$\{(\w+)(?::[^}]*)?\}|\$(\w+)")


def render_grafana_variables(
    expr: str, variables: Mapping[str, str] | None = None, *, rate_interval: str = "1m"
) -> str:
    """Replace Grafana's variables the way a dashboard would, for a query sent straight to Prometheus.

    Template variables not given become ``.*`` (Grafana's "All" here); ``$__tags`` becomes a
    matcher on ``service_name`` (what the Tempo data source maps service.name to).
    """
    given = dict(variables or {})
    builtins = {
        "__rate_interval": rate_interval,
        "__interval": rate_interval,
        "__range": "1h",
        "__tags": f'service_name=~"{given.get("service", ".+")}"',
    }

    def substitute(match: re.Match[str]) -> str:
        name = match[1] or match[2]
        if name in builtins:
            return builtins[name]
        return given.get(name, ".*")

    return _GRAFANA_VARIABLE.sub(substitute, expr)


# ----------------------------------------------------------------------------- metric names used

_STRING = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_BRACKETS = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_IDENTIFIER = re.compile(r"(?<![\w.:$])([A-Za-z_:][\w:]*)(?![\w:])(?!\s*\()")
_NOT_METRICS = frozenset(
    {
        "and",
        "or",
        "unless",
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "bool",
        "offset",
        "inf",
        "nan",
        "start",
        "end",
        "atan2",
    }
)


def metric_names(expr: str) -> set[str]:
    """Names of the series an expression reads: identifiers that are not functions, keywords or labels.

    Tolerant on purpose (a tokenizer, not a parser): strings, Grafana variables, label matchers,
    ranges and by/on(...) lists are removed first, then every remaining bare identifier not
    followed by ``(`` is a series name.
    """
    text = _STRING.sub('""', expr)
    text = _GRAFANA_VARIABLE.sub("1m", text)
    text = _MATCHERS.sub(" ", text)
    text = _BRACKETS.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    return {name for name in _IDENTIFIER.findall(text) if name.lower() not in _NOT_METRICS}


# ------------------------------------------------------------------------------ the signals contract


@dataclass(frozen=True)
class SeriesContract:
    """Series named in docs/signals.md: exact names, and prefixes for entries written ``name_*``."""

    names: frozenset[str]
    prefixes: tuple[str, ...]

    def allows(self, name: str) -> bool:
        return name in self.names or name.startswith(self.prefixes)


_SECTIONS_WITH_SERIES = ("## Metrics", "## Produced in the Collector")
_BACKTICKED = re.compile(r"`([^`]+)`")
_SERIES_TOKEN = re.compile(r"^[A-Za-z_:][\w:]*(?:\{[\w,]+\}[\w:]*)*\*?$")
_BRACES = re.compile(r"\{([^{}]*)\}")


def _expand_braces(token: str) -> list[str]:
    match = _BRACES.search(token)
    if not match:
        return [token]
    head, tail = token[: match.start()], token[match.end() :]
    return [expanded for choice in match[1].split(",") for expanded in _expand_braces(head + choice + tail)]


def series_contract(doc: Path = SIGNALS_DOC) -> SeriesContract:
    """Parse the last column of the series tables of docs/signals.md (labels in parentheses ignored)."""
    names: set[str] = set()
    prefixes: set[str] = set()
    section = ""
    for line in doc.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            section = line.strip()
            continue
        if not section.startswith(_SECTIONS_WITH_SERIES) or not line.lstrip().startswith("|"):
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        series_cell = re.sub(r"\([^)]*\)", " ", cells[-1])
        for token in _BACKTICKED.findall(series_cell):
            if not _SERIES_TOKEN.match(token.strip()):
                continue
            for name in _expand_braces(token.strip()):
                if name.endswith("*"):
                    prefixes.add(name.rstrip("*"))
                else:
                    names.add(name)
    return SeriesContract(frozenset(names), tuple(sorted(prefixes)))


def unknown_series(items: Iterable[PromQLExpression], contract: SeriesContract | None = None) -> list[str]:
    """'source: name' for every series an expression reads that is neither contract nor recording rule."""
    contract = contract or series_contract()
    recorded = recording_rule_names()
    problems = []
    for item in items:
        for name in sorted(metric_names(item.expr)):
            if name in recorded or name in PROMETHEUS_SYNTHETIC_SERIES or contract.allows(name):
                continue
            problems.append(f"{item.source}: {name}")
    return problems
