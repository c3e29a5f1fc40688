"""The sections every report has, whatever its runs: the key metrics with the forget-versus-utility plot,
first; then, folded away in the HTML, a summary per evaluation suite (a row per model) and the full
metric tables (a row per metric)."""

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
KNOWLEDGE_ROLES = ("forget", "retain", "holdout")
"""The sets whose knowledge (ROUGE-L) the key table shows: what should be gone, what should stay, and
questions no model was trained on (the held-out set, when the data has one)."""
FLUENCY = ("fluency", "linguistic_score")
"""The key table's fluency figure, on the forget set: the judge's rating when the evaluation had a judge,
else ReLearn's linguistic score."""
SUMMARIES = "A summary per evaluation suite: each suite's metrics on the forget and retain sets"
FULL_TABLES = "Every metric on every set, a row per metric"
"""What the HTML's folded parts hold, as their <details> summaries say."""


MARKERS = (("method", "each method a blue point"), ("original", "the original model a black square"),
           ("retrained", "the retrained model (never saw the forget set) a green diamond"))
"""How the plot draws each role (unlearn.report.svg), for its caption."""


def axes(entries: list[Entry], keys: Keys) -> tuple[str, str]:
    """(x key, y key): model utility when every finished model has it, else retain ROUGE-L (one scale for all)."""
    utility = all(e.metrics.get(UTILITY) is not None for e in entries if e.ok)
    return UTILITY if utility else keys.key("retain", FORGET_METRIC), keys.key("forget", FORGET_METRIC)


def key_columns(entries: list[Entry], keys: Keys) -> list[str]:
    """Knowledge of each set of KNOWLEDGE_ROLES, model utility and the fluency figure: the keys some model has."""
    def found(key: str) -> bool:
        return any(e.metrics.get(key) is not None for e in entries)

    fluency = next((k for k in (keys.key("forget", m) for m in FLUENCY) if found(k)), None)
    wanted = [*(keys.key(role, FORGET_METRIC) for role in KNOWLEDGE_ROLES), UTILITY, fluency]
    return [k for k in dict.fromkeys(wanted) if k and found(k)]


def key_section(entries: list[Entry], keys: Keys) -> Section:
    """The first thing a reader meets: the plot (its axes are key columns too) and the key numbers."""
    x_key, y_key = axes(entries, keys)
    points = [(e.name, e.role, float(e.metrics[x_key]), float(e.metrics[y_key])) for e in entries
              if e.ok and e.metrics.get(x_key) is not None and e.metrics.get(y_key) is not None]
    x_title, y_title = (f"{keys.label(k)} ({keys.direction(k)})" for k in (x_key, y_key))
    roles = {role for _, role, _, _ in points}
    shapes = [text for role, text in MARKERS if role in roles]  # only what the plot shows
    columns = key_columns(entries, keys)
    costs = any("cost" in e.extra for e in entries)
    rows = [[e.name, e.role if e.ok else "failed", *(fmt(e.metrics.get(k)) for k in columns),
             *(cost_cells(e) if costs else [])] for e in entries]
    caption = ("The key numbers, a row per model, each with its direction of better; every other metric and set is "
               "in the summaries and metric tables below." + (COST_CAPTION if costs else ""))
    table = Table(["model", "role", *(f"{keys.label(k)} ({keys.direction(k)})" for k in columns),
                   *(COST_COLUMNS if costs else [])], rows, caption, text_columns=2)
    plot = [f"The plot: {'; '.join(shapes)}."] if points else []
    return Section("key-metrics", "Key metrics", plot, tradeoff_svg(points, x_title, y_title) if points else "",
                   [table], column_notes(keys, columns))


COST_COLUMNS = ["cost (s)", "peak memory (GiB)"]
COST_CAPTION = (" Cost is the run's own record (cost.json): training and evaluation seconds, and the largest "
                "memory it held (GPU allocation when it ran on GPUs, else the process's resident set).")


def cost_cells(entry: Entry) -> list[str]:
    """The run's total seconds and peak memory, from its cost.json ("-" without one)."""
    cost = entry.extra.get("cost") or {}
    memory = cost.get("memory") or {}
    gpu = memory.get("gpu_max_allocated_mib")
    peak = max(gpu) if gpu else memory.get("cpu_peak_rss_mib")
    return [fmt(cost.get("total_s"), 1), fmt(peak / 1024 if peak else None, 2)]


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
        columns = [k for k in dict.fromkeys(wanted) if any(e.metrics.get(k) is not None for e in entries)]
        if not columns:
            continue
        rows = [[e.name, *(fmt(e.metrics.get(k)) for k in columns)] for e in entries]
        out.append(Section(f"summary-{name}", f"Summary: the {name} suite",
                           [f"A row per model: {suite.description}, on the forget and retain sets (every set's "
                            "numbers are in the metric tables below)."],
                           tables=[Table(["model", *(keys.label(k) for k in columns)], rows)],
                           notes=column_notes(keys, columns), folded=SUMMARIES))
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
                                                        rows)], folded=FULL_TABLES))
    return out
