"""The sections every report has, whatever its runs: the forget-versus-utility plot, a summary per
evaluation suite (a row per model) and the full metric tables (a row per metric)."""

from __future__ import annotations

from unlearn.core.formatting import fmt
from unlearn.eval.registry import result_key
from unlearn.eval.suites import SUITES
from unlearn.report.document import Section, Table
from unlearn.report.entries import Entry
from unlearn.report.keys import Keys
from unlearn.report.svg import tradeoff_svg

# The plot's axes. ROUGE-L of the greedy answers is the knowledge measure shared by the seeds' tables;
# model utility is the better utility axis but needs the general sets, so retain ROUGE-L stands in.
FORGET_METRIC = "rougeL_recall"
UTILITY = "model_utility"
SUMMARY_ROLES = ("forget", "retain")


MARKERS = (("method", "each method a blue point"), ("original", "the original model a black square"),
           ("retrained", "the retrained model (never saw the forget set) a green diamond"))
"""How the plot draws each role (unlearn.report.svg), for its caption."""


def axes(entries: list[Entry], keys: Keys) -> tuple[str, str]:
    """(x key, y key): model utility when every finished model has it, else retain ROUGE-L (one scale for all)."""
    utility = all(e.metrics.get(UTILITY) is not None for e in entries if e.ok)
    return UTILITY if utility else keys.key("retain", FORGET_METRIC), keys.key("forget", FORGET_METRIC)


def tradeoff_section(entries: list[Entry], keys: Keys) -> Section:
    x_key, y_key = axes(entries, keys)
    points = [(e.name, e.role, float(e.metrics[x_key]), float(e.metrics[y_key])) for e in entries
              if e.ok and e.metrics.get(x_key) is not None and e.metrics.get(y_key) is not None]
    x_title, y_title = (f"{keys.label(k)} ({keys.direction(k)})" for k in (x_key, y_key))
    roles = {role for _, role, _, _ in points}
    shapes = [text for role, text in MARKERS if role in roles]  # only what the plot shows
    return Section("tradeoff", "Forget versus utility", ["; ".join(shapes).capitalize() + "."],
                   tradeoff_svg(points, x_title, y_title),
                   [Table(["model", "role", x_title, y_title], [[n, r, fmt(x), fmt(y)] for n, r, x, y in points],
                          text_columns=2)])


def summary_sections(entries: list[Entry], keys: Keys) -> list[Section]:
    """One table per suite the models were evaluated with (all registered suites when no file says):
    the suite's metrics on the forget and retain sets, then its derived metrics; only keys some model has."""
    names = list(dict.fromkeys(s for e in entries for s in e.suites)) or SUITES.in_order()
    out = []
    for name in (n for n in names if n in SUITES):
        suite = SUITES.get(name)
        datasets = [d for role in SUMMARY_ROLES for d in keys.datasets(role)]
        wanted = [result_key(d, m) for d in datasets for m in suite.metrics]
        wanted += [k for m in suite.derived for k in (m, *(result_key(d, m) for d in datasets))]
        columns = [k for k in dict.fromkeys(wanted) if any(k in e.metrics for e in entries)]
        if not columns:
            continue
        rows = [[e.name, *(fmt(e.metrics.get(k)) for k in columns)] for e in entries]
        out.append(Section(f"summary-{name}", f"Summary: the {name} suite",
                           [f"A row per model: {suite.description}, on the forget and retain sets (every set's "
                            "numbers are in the metric tables below)."],
                           tables=[Table(["model", *(keys.label(k) for k in columns)], rows)],
                           notes=column_notes(keys, columns)))
    return out


def column_notes(keys: Keys, columns: list[str]) -> list[str]:
    """What each column measures and which way is better, from the registry and the files."""
    return ["What the columns measure:",
            *(f"- **{keys.label(k)}** ({keys.direction(k)}): {keys.description(k) or k}" for k in columns)]


def metric_sections(entries: list[Entry], keys: Keys) -> list[Section]:
    """Every numeric key, a row per metric and a column per model, forget-set keys first."""
    found = sorted({k for e in entries for k, v in e.metrics.items() if isinstance(v, (int, float))})
    out = []
    for id, title, wanted in (("forget-metrics", "Forget metrics", lambda k: keys.role_of(k) == "forget"),
                              ("other-metrics", "Retain and utility metrics", lambda k: keys.role_of(k) != "forget")):
        rows = [[f"{k} ({keys.direction(k)})", *(fmt(e.metrics.get(k)) for e in entries)] for k in found if wanted(k)]
        if rows:
            out.append(Section(id, title, tables=[Table(["metric (which way is better)", *(e.name for e in entries)],
                                                        rows)]))
    return out
