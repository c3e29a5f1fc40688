"""The sweep's leaderboard: one HTML file, its Markdown twin (through the one report pipeline) and CSV files.

For each (model, benchmark) pair: every method's key metrics as mean ± spread over seeds beside the
target and the retain model; the ranking at equal utility (each run calibrated by model mixing, as
`unlearn compare` does); the cost; the hyperparameters every method ran with; the seeds' claims checked
on these numbers; example answers. leaderboard.csv has a row per method and pair (means and spreads),
cells.csv a row per run, hyperparameters.csv every training and method value each run used."""

from __future__ import annotations

import csv
import io
import json
import shlex
from pathlib import Path
from typing import Any

from unlearn.core.formatting import fmt
from unlearn.report.document import Report, Section, Table
from unlearn.report.examples import examples_section
from unlearn.sweep.board import Board, Stat, aggregate, build_board
from unlearn.sweep.claims import check_claims

HYPERPARAMETERS = ("train.lr", "train.epochs", "train.max_steps", "train.batch_size", "train.scheduler", "lora.r")
"""The training values the leaderboard's table shows; hyperparameters.csv has every one."""


def stat_text(stat: Stat | None) -> str:
    """'0.412 ± 0.031' (spread over seeds), '0.412' for one seed, 'n/a' when nothing was measured."""
    if stat is None:
        return "n/a"
    return fmt(stat.mean) if stat.n < 2 else f"{fmt(stat.mean)} ± {fmt(stat.spread)}"


def boards(state: dict[str, Any]) -> list[Board]:
    return [build_board(state, m, b) for m in state["grid"]["models"] for b in state["grid"]["benchmarks"]]


def pair_sections(board: Board, claims: list[str] | None) -> list[Section]:
    title = f"{board.model} × {board.benchmark}"
    sections = [_scores(board, title), _ranking(board, title), _claims(board, title, claims),
                _hyperparameters(board, title)]
    examples = examples_section([*board.references, *(next((e for e in runs if e.ok), runs[0])
                                                       for runs in board.seeds.values())])
    if examples:
        examples.id, examples.title = f"examples-{board.model}-{board.benchmark}", f"Example answers: {title}"
        examples.folded = "Example answers"
        sections.append(examples)
    return [s for s in sections if s]


def _scores(board: Board, title: str) -> Section:
    keys = board.keys
    head = ["model", "seeds", *(f"{keys.label(k)} ({keys.direction(k)})" for k in board.columns), "cost (s)"]
    rows = [[e.name, "", *(fmt(e.metrics.get(k)) for k in board.columns), ""] for e in board.references]
    for method in board.methods():
        ok = len(board.seeds[method]) - len(board.failed(method))
        seeds = f"{ok}" + (f" ({len(board.failed(method))} failed)" if board.failed(method) else "")
        cost = stat_text(_cost(board, method))
        rows.append([method, seeds, *(stat_text(board.stat(method, k)) for k in board.columns), cost])
    text = ["Each method's mean ± the spread (sample standard deviation) over its seeds; `target` is the model "
            "before unlearning, `retain` the model trained without the forget set (the gold standard). Cost: "
            "training plus evaluation seconds of one run."]
    notes = [f"{e.name} failed: {e.error}" for runs in board.seeds.values() for e in runs if not e.ok]
    return Section(f"scores-{board.model}-{board.benchmark}", f"Leaderboard: {title}", text,
                   tables=[Table(head, rows, text_columns=2)], notes=notes)


def _cost(board: Board, method: str) -> Stat | None:
    return aggregate(board.costs.get(method, []))


