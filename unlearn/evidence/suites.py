"""The suites the evidence layer adds to every evaluation (`unlearn eval --suite robustness`, or
eval.suites): registered into eval's suite registry when the API loads, without importing torch."""

from __future__ import annotations

from typing import Any

from unlearn.config import RunConfig
from unlearn.eval.registry import LOWER
from unlearn.eval.suites import Suite, suite  # after the built-in suites, so they list first


def _robustness_suite(cfg: RunConfig, unlearned_path: str) -> dict[str, tuple[float | None, Any, str | None]]:
    """The robustness suite of `unlearn eval`: every probe against eval.original_model, as
    robustness_<probe>_probed (the forget ROUGE-L after the probe) and robustness_<probe>_returned (the
    share of knowledge back); lower is better for both."""
    from unlearn.evidence.robustness import probe

    null = ("null: the unlearned model is not below the original on the forget set, so there was no removed "
            "knowledge whose return could be measured")
    out: dict[str, tuple[float | None, Any, str | None]] = {}
    for r in probe(cfg, cfg.eval.original_model, unlearned_path, relearn_lr=cfg.train.lr):
        for key, value in ((f"robustness_{r.probe}_probed", r.probed), (f"robustness_{r.probe}_returned", r.returned)):
            out[key] = (value, LOWER, null if value is None else None)
    return out


suite(Suite("robustness", "the robustness probes against eval.original_model (SPEC 7): how much forgotten "
            "knowledge each one brings back", on_model=_robustness_suite, needs_original=True))
