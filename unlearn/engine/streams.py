"""Data streams: the lists of (prompt, target) samples that loss terms are computed on.

A term names its streams; the engine asks this module for each stream's examples. A *derived*
stream (a refusal, a random answer or the model's own answer to each forget question) is aligned with
its source row by row: sample i of both is the same question, and the engine draws the same indices
for both, so a term reading the two sees pairs that belong together. New target pipelines add a
builder here.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any, Callable

from unlearn.config import RunConfig
from unlearn.core.errors import DataError
from unlearn.core.registry import Registry
from unlearn.data.adapters import parse_split
from unlearn.data.benchmarks import Benchmark

StreamBuilder = Callable[[RunConfig, Benchmark], list[dict[str, Any]]]
STREAMS: Registry[StreamBuilder] = Registry("data stream")

# Written for this project; TOFU ships its own list (idontknow.jsonl), usable via data.refusals.
DEFAULT_REFUSALS = [
    "I don't know.",
    "I'm not sure about that.",
    "I have no information about that.",
    "I can't answer that.",
    "That is something I don't know.",
    "I have no idea.",
    "I'm unable to answer that question.",
    "I don't have that information.",
    "Sorry, I can't help with that.",
    "I am not aware of that.",
    "That is beyond what I know.",
    "I cannot say.",
]


def load_refusals(path: str | None) -> list[str]:
    if not path:
        return list(DEFAULT_REFUSALS)
    p = Path(path)
    if not p.is_file():
        raise DataError(f"refusal file {path!r} does not exist (data.refusals)")
    from unlearn.core.files import text_lines

    lines = text_lines(p)
    if not lines:
        raise DataError(f"refusal file {path!r} (data.refusals) is empty; put one refusal sentence a line")
    return lines


def _qa(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"question": str(r["question"]), "answer": str(r["answer"]), **({"raw": True} if r.get("raw") else {})}
            for r in records]


def taught_splits(cfg: RunConfig, bench: Benchmark) -> list[str]:
    """The splits a fine-tuning run is taught: data.train_splits, or the benchmark's own choice."""
    return list(cfg.data.train_splits or bench.train_splits())


@STREAMS.register("train")
def train_stream(cfg: RunConfig, bench: Benchmark) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    for split in taught_splits(cfg, bench):
        records.extend(_qa(bench.load(split)))
    return records


@STREAMS.register("forget")
def forget_stream(cfg: RunConfig, bench: Benchmark) -> list[dict[str, Any]]:
    return _qa(bench.load(bench.forget_split))


@STREAMS.register("retain")
def retain_stream(cfg: RunConfig, bench: Benchmark) -> list[dict[str, Any]]:
    split = cfg.data.retain_split or bench.retain_split
    try:
        bench.split_files(parse_split(split)[0])
    except DataError:
        raise DataError(_no_retain_message(cfg, bench, split)) from None
    return _qa(bench.load(split))


def _no_retain_message(cfg: RunConfig, bench: Benchmark, split: str) -> str:
    """Which methods need the missing retain set, and which run without one."""
    from unlearn.config import MethodConfig
    from unlearn.methods import PRESETS, build_method

    without = [n for n in PRESETS.in_order() if PRESETS.get(n).doc
               and not any("retain" in t.term.streams for t in build_method(MethodConfig(name=n)).terms)]
    where = " (MUSE's raw/retain1 corpus)" if getattr(bench, "name", "") == "muse" else ""
    return (f"{cfg.method.name} trains on the retain set {split!r}{where}, which {bench.path} does not hold; add "
            f"it, or unlearn with a method that needs no retain data: {', '.join(without)}")


REDRAWN_STREAMS = ("forget_idk", "forget_random")
"""Streams whose answers are drawn at random: with data.redraw, drawn anew every epoch (`draw` = epoch)."""


def _rng(seed: int, salt: int, draw: int) -> random.Random:
    """Draw 0 is the run's own (seed + salt, as a run without data.redraw); draw k > 0 its k-th redraw."""
    return random.Random(seed + salt if draw == 0 else f"{seed}:{salt}:{draw}")


@STREAMS.register("forget_idk")
def forget_idk_stream(cfg: RunConfig, bench: Benchmark, draw: int = 0) -> list[dict[str, Any]]:
    """Forget questions, each with its own generated refusal from data.alternatives (`unlearn augment
    --kind alternatives`), or else one drawn (seeded; draw k with data.redraw) from the refusal list."""
    forget = forget_stream(cfg, bench)
    refusals = load_refusals(cfg.data.refusals)
    rng = _rng(cfg.train.seed, 0, draw)
    drawn = [{"question": r["question"], "answer": rng.choice(refusals)} for r in forget]
    if not cfg.data.alternatives:
        return drawn
    return _with_alternatives(drawn, cfg.data.alternatives)


