"""ReLearn's claim ("ReLearn: Unlearning via Learning for Large Language Models", Xu et al., 2025, seed
000): unlearning by learning new answers to the forget questions keeps retention and fluency better than
reverse optimisation, which works against the forget answers (GA, NPO). Every run that learns is set next
to every run that reverses, on the paper's measures (tables 1-2), with a verdict stated with its numbers.
Which runs learn is read from their methods' terms (unlearn.report.method_kinds), never from their names."""

from __future__ import annotations

from unlearn.core.formatting import fmt
from unlearn.report.document import Section, Table, names_text
from unlearn.report.entries import Entry, left_out
from unlearn.report.keys import Keys
from unlearn.report.method_kinds import LEARNING, REVERSE
from unlearn.report.tables import column_notes

MEASURES = (("forget", "rougeL_recall"), ("retain", "rougeL_recall"), ("forget", "kfr"), ("retain", "krr"),
            (None, "model_utility"), ("forget", "linguistic_score"), ("retain", "linguistic_score"))
"""(dataset role, metric) of the paper's tables; None: a model-level key. LS is the fluency figure."""
TITLE = "Learning new answers next to reverse optimisation (ReLearn's claim)"
SAYS_LS_FAILS = "cannot be told from the linguistic score here"
WHY_LS_FAILS = ("- Why the fluency figure fails here: repeated tokens are easy to predict, so degenerate answers "
                "get a low perplexity; and the scorer may find correct answers improbable (a small scorer, invented "
                "names), so they get a high one. Read the example answers instead, or rate them with a judge model "
                "(eval.judge_model: the fluency metric).")


def approach(entries: list[Entry], kind: str) -> list[Entry]:
    return [e for e in entries if e.role == "method" and e.kind and e.kind.approach == kind]


def learning_section(entries: list[Entry], keys: Keys) -> Section | None:
    """Shown when the runs hold a method that learns and one that reverses, finished or failed."""
    learners, reverse = approach(entries, LEARNING), approach(entries, REVERSE)
    if not learners or not reverse:
        return None
    columns = [keys.key(role, m) if role else m for role, m in MEASURES]
    rule = (f"Learning (every forget term of the method descends the NLL of other answers): "
            f"{names_text([e.name for e in learners])}; reverse optimisation (no forget term does): "
            f"{names_text([e.name for e in reverse])}. Methods that do both are listed, not judged.")
    head = ["model", "unlearns by", *(keys.label(k) for k in columns)]
    rows = [[e.name, e.kind.approach if e.kind else e.role, *(fmt(e.metrics.get(k)) for k in columns)] for e in entries]
    return Section("learning", TITLE, [rule, *left_out(entries)], tables=[Table(head, rows, text_columns=2)],
                   notes=[*claim_verdict(entries, keys), *column_notes(keys, columns), *_scorer_notes(entries, keys)])


def claim_verdict(entries: list[Entry], keys: Keys) -> list[str]:
    """For each finished learning run: does it keep retention and fluency better than every finished
    reverse-optimisation run (the claim), and does it forget as much; failures are said."""
    failed = [f"- {e.name} failed: {e.error}" for e in approach(entries, LEARNING) + approach(entries, REVERSE)
              if not e.ok]
    learners = [e for e in approach(entries, LEARNING) if e.ok]
    reverse = [e for e in approach(entries, REVERSE) if e.ok]
    if not learners:
        return ["No finished run learns new answers, so ReLearn's claim cannot be checked.", *failed]
    original = next((e for e in entries if e.role == "original" and e.ok), None)
    lines = [line for e in learners for line in _verdict(e, reverse, original, keys)]
    return lines + ([WHY_LS_FAILS] if any(SAYS_LS_FAILS in line for line in lines) else []) + failed


def _verdict(run: Entry, reverse: list[Entry], original: Entry | None, keys: Keys) -> list[str]:
    columns = [keys.key(role, m) if role else m for role, m in MEASURES]
    missing = [k for k in columns if run.metrics.get(k) is None or any(b.metrics.get(k) is None for b in reverse)]
    if not reverse or missing:
        reasons = (["no reverse-optimisation run finished"] if not reverse else []) + \
            ([f"missing values: {', '.join(missing)}"] if missing else [])
        return [f"The claim cannot be checked for {run.name}: {'; '.join(reasons)}."]
    forget_rouge, retain_rouge, kfr, krr, _, ls, _ = columns
    m = run.metrics

    def vs(key: str) -> str:
        return f"{keys.label(key)} {fmt(m[key])} vs " + ", ".join(f"{b.name} {fmt(b.metrics[key])}" for b in reverse)

    retention = all(keys.better(krr, m[krr], b.metrics[krr]) and not keys.better(retain_rouge, b.metrics[retain_rouge],
                                                                                  m[retain_rouge]) for b in reverse)
    fluency = all(keys.better(ls, m[ls], b.metrics[ls]) for b in reverse)
    forgets = not any(keys.better(kfr, b.metrics[kfr], m[kfr]) for b in reverse)
    # The original's forget answers are its training answers, fluent by construction: a fluency figure
    # that ranks an unlearned model's answers above them is not measuring fluency in this run.
    base = original.metrics.get(ls) if original else None
    above = [e.name for e in [*reverse, run] if base is not None and keys.better(ls, e.metrics[ls], base)]
    who = names_text([b.name for b in reverse])
    fluency_clause = (f"whether it keeps fluency better {SAYS_LS_FAILS}: it ranks {names_text(above)} above the "
                      "original model's own answers" if above else f"its fluency is {'better' if fluency else 'not better'}")
    return [f"**At this scale {run.name} keeps retention {'better' if retention else 'no better'} than {who}; "
            f"{fluency_clause}** (seed 000 claims both).",
            f"- Retention: {vs(krr)}; {vs(retain_rouge)}.",
            f"- Fluency: {vs(ls)}" + (f"; the original model ({original.name}) {fmt(base)}." if base is not None else "."),
            f"- Forgetting: {vs(kfr)} ({'as much or more' if forgets else 'less'}); {vs(forget_rouge)}."]


def _scorer_notes(entries: list[Entry], keys: Keys) -> list[str]:
    """Which model scored the perplexity inside LS (a fixed model, so every row is scored alike; a row of
    that very model is scored by itself), and what the evaluations noted about KFR and KRR."""
    scorers = {e.evaluation["eval_config"].get("scorer_model") for e in entries if e.evaluation.get("eval_config")}
    scorers.discard(None)
    lines = []
    for scorer in sorted(scorers):
        itself = [e.name for e in entries if e.evaluation.get("model") == scorer]
        lines.append(f"- LS's perplexity is scored by `{scorer}`"
                     + (f"; {names_text(itself)} is scored by itself." if itself else "."))
    notes = next((e.notes for e in entries if e.notes), {})
    names = dict.fromkeys(name for _, name in MEASURES)
    return lines + [f"- `{name}`: {notes[name]}" for name in names if name in notes]