def _ranking(board: Board, title: str) -> Section | None:
    key = board.rank_by
    ranked = [(m, board.calibrated(m, key), board.calibrated(m, "alpha")) for m in board.methods()]
    ranked = [r for r in ranked if r[1] is not None]
    measured = [c for runs in board.calibrations.values() for c in runs if "error" not in c]
    if not ranked and measured:  # calibrated, but not on the metric asked for: say so, never drop it silently
        valid = ", ".join(k for k, v in measured[0].get("forget", {}).items() if v is not None)
        return Section(f"ranking-{board.model}-{board.benchmark}", f"Ranking at equal utility: {title}",
                       [f"rank_by {key!r} was not measured at the calibrated alpha; valid: {valid}. Set rank_by in "
                        "the grid and run the sweep again (the calibrations are reused)."])
    if not ranked:
        return None
    higher = bool(board.higher_is_better(key))
    ranked.sort(key=lambda r: r[1].mean, reverse=higher)
    first = next(c for runs in board.calibrations.values() for c in runs if "error" not in c)
    rows = [[str(i), m, stat_text(alpha), stat_text(value), stat_text(board.stat(m, key))]
            for i, (m, value, alpha) in enumerate(ranked, 1)]
    text = [f"Every run mixed with the target ((1 - alpha) target + alpha unlearned) at the largest alpha whose "
            f"{first['metric']} stays at {first['ratio']:.0%} of the target's (tolerance {first['tolerance']}), as "
            f"`unlearn compare` does; ranked by {key} there ({'higher' if higher else 'lower'} is better), mean "
            "over seeds."]
    failed = [m for m in board.methods() if any("error" in c for c in board.calibrations.get(m, []))]
    notes = [f"{m}: calibration failed for a seed ({next(c['error'] for c in board.calibrations[m] if 'error' in c)})"
             for m in failed]
    head = ["rank", "method", "alpha", f"{key} calibrated", f"{key} uncalibrated"]
    return Section(f"ranking-{board.model}-{board.benchmark}", f"Ranking at equal utility: {title}", text,
                   tables=[Table(head, rows, text_columns=2)], notes=notes)


def _claims(board: Board, title: str, names: list[str] | None) -> Section:
    rows, notes = [], []
    for name, claim, verdict in check_claims(board, names):
        said = "not tested" if verdict.holds is None else "holds" if verdict.holds else "does not hold"
        rows.append([name, claim.paper, claim.statement, claim.test, said, verdict.numbers])
        if verdict.holds is False:
            notes.append(f"- {name} does not hold here; likely reason: {claim.reason}.")
    text = ["Each finding of the seeds as a test on the numbers above (means over seeds); the thresholds are "
            "the sweep's, stated in the test column. Nothing was tuned towards a claim: the hyperparameters "
            "used are listed below."]
    return Section(f"claims-{board.model}-{board.benchmark}", f"The seeds' claims: {title}", text,
                   tables=[Table(["claim", "paper", "finding", "test", "verdict", "numbers"], rows, text_columns=6)],
                   notes=notes)


def _hyperparameters(board: Board, title: str) -> Section:
    rows = []
    for method, runs in board.seeds.items():
        values = run_values(runs[0].folder)
        method_values = [f"{k.removeprefix('method_resolved.')}={v}" for k, v in values.items()
                         if k.startswith("method_resolved.") and k.split(".")[-1] not in ("role", "streams", "term")]
        rows.append([method, *(str(values.get(k, "")) for k in HYPERPARAMETERS), "; ".join(method_values)])
    return Section(f"settings-{board.model}-{board.benchmark}", f"Hyperparameters: {title}",
                   ["What each method ran with (the first seed's run; hyperparameters.csv has every value of every "
                    "run)."], tables=[Table(["method", *HYPERPARAMETERS, "terms"], rows, text_columns=2 + len(HYPERPARAMETERS))],
                   folded="Hyperparameters")


def run_values(folder: Path) -> dict[str, Any]:
    """The run's training, LoRA and method values as its fingerprint.json recorded them (flat keys)."""
    try:
        found = json.loads((Path(folder) / "fingerprint.json").read_text())
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in found.items() if k.split(".")[0] in ("train", "lora", "method", "method_resolved")}


def build_leaderboard(state: dict[str, Any], built: list[Board], claims: list[str] | None = None) -> Report:
    sections: list[Section] = []
    for board in built:
        sections += pair_sections(board, claims)
    sections.append(_provenance(state))
    grid = state["grid"]
    intro = [f"Grid `{grid['source']}`: {len(grid['methods'])} methods × seeds {grid['seeds']} on "
             f"{', '.join(grid['models'])} × {', '.join(grid['benchmarks'])}; every folder under `{grid['out']}`."]
    return Report("Unlearning sweep leaderboard", intro, sections)


def _provenance(state: dict[str, Any]) -> Section:
    machine = state["machine"]
    versions = _versions(state)
    processor = f"{machine['processor']}, " if machine.get("processor") else ""
    rows = [["machine", f"{machine['platform']}, {processor}{machine['cpus']} CPUs, torch threads "
                        f"{machine['torch_threads']}"
                        + (f", {machine['cuda']}" if machine.get("cuda") else "")],
            ["versions", ", ".join(f"{k} {v}" for k, v in versions.items())],
            ["total CPU time", f"{state['total_cpu_seconds']:.0f} s over {len(state['sessions'])} session(s)"],
            ["total wall time", f"{state['total_wall_seconds']:.0f} s"],
            ["commands", "; ".join(dict.fromkeys(_as_typed(s["command"]) for s in state["sessions"]))]]
    return Section("provenance", "How this was made", tables=[Table(["", ""], rows, text_columns=2)],
                   details=[("the grid as run", json.dumps(state["grid"], indent=1))])


