"""Sections of what the follow-up commands wrote beside the runs: the calibrated ranking (unlearn compare
or calibrate: calibration.json), the robustness probes (unlearn probe: robustness.json) and sequential
deletions (unlearn sequence: sequence.json). A section shows only when its files are there."""

from __future__ import annotations

from typing import Any

from unlearn.core.errors import ConfigError
from unlearn.core.formatting import fmt
from unlearn.eval.metrics import label_of
from unlearn.report.document import Section, Table
from unlearn.report.entries import Entry
from unlearn.report.keys import Keys
from unlearn.report.svg import sequence_svg
from unlearn.report.tables import FORGET_METRIC


def ranking_section(entries: list[Entry], keys: Keys) -> Section | None:
    """The runs at equal retention, ranked by forget ROUGE-L in its direction; a run without that value
    at its alpha ranks last."""
    calibrated = [e for e in entries if "calibration" in e.extra]
    if not calibrated:
        return None
    if len({(e.extra["calibration"]["metric"], e.extra["calibration"]["ratio"]) for e in calibrated}) > 1:
        raise ConfigError("the runs were calibrated to different targets; calibrate them alike "
                          "(unlearn compare RUN... --metric M --target T) before reporting a ranking")
    y = keys.key("forget", FORGET_METRIC)
    sign = -1 if keys.higher_is_better(y) else 1

    def value(e: Entry) -> Any:
        return e.extra["calibration"]["forget"].get(y)

    calibrated.sort(key=lambda e: (value(e) is None, sign * (value(e) or 0.0)))
    first = calibrated[0].extra["calibration"]
    held = keys.label(first["metric"])
    return Section("ranking", f"Calibrated ranking (at {first['ratio']:.0%} of the original's {held}; "
                              f"{keys.label(y)}: {keys.direction(y)})",
                   ["Each run mixed with the original model until its retention is at the common target "
                    "(docs/evidence.md), then ranked by what it still knows of the forget set."],
                   tables=[Table(["rank", "model", "alpha", held, keys.label(y)],
                                 [[str(i), e.name, f"{e.extra['calibration']['alpha']:.3f}",
                                   fmt(e.extra["calibration"]["value"]), fmt(value(e))]
                                  for i, e in enumerate(calibrated, 1)])])


def robustness_section(entries: list[Entry]) -> Section | None:
    probed = {e.name: {p["probe"]: p["returned"] for p in e.extra["robustness"]["probes"]}
              for e in entries if "robustness" in e.extra}
    if not probed:
        return None
    probes = list(dict.fromkeys(p for values in probed.values() for p in values))  # matched by name
    return Section("robustness", "Robustness: share of the removed knowledge that returns (lower is better)",
                   ["returned = (probed - unlearned) / (original - unlearned): 0 nothing came back, 1 the probe "
                    "undid the unlearning."],
                   tables=[Table(["model", *probes], [[name, *(fmt(values.get(p)) for p in probes)]
                                                      for name, values in probed.items()])])


def sequence_section(sequence: dict[str, Any] | None) -> Section | None:
    if not sequence:
        return None
    recorded = sequence.get("metrics") or [FORGET_METRIC]
    metric = FORGET_METRIC if FORGET_METRIC in recorded else recorded[0]
    n = len(sequence["requests"])
    sets = [*(f"request{j}" for j in range(1, n + 1)), "retain"]
    return Section("sequence", f"Sequential deletions ({sequence['method']}): {label_of(metric)} after each request",
                   [f"Each request's forget set and the retain set after every request ({', '.join(sequence['requests'])})."],
                   sequence_svg(sequence, metric),
                   [Table(["after", *sets], [[r["after"], *(fmt(r["sets"][s][metric]) for s in sets)]
                                             for r in sequence["rows"]])])
