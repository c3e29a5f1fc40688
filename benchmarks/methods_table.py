"""Every preset on the full demo world (forget10): forget and retain figures, and minutes of training +
evaluation per method on this machine.

    python benchmarks/methods_table.py --out demo_out          # runs `unlearn demo` with every preset
    python benchmarks/methods_table.py --out demo_out --print  # only prints the table of a finished run

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


def presets() -> list[str]:
    """Every preset; ReLearn and TRU make their targets from the forget split with the offline generator."""
    from unlearn.methods import PRESETS

    return [n for n in PRESETS if n != "finetune"] + EXTRA


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


def table(results: dict, out: Path) -> str:
    def fmt(v):
        return "n/a" if v is None else (f"{v:.1e}" if 0 < abs(v) < 1e-3 else f"{v:.3f}")

    lines = ["| model | " + " | ".join(label for _, label in COLUMNS) + " | minutes |",
             "|---|" + "---:|" * (len(COLUMNS) + 1)]
    for name, m in results["models"].items():
        if "error" in m:
            lines.append(f"| {name} | failed: {m['error']} |")
            continue
        spent = minutes(out, name)
        cells = [fmt(m.get(key)) for key, _ in COLUMNS] + [f"{spent:.2f}" if spent is not None else ""]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="demo_out")
    parser.add_argument("--print", action="store_true", help="print the table of a finished run only")
    args = parser.parse_args()
    if not args.print:
        from unlearn.demo import demo

        demo(args.out, methods=presets())
    out = Path(args.out)
    print(table(json.loads((out / "results.json").read_text()), out))


if __name__ == "__main__":
    main()
