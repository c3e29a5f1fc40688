"""`unlearn metrics`: every metric and derived metric, read from the registries."""

from __future__ import annotations


def describe_metrics() -> str:
    from unlearn.eval.metrics import DERIVED, METRICS
    from unlearn.eval.suites import SUITES

    lines = ["suites:"]
    for name in SUITES.in_order():
        s = SUITES.get(name)
        names = ", ".join((*s.metrics, *s.derived)) if s.metrics or s.derived else s.description
        extra = "".join(f"; with {what}: {', '.join(more)}" for what, more in
                        (("eval.reference_model", s.with_reference_model), ("eval.judge_model", s.with_judge)) if more)
        lines.append(f"  {name:<10} {names}{extra}")
    lines += ["", "metrics (per sample; the dataset's number is the mean unless marked per-sample):"]
    for name, m in METRICS.items():
        per = " [per-sample only]" if m.aggregate is None else ""
        alt = ", needs paraphrased/perturbed answers" if m.requires_alternatives else ""
        lines.append(f"  {name}{per}: {m.description}")
        per_sample = (f"summarised by {m.summarised_by}" if m.summarised_by else "an input of a derived metric")
        roles = m.roles or ("forget", "retain")
        better = per_sample if m.aggregate is None else ", ".join(
            f"{role} set: {m.direction(role).label()}" for role in roles)
        lines.append(f"      needs {', '.join(sorted(m.needs))}; data {', '.join(m.kinds)}{alt}; {better}")
        if m.paper:
            lines.append(f"      {m.paper}")
    lines += ["", "derived metrics:"]
    for name, d in DERIVED.items():
        lines.append(f"  {name}: {d.description} (from {', '.join(d.inputs)})")
        if d.paper:
            lines.append(f"      {d.paper}")
    return "\n".join(lines)
