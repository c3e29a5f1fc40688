"""Which reference-model strategy a method runs with (SPEC section 2), decided from what its terms
need before any model loads. The strategies themselves are in `unlearn.engine.reference`."""

from __future__ import annotations

from unlearn.core.errors import ConfigError
from unlearn.methods.base import Method

STRATEGIES = ("auto", "copy", "cached", "adapter")


def choose_strategy(strategy: str, method: Method, lora: bool, redraws: bool = False) -> str | None:
    """The strategy a run uses (None: no reference needed). Checked before any model is loaded.
    `redraws`: a stream the reference scores is drawn anew each epoch (data.redraw)."""
    if strategy not in STRATEGIES:
        raise ConfigError(f"unknown method.reference {strategy!r}; valid: {', '.join(STRATEGIES)}")
    if not method.needs_reference:
        return None
    if strategy == "auto":
        strategy = "adapter" if lora else ("copy" if method.needs_reference_model or redraws else "cached")
    if strategy == "adapter" and not lora:
        raise ConfigError("method.reference=adapter needs LoRA (lora.r > 0); use copy or cached")
    if strategy == "cached":
        if method.needs_reference_model:
            raise ConfigError(f"method {method.name} needs reference logits or hidden states; method.reference=cached "
                              "only stores log-probs: use method.reference=copy, or auto")
        if method.refreshes() or redraws:
            what = "regenerates a stream" if method.refreshes() else "draws its refusals or answers anew (data.redraw)"
            raise ConfigError(f"method {method.name} {what} during training, so cached reference "
                              "log-probs would go stale: use method.reference=copy")
    return strategy
