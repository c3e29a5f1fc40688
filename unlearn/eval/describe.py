"""`unlearn metrics`: every metric and derived metric, read from the registries."""

from __future__ import annotations


def describe_metrics() -> str:
    from unlearn.eval import load_definitions
    from unlearn.eval.registry import DERIVED, METRICS
    from unlearn.eval.suites import SUITES

    load_definitions()
    lines = ["suites:"]
    for name, (metrics, derived) in SUITES.items():
        lines.append(f"  {name:<8} {', '.join((*metrics, *derived))}")
    lines += ["", "metrics (per sample; the dataset's number is the mean unless marked per-sample):"]
    for name, m in METRICS.items():
        per = " [per-sample only]" if m.aggregate is None else ""
        alt = ", needs paraphrased/perturbed answers" if m.requires_alternatives else ""
        lines.append(f"  {name}{per}: {m.description}")
        per_sample = ("its AUC (forget vs holdout) is best at the retain model's AUC" if name.startswith("mia_")
                      else "an input of a derived metric")
        better = (per_sample if m.aggregate is None else
                  f"forget set: {m.direction('forget').label()}, retain set: {m.direction('retain').label()}")
        lines.append(f"      needs {', '.join(sorted(m.needs))}; data {', '.join(m.kinds)}{alt}; {better}")
        if m.paper:
            lines.append(f"      {m.paper}")
    lines += ["", "derived metrics:"]
    for name, d in DERIVED.items():
        lines.append(f"  {name}: {d.description} (from {', '.join(d.inputs)})")
        if d.paper:
            lines.append(f"      {d.paper}")
    return "\n".join(lines)
