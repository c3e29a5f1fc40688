"""Loading the other models an evaluation may use: the retain model, a reference model for the
reference membership attack, a fixed scorer for the perplexity of generations, and ReLearn's
entity extractor, sentence embedder and NLI model. Each is loaded only when a chosen metric needs it."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from unlearn.config import RunConfig
from unlearn.core.errors import ConfigError
from unlearn.eval.evaluator import Parts
from unlearn.models.loading import saved_model_config


def load_side_model(cfg: RunConfig, path: str, tokenizer: Any, device: str, option: str) -> Any:
    """A model scored on the same token sequences as the evaluated one: it must share its vocabulary."""
    from unlearn.models import load_model, load_tokenizer

    side_cfg = saved_model_config(cfg, path)
    if load_tokenizer(side_cfg).get_vocab() != tokenizer.get_vocab():
        raise ConfigError(f"{option}: {path!r} has another tokenizer than the evaluated model; evaluate it on its own "
                          "(`unlearn eval` with --out FOLDER) and pass eval.retain_reference=FOLDER")
    return load_model(side_cfg).to(device).eval()


def _needs(cfg: RunConfig) -> set[str]:
    from unlearn.eval.registry import METRICS
    from unlearn.eval.suites import select

    selection = select(cfg.eval.suites, cfg.eval.metrics, bool(cfg.eval.reference_model))
    return set().union(*(METRICS.get(m).needs for m in selection.metrics)) if selection.metrics else set()


_SCORER: dict[str, tuple[Any, Any]] = {}


def _scorer(scorer_cfg: Any, device: str) -> tuple[Any, Any]:
    """The fixed scorer, loaded once per process (a demo evaluates many models with the same one)."""
    from unlearn.models import load_model, load_tokenizer

    from unlearn.core.files import files_stamp

    key = f"{scorer_cfg!r}@{device}@{files_stamp(scorer_cfg.path)}"  # a model rewritten at the same path is reloaded
    if key not in _SCORER:
        _SCORER.clear()  # one scorer at a time
        _SCORER[key] = load_tokenizer(scorer_cfg), load_model(scorer_cfg).to(device).eval()
    return _SCORER[key]


def load_parts(cfg: RunConfig, device: str, tokenizer: Any = None) -> Parts:
    """The parts the chosen metrics need; what is not configured stays None (the results say so)."""
    from unlearn.models import load_model

    needs, parts = _needs(cfg), Parts()
    if "reference_model" in needs and cfg.eval.reference_model:
        ref_cfg = saved_model_config(cfg, cfg.eval.reference_model)
        parts.reference_model = load_model(ref_cfg).to(device).eval()
    if "scorer_model" in needs and cfg.eval.scorer_model:
        path, _, gguf_file = cfg.eval.scorer_model.partition("#")
        scorer_cfg = replace(cfg.model, path=path, tokenizer=None, gguf_file=gguf_file or None, dtype="float32")
        parts.scorer_tokenizer, parts.scorer_model = _scorer(scorer_cfg, device)
    if "relearn_parts" in needs:
        from unlearn.eval.relearn_parts import load_relearn_parts

        load_relearn_parts(cfg, parts)
    if "judge" in needs and cfg.eval.judge_model:
        from unlearn.eval.relearn_parts import load_judge

        parts.judge = load_judge(cfg)
    return parts