def typed_command(argv: list[str]) -> str:
    """The command line as its user typed it: `unlearn ...` whether the entry point or `python -m unlearn`
    ran it (argv[0] is then the package's __main__.py, a path of this machine); another program as is."""
    first = Path(argv[0]) if argv else Path()
    if first.name == "unlearn" or (first.name == "__main__.py" and first.parent.name == "unlearn"):
        return shlex.join(["unlearn", *argv[1:]])
    return shlex.join(argv)


def _as_typed(recorded: str) -> str:
    """A recorded command as typed_command writes it; one that is not shell words (an earlier record,
    unquoted) as it was recorded."""
    try:
        return typed_command(shlex.split(recorded))
    except ValueError:
        return recorded


def _versions(state: dict[str, Any]) -> dict[str, str]:
    for cell in state["cells"]:
        try:
            return json.loads((Path(cell["folder"]) / "run.json").read_text()).get("versions", {})
        except (OSError, ValueError):
            continue
    return {}


def claims_summary(state: dict[str, Any], built: list[Board] | None = None) -> str:
    """The claim verdicts of every pair, a line each (what `unlearn sweep` prints at the end)."""
    lines = []
    for board in built if built is not None else boards(state):
        lines.append(f"claims on {board.model} x {board.benchmark}:")
        for name, _, verdict in check_claims(board, state["grid"].get("claims")):
            said = "not tested" if verdict.holds is None else "holds" if verdict.holds else "does not hold"
            lines.append(f"  {said:<13} {name}: {verdict.numbers}")
    return "\n".join(lines)


def leaderboard_csv(built: list[Board]) -> str:
    """A row per (model, benchmark, method): seeds, then each key's mean and spread, the calibrated values."""
    rows: list[dict[str, Any]] = []
    for board in built:
        for method in board.methods():
            row: dict[str, Any] = {"model": board.model, "benchmark": board.benchmark, "method": method,
                                   "seeds": len(board.seeds[method]) - len(board.failed(method)),
                                   "failed": len(board.failed(method))}
            for key in [*board.columns, f"calibrated_{board.rank_by}", "calibrated_alpha", "cost_seconds"]:
                stat = board.calibrated(method, key.removeprefix("calibrated_")) if key.startswith("calibrated_") \
                    else _cost(board, method) if key == "cost_seconds" else board.stat(method, key)
                row[f"{key}_mean"] = "" if stat is None else stat.mean
                row[f"{key}_spread"] = "" if stat is None else stat.spread
            rows.append(row)
    return _csv(rows)


def cells_csv(state: dict[str, Any]) -> str:
    """A row per run: its status and every value its metrics.json holds."""
    rows = []
    for cell in state["cells"]:
        row = {k: cell.get(k, "") for k in ("model", "benchmark", "method", "seed", "status", "folder", "error")}
        if cell["status"] == "ok":
            metrics = json.loads((Path(cell["folder"]) / "metrics.json").read_text())["metrics"]
            row.update({k: v for k, v in metrics.items() if isinstance(v, (int, float)) or v is None})
        rows.append(row)
    return _csv(rows)


def hyperparameters_csv(state: dict[str, Any]) -> str:
    return _csv([{"method": c["method"], "seed": c["seed"], "model": c["model"], "benchmark": c["benchmark"],
                  **run_values(Path(c["folder"]))} for c in state["cells"]])


def _csv(rows: list[dict[str, Any]]) -> str:
    columns = list(dict.fromkeys(k for row in rows for k in row))
    out = io.StringIO()
    writer = csv.DictWriter(out, columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(v) for k, v in row.items()})
    return out.getvalue()


def _cell(value: Any) -> Any:
    return json.dumps(value) if isinstance(value, (list, dict)) else value


def write_leaderboard(state: dict[str, Any], out: Path) -> tuple[list[Path], str]:
    """OUT/leaderboard.html, .md, leaderboard.csv, cells.csv and hyperparameters.csv, and the claims'
    summary; every run folder is read once."""
    from unlearn.core.atomic import write_text
    from unlearn.report.build import write_report

    built = boards(state)
    html, md = write_report(build_leaderboard(state, built, state["grid"].get("claims")), out / "leaderboard.html")
    written = [html, md]
    for name, text in (("leaderboard.csv", leaderboard_csv(built)), ("cells.csv", cells_csv(state)),
                       ("hyperparameters.csv", hyperparameters_csv(state))):
        write_text(out / name, text)
        written.append(out / name)
    return written, claims_summary(state, built)
