"""The seesaw of the seeds (TOFU; NPO): unlearning with no retain term forgets, and collapses what should
stay with it; a retain term keeps more of it. Which runs have a retain term is read from their methods'
terms (unlearn.report.method_kinds), so any set of runs gets the check, whatever the runs are called."""

from __future__ import annotations

from unlearn.core.formatting import fmt
from unlearn.report.document import Section, names_text
from unlearn.report.entries import Entry, left_out
from unlearn.report.keys import Keys
from unlearn.report.tables import FORGET_METRIC

COLLAPSE = 0.5
"""Retain knowledge below this share of the original's has collapsed, not merely dropped."""


def groups(entries: list[Entry]) -> tuple[list[Entry], list[Entry]]:
    """(methods without a retain term, methods with one), finished or failed; fine-tuning is neither."""
    unlearning = [e for e in entries if e.role == "method" and e.kind and e.kind.forget_terms]
    return [e for e in unlearning if not e.kind.retain_term], [e for e in unlearning if e.kind.retain_term]


def seesaw_section(entries: list[Entry], keys: Keys) -> Section | None:
    """Shown when the runs hold both kinds of method; with one kind alone there is nothing to compare."""
    alone, regularised = groups(entries)
    if not alone or not regularised:
        return None
    rule = (f"Without a retain term: {names_text([e.name for e in alone])}; with one: "
            f"{names_text([e.name for e in regularised])} (read from each run's method, not its name). The seeds "
            f"report that the first forget and collapse retain knowledge, and the second keep more of it; "
            f"both are read here on {keys.label(keys.key('forget', FORGET_METRIC))} and "
            f"{keys.label(keys.key('retain', FORGET_METRIC))}.")
    return Section("seesaw", "The seesaw", [rule, *left_out(entries), *seesaw_verdict(entries, keys)])


def seesaw_verdict(entries: list[Entry], keys: Keys) -> list[str]:
    """Whether the seesaw shows, then each claim with its numbers; failures and gaps are said, not guessed."""
    f, r = keys.key("forget", FORGET_METRIC), keys.key("retain", FORGET_METRIC)
    alone, regularised = groups(entries)
    problems = [f"- {e.name} failed: {e.error}" for e in alone + regularised if not e.ok]
    problems += [f"- {e.name} has no {keys.label(k)}." for e in alone + regularised if e.ok
                 for k in (f, r) if e.metrics.get(k) is None]
    usable = [e for e in alone + regularised if e.ok and all(e.metrics.get(k) is not None for k in (f, r))]
    alone, regularised = [e for e in alone if e in usable], [e for e in regularised if e in usable]
    original = next((e for e in entries if e.role == "original" and e.ok
                     and all(e.metrics.get(k) is not None for k in (f, r))), None)
    if original is None or not alone:
        missing = ([] if original else ["no original model with both values"]) + \
            ([] if alone else ["no finished run without a retain term"])
        return [f"The seesaw cannot be checked in this run: {'; '.join(missing)}.", *problems]
    o = original.metrics
    lines, shows = [], bool(regularised)
    for e in alone:
        m = e.metrics
        forgot, collapsed = keys.better(f, m[f], o[f]), m[r] < COLLAPSE * o[r]
        shows = shows and forgot and collapsed
        lines.append(f"- {e.name} {'forgets' if forgot else 'does not forget'}: {keys.label(f)} {fmt(o[f])} -> "
                     f"{fmt(m[f])}; and it {'collapses' if collapsed else 'does not collapse'} retain knowledge: "
                     f"{keys.label(r)} {fmt(o[r])} -> {fmt(m[r])} (collapse = below {COLLAPSE:.0%} of {original.name}'s).")
    for e in regularised:
        m = e.metrics
        more = all(keys.better(r, m[r], a.metrics[r]) for a in alone)
        shows = shows and more
        lines.append(f"- {e.name} keeps {'more' if more else 'no more'} retain knowledge than "
                     f"{names_text([a.name for a in alone])}: {keys.label(r)} {fmt(m[r])} vs "
                     + ", ".join(f"{a.name} {fmt(a.metrics[r])}" for a in alone)
                     + f", with {keys.label(f)} {fmt(m[f])}.")
    return [f"**The seesaw {'shows' if shows else 'does not fully show'} in this run.**", *lines, *problems]
