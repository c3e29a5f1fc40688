"""The demo report's ReLearn section: ReLearn next to GA and NPO on the measures of its paper
("ReLearn: Unlearning via Learning for Large Language Models", Xu et al., 2025, tables 1-2): forget
and retain ROUGE-L, KFR on the forget set, KRR on the retain set, model utility and the linguistic
score (fluency), and a verdict on the paper's claim, stated with its numbers."""

from __future__ import annotations

from typing import Any

from unlearn.report.markdown import fmt, table

COLUMNS = [
    ("forget_rougeL_recall", "forget ROUGE-L"),
    ("retain_rougeL_recall", "retain ROUGE-L"),
    ("forget_kfr", "KFR (forget)"),
    ("retain_krr", "KRR (retain)"),
    ("model_utility", "model utility"),
    ("forget_linguistic_score", "fluency: forget LS"),
    ("retain_linguistic_score", "retain LS"),
]
BASELINES = ("GA", "NPO")


def _vs(models: dict[str, dict[str, Any]], key: str, names: list[str]) -> str:
    return ", ".join(f"{n} {models[n][key]:.3f}" for n in names)


def relearn_verdict(models: dict[str, dict[str, Any]]) -> list[str]:
    """Whether ReLearn keeps fluency and retention better than GA and NPO in this run (seed 000's
    claim), each part with its numbers; missing rows or values are said, never guessed."""
    relearn = models.get("ReLearn")
    if not relearn or "error" in relearn:
        return ["ReLearn was not run (or failed), so its claim cannot be checked."]
    names = [n for n in BASELINES if n in models and "error" not in models[n]]
    keys = [k for k, _ in COLUMNS]
    missing = [k for k in keys if relearn.get(k) is None or any(models[n].get(k) is None for n in names)]
    if not names or missing:
        reasons = (["GA and NPO were not run (or failed)"] if not names else []) + \
            ([f"missing values: {', '.join(missing)}"] if missing else [])
        return [f"ReLearn's claim cannot be checked in this run: {'; '.join(reasons)}."]

    def beats(key: str) -> bool:
        return all(relearn[key] > models[n][key] for n in names)

    retention = beats("retain_krr") and all(relearn["retain_rougeL_recall"] >= models[n]["retain_rougeL_recall"]
                                             for n in names)
    fluency = beats("forget_linguistic_score")
    forgets = all(relearn["forget_kfr"] >= models[n]["forget_kfr"] for n in names)
    # The target's forget answers are its fine-tuning answers, fluent by construction: a fluency figure
    # that ranks an unlearned model's answers above them is not measuring fluency in this run.
    target_ls = (models.get("target") or {}).get("forget_linguistic_score")
    above_target = [n for n in [*names, "ReLearn"] if target_ls is not None and models[n]["forget_linguistic_score"] > target_ls]
    who = " and ".join(names)
    if above_target:
        fluency_clause = (f"whether it keeps fluency better cannot be told from the linguistic score here: it ranks "
                          f"{' and '.join(above_target)} above the target model's own answers")
    else:
        fluency_clause = f"its fluency is {'better' if fluency else 'not better'}"
    lines = [
        f"**At this scale ReLearn keeps retention {'better' if retention else 'no better'} than {who}; "
        f"{fluency_clause}** (seed 000 claims both).",
        f"- Retention: KRR {relearn['retain_krr']:.3f} vs {_vs(models, 'retain_krr', names)}; retain ROUGE-L "
        f"{relearn['retain_rougeL_recall']:.3f} vs {_vs(models, 'retain_rougeL_recall', names)}.",
        f"- Fluency (linguistic score of the forget-set answers): {fmt(relearn['forget_linguistic_score'])} vs "
        + ", ".join(f"{n} {fmt(models[n]['forget_linguistic_score'])}" for n in names)
        + (f"; the target model's {fmt(target_ls)}." if target_ls is not None else "."),
        f"- Forgetting: KFR {relearn['forget_kfr']:.3f} vs {_vs(models, 'forget_kfr', names)} "
        f"({'as much or more' if forgets else 'less'}); forget ROUGE-L {relearn['forget_rougeL_recall']:.3f} vs "
        f"{_vs(models, 'forget_rougeL_recall', names)}.",
    ]
    if above_target:
        lines.append("- Why the fluency figure fails here: repeated tokens are easy to predict, so degenerate answers "
                     "get a low perplexity; and the scorer finds the world's invented names improbable, so correct "
                     "answers get a high one. Read the example answers below instead, or rate them with a judge "
                     "model (eval.judge_model: the fluency metric).")
    return lines


def relearn_section(models: dict[str, dict[str, Any]], notes: dict[str, str] | None = None,
                    scorer: str = "the retain model") -> list[str]:
    lines = ["## ReLearn next to GA and NPO", "", table(models, COLUMNS), "", *relearn_verdict(models), ""]
    how = [f"`{k}`: {v}" for k, v in sorted((notes or {}).items()) if k in ("kfr", "krr")]
    lines += [
        "KFR counts forget answers whose entities no longer match the true answer's (higher = more forgotten); "
        "KRR counts retain answers that still match (higher = more kept); LS is the harmonic mean of "
        f"1/(1+PPL), 1/(1+Brunet's index) and Honore's statistic/(1+HS) of the generations, PPL by {scorer} "
        f"(a fixed scorer{'; its own row is scored by itself' if scorer == 'the retain model' else ''})."
        + (" " + "; ".join(how) + "." if how else ""),
        "",
    ]
    return lines