def _with_alternatives(drawn: list[dict[str, Any]], path: str) -> list[dict[str, Any]]:
    """Each forget question's generated alternative from `path`; a question without one (its refusal
    kept leaking and was dropped) keeps the refusal drawn from the list, and a warning says how many."""
    from unlearn.core.errors import warn
    from unlearn.data.formats import read_records, require_fields

    records = read_records(path, "data.alternatives")
    require_fields(records, ("question", "answer"), path)
    by_question = {str(r.get("source_question", r["question"])): str(r["answer"]) for r in records}
    missing = [r["question"] for r in drawn if r["question"] not in by_question]
    if len(missing) == len(drawn):
        raise DataError(f"{path} has an alternative for none of the {len(drawn)} forget questions (first: "
                        f"{missing[0]!r}); make it from this forget split with `unlearn augment --kind alternatives`")
    if missing:
        warn(f"{path} has no alternative for {len(missing)} of {len(drawn)} forget questions (dropped by "
             "verification, or another split); they get a refusal from the refusal list")
    return [{"question": r["question"], "answer": by_question.get(r["question"], r["answer"])} for r in drawn]


@STREAMS.register("forget_random")
def forget_random_stream(cfg: RunConfig, bench: Benchmark, draw: int = 0) -> list[dict[str, Any]]:
    """Forget questions, each with data.mismatch_answers answers drawn (seeded; draw k with data.redraw) from
    the retain set, its K rows one after another: unrelated normal data, as LLMU's random-mismatch term
    uses ("Large Language Model Unlearning", Yao et al., 2024, whose code averages K = 5 random answers to
    each forget question in every step; the engine draws a question's K rows together)."""
    answers = [r["answer"] for r in retain_stream(cfg, bench)]
    rng = _rng(cfg.train.seed, 1, draw)
    return [{"question": r["question"], "answer": rng.choice(answers)} for r in forget_stream(cfg, bench)
            for _ in range(cfg.data.mismatch_answers or 1)]


@STREAMS.register("forget_sampled")
def forget_sampled_stream(cfg: RunConfig, bench: Benchmark) -> list[dict[str, Any]]:
    """Forget questions whose answers the engine regenerates from the model during training (BS_S);
    until the first generation they hold the forget answers."""
    return forget_stream(cfg, bench)


@STREAMS.register("targets")
def targets_stream(cfg: RunConfig, bench: Benchmark) -> list[dict[str, Any]]:
    """TRU's reasoning refusals: data.targets (JSON, JSON lines, CSV or Parquet with question and answer
    fields, e.g. from `unlearn augment --kind reasoning`), or, without one, made from the forget split by
    the offline generator (cached). Its own sampler."""
    from unlearn.data.formats import read_records, require_fields
    from unlearn.generate.targets import generate_targets

    if not cfg.data.targets:
        return _offline(cfg, lambda gen, conf: generate_targets(forget_stream(cfg, bench), gen, "reasoning", conf))
    records = read_records(cfg.data.targets, "data.targets")
    require_fields(records, ("question", "answer"), cfg.data.targets)
    return _qa(records)


@STREAMS.register("augmented")
def augmented_stream(cfg: RunConfig, bench: Benchmark) -> list[dict[str, Any]]:
    """ReLearn's augmented forget set: data.augmented (the output of `unlearn augment`), or, without
    one, the pipeline run on the forget split with the offline rule-based generator (its calls cached
    under $UNLEARN_CACHE/generate, so every process and every rerun gets the same rows). Its own sampler."""
    from unlearn.data.formats import read_records, require_fields

    if cfg.data.augmented:
        records = read_records(cfg.data.augmented, "data.augmented")
        require_fields(records, ("question", "answer"), cfg.data.augmented)
        return _qa(records)
    from unlearn.generate.relearn_pipeline import augment

    return _offline(cfg, lambda gen, conf: augment(forget_stream(cfg, bench), gen, conf))


def _offline(cfg: RunConfig, make: Callable[[Any, Any], tuple[list[dict], dict]]) -> list[dict[str, Any]]:
    """Rows made by `make(generator, config)` with the offline generator, its calls cached under
    $UNLEARN_CACHE/generate so every process and every rerun gets the same rows."""
    from unlearn.core.files import cache_dir
    from unlearn.generate.base import CachedGenerator
    from unlearn.generate.offline import OfflineGenerator
    from unlearn.generate.relearn_pipeline import AugmentConfig

    rows, _ = make(CachedGenerator(OfflineGenerator(), cache_dir() / "generate"), AugmentConfig(seed=cfg.train.seed))
    return _qa(rows)


# Derived streams and their source: sample i of each is about the source's sample i.
ALIGNED_WITH = {"forget_idk": "forget", "forget_random": "forget", "forget_sampled": "forget"}


def sampling_source(stream: str) -> str:
    """The stream whose shuffled order `stream` follows (itself unless it is derived)."""
    return ALIGNED_WITH.get(stream, stream)


def redrawn(name: str, cfg: RunConfig, bench: Benchmark, draw: int) -> list[dict[str, Any]]:
    """Draw `draw` of a stream in REDRAWN_STREAMS (data.redraw: one per epoch)."""
    return STREAMS.get(name)(cfg, bench, draw=draw)


def build_stream(name: str, cfg: RunConfig, bench: Benchmark) -> list[dict[str, Any]]:
    records = STREAMS.get(name)(cfg, bench)
    if not records:
        raise DataError(f"data stream {name!r} is empty; check data.path and the split names")
    return records
