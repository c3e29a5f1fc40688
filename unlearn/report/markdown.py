"""Tables and the Markdown report of a demo (or any set of evaluated models)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

COLUMNS = [
    ("forget_rougeL_recall", "forget ROUGE-L"),
    ("forget_prob", "forget prob"),
    ("forget_truth_ratio", "forget TR"),
    ("forget_quality", "forget quality"),
    ("retain_rougeL_recall", "retain ROUGE-L"),
    ("retain_prob", "retain prob"),
    ("model_utility", "model utility"),
]


def fmt(v: Any) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float) and 0 < abs(v) < 1e-3:
        return f"{v:.1e}"
    return f"{v:.3f}"


def table(models: dict[str, dict[str, Any]], columns: list[tuple[str, str]]) -> str:
    """A Markdown table, one row per model, one column per (metric key, label)."""
    head = "| model | " + " | ".join(label for _, label in columns) + " |"
    rule = "|---|" + "---:|" * len(columns)
    rows = [f"| {name} | " + " | ".join(fmt(m.get(key)) for key, _ in columns) + " |" for name, m in models.items()]
    return "\n".join([head, rule, *rows])


def results_table(models: dict[str, dict[str, Any]]) -> str:
    """The TOFU-style table, one row per model."""
    return table(models, COLUMNS)


def seesaw_verdict(models: dict[str, dict[str, Any]]) -> list[str]:
    """Does the seesaw of the seeds show? GA forgets and collapses retain knowledge; methods with a
    retain regulariser keep more of it. Each claim is stated with its numbers."""
    lines: list[str] = []
    target = models.get("target")
    ga = models.get("GA")
    if not target or not ga or "error" in ga:
        return ["GA or the target model was not run (or failed), so the seesaw cannot be checked."]
    t_f, t_r = target["forget_rougeL_recall"], target["retain_rougeL_recall"]
    g_f, g_r = ga["forget_rougeL_recall"], ga["retain_rougeL_recall"]
    forgot = g_f < t_f
    collapsed = g_r < 0.5 * t_r
    lines.append(
        f"- GA {'forgets' if forgot else 'does not forget'}: forget ROUGE-L {t_f:.3f} -> {g_f:.3f}; "
        f"and it {'collapses' if collapsed else 'does not collapse'} retain knowledge: "
        f"retain ROUGE-L {t_r:.3f} -> {g_r:.3f} (collapse = below half of the target's)."
    )
    kept = []
    for name, m in models.items():
        if name in ("target", "retain", "GA") or not any(tag in name for tag in ("GDR", "KLR")):
            continue
        if "error" in m:
            lines.append(f"- {name} failed: {m['error']}")
            continue
        better = m["retain_rougeL_recall"] > g_r
        kept.append(better)
        lines.append(
            f"- {name} keeps {'more' if better else 'no more'} retain knowledge than GA: retain ROUGE-L "
            f"{m['retain_rougeL_recall']:.3f} vs {g_r:.3f}, with forget ROUGE-L {m['forget_rougeL_recall']:.3f}."
        )
    shows = forgot and collapsed and kept and all(kept)
    lines.insert(0, f"**The seesaw {'shows' if shows else 'does not fully show'} in this run.**")
    return lines


def _load_samples(out: Path, names: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Each model's samples.jsonl, read once."""
    rows: dict[str, list[dict[str, Any]]] = {}
    for name in names:
        path = out / (name if name in ("target", "retain") else f"unlearn/{name}") / "samples.jsonl"
        if path.is_file():
            rows[name] = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return rows


def _examples(samples: dict[str, list[dict[str, Any]]], set_name: str, k: int) -> list[str]:
    """The first k questions of a set, with the answers of each model."""
    rows = {name: [r for r in model_rows if r["set"] == set_name][:k] for name, model_rows in samples.items()}
    if "target" not in rows:
        return []
    lines = []
    for i, sample in enumerate(rows["target"]):
        lines.append(f"**Q:** {sample['question']}  \n**True answer:** {sample['answer']}\n")
        lines.append("| model | answer |\n|---|---|")
        for name, model_rows in rows.items():
            if i < len(model_rows):
                text = model_rows[i]["generation"].replace("|", "\\|").replace("\n", " ")
                lines.append(f"| {name} | {text[:160] or '(empty)'} |")
        lines.append("")
    return lines


def write_report(out: str | Path, summary: dict[str, Any]) -> Path:
    from unlearn.report.relearn_section import relearn_section

    out = Path(out)
    models = summary["models"]
    samples = _load_samples(out, list(models))
    world = summary["world"]
    lines = [
        "# unlearn demo report",
        "",
        f"Synthetic world: {world['n_people']} people x 10 facts (seed {world['seed']}); "
        f"forget split `{summary['forget_split']}`. `target` was fine-tuned on everyone, `retain` on everyone "
        "but the forget people (the gold standard unlearning imitates); every other row is the target after "
        "that unlearning method.",
        "",
        results_table(models),
        "",
        "Lower is better for forget ROUGE-L and forget prob; higher is better for forget truth ratio "
        "(min(R, 1/R)), forget quality (KS-test p-value against the retain model), retain metrics and model "
        "utility (harmonic mean of probability, ROUGE-L and truth ratio on the retain and general-knowledge sets).",
        "",
        "## The seesaw",
        "",
        *seesaw_verdict(models),
        "",
        *relearn_section(models, summary.get("notes"), summary.get("settings", {}).get("fluency_scorer",
                                                                                     "the retain model")),
        "## Example answers, before and after",
        "",
        "### Forget set",
        "",
        *_examples(samples, "forget", 3),
        "### Retain set",
        "",
        *_examples(samples, "retain", 2),
        "## Settings",
        "",
        "```json",
        json.dumps(summary.get("settings", {}), indent=2),
        "```",
        "",
        f"Times (s): {json.dumps(summary.get('timings_s', {}))}",
        "",
    ]
    path = out / "report.md"
    path.write_text("\n".join(lines))
    return path
