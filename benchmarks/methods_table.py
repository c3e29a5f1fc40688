"""Every preset on the full demo world (forget10): forget and retain figures, and each method's cost on this
machine from its cost.json: minutes of training + evaluation, peak memory, forward passes per step (the
trained model's, reference passes included).

    python benchmarks/methods_table.py --out demo_out          # runs `unlearn demo` with every preset
    python benchmarks/methods_table.py --out demo_out --print  # only prints the tables of a finished run

The demo reuses the finished retain and target models and every finished method run in `--out`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

EXTRA = ["GA_GDR+SURE", "NPO_GDR+SURE", "NPO_KLR+SURE", "NPO_GDR+GRU", "GA_GDR+GRU", "NPO_GDR+DGS"]
COLUMNS = [("forget_rougeL_recall", "forget ROUGE-L"), ("forget_truth_ratio", "forget TR"),
           ("forget_quality", "forget quality"), ("model_utility", "model utility"),
           ("retain_rougeL_recall", "retain ROUGE-L")]
MORE = [("forget_prob", "forget prob"), ("retain_prob", "retain prob"), ("forget_kfr", "forget KFR"),
        ("retain_krr", "retain KRR"), ("forget_linguistic_score", "forget LS"),
        ("retain_linguistic_score", "retain LS"), ("held_out_utility", "held-out utility")]


def presets() -> list[str]:
    """Every preset; ReLearn and TRU make their targets from the forget split with the offline generator."""
    from unlearn.methods import PRESETS

    return [n for n in PRESETS if n != "finetune"] + EXTRA


def cost(out: Path, name: str) -> tuple[str, str, str]:
    """(minutes, peak GiB, forward passes per step) from the run's cost.json; minutes from train_state.json
    and metrics.json for a run made before cost reports (the other two blank)."""
    path = out / "unlearn" / name / "cost.json"
    if not path.is_file():
        spent = minutes(out, name)
        return (f"{spent:.2f}" if spent is not None else "", "", "")
    record = json.loads(path.read_text())
    memory = record.get("memory", {})
    peak = max(memory["gpu_max_allocated_mib"]) if memory.get("gpu_max_allocated_mib") else memory.get("cpu_peak_rss_mib")
    passes = record.get("passes", {})
    per_step = (sum(passes.get("forward", {}).values()) + sum(passes.get("reference_forward", {}).values())) \
        / max(record.get("steps") or 1, 1)
    return (f"{record['total_s'] / 60:.2f}", f"{peak / 1024:.2f}" if peak else "", f"{per_step:g}")


def minutes(out: Path, name: str) -> float | None:
    """Training plus evaluation time of one method's run, from its own run folder (a reused run keeps
    the time it took when it was made)."""
    run = out / "unlearn" / name
    try:
        train = json.loads((run / "train_state.json").read_text())["train_seconds"]
        evaluate = json.loads((run / "metrics.json").read_text())["eval_seconds"]
    except (OSError, KeyError, ValueError):
        return None
    return (train + evaluate) / 60


def fmt(v: float | None) -> str:
    return "n/a" if v is None else (f"{v:.1e}" if 0 < abs(v) < 1e-3 else f"{v:.3f}")


def table(results: dict, out: Path, columns: list[tuple[str, str]] = COLUMNS, with_cost: bool = True) -> str:
    """A Markdown row per model: `columns` from results.json, then (with_cost) the cost from each cost.json."""
    extra = ["minutes", "peak GiB", "passes/step"] if with_cost else []
    lines = ["| model | " + " | ".join([label for _, label in columns] + extra) + " |",
             "|---|" + "---:|" * (len(columns) + len(extra))]
    for name, m in results["models"].items():
        if "error" in m:
            lines.append(f"| {name} | failed: {m['error']} |")
            continue
        cells = [fmt(m.get(key)) for key, _ in columns] + (list(cost(out, name)) if with_cost else [])
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="demo_out")
    parser.add_argument("--print", action="store_true", help="print the tables of a finished run only")
    args = parser.parse_args()
    if not args.print:
        from unlearn.demo import demo

        demo(args.out, methods=presets())
    out = Path(args.out)
    results = json.loads((out / "results.json").read_text())
    print(table(results, out))
    print()
    print(table(results, out, MORE, with_cost=False))


if __name__ == "__main__":
    main()
