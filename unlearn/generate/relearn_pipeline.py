"""ReLearn's data pipeline (SPEC 4.2; "ReLearn: Unlearning via Learning for Large Language Models",
Xu et al., 2025): question variants, vague answers, privacy verification, sentence completion, and
mixing with generic question/answer data.

For every forget record: 4 question variants (rephrased, with added context, informal with typos, the
relation reversed); for the original and each variant a vague answer, verified by the generator (a
failing answer is regenerated, at most `max_rounds` rounds; what still fails is dropped and counted);
for every kept pair a sentence-completion sample (the first 25% of the answer's words as the prompt,
the rest as the target); then generic records, `generic_ratio` times as many as the augmented forget
rows (ReLearn's paper mixes 1:1). Every row says where it came from.
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from unlearn.core.errors import ConfigError
from unlearn.generate.base import Request

VARIANTS = ("rephrase", "add_context", "informal", "reverse")
CHUNK = 32
"""Forget records asked at once (a model backend batches their requests); the progress bar moves a
chunk at a time."""


@dataclass
class AugmentConfig:
    max_rounds: int = 3
    """Generation and verification rounds before a forget row whose answers still leak is dropped."""
    completion_prefix: float = 0.25
    """Share of an answer's words given as the sentence-completion prompt."""
    generic_ratio: float = 1.0
    """Generic records per augmented forget row (paper 1:1; the authors' code 1.2)."""
    seed: int = 0
    prompts: str | None = None
    """YAML file of prompt templates; default the package's prompts.yaml."""
    verifier: Any = None
    """The generator that verifies answers; default the answering generator itself. A small model
    tends to flag every answer (it never says a clear "No"): the offline rules check the true answer's
    specifics instead."""


def load_prompts(path: str | None = None) -> dict[str, str]:
    import yaml

    file = Path(path) if path else Path(__file__).with_name("prompts.yaml")
    try:
        prompts = yaml.safe_load(file.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise ConfigError(f"prompts file {file}: not valid YAML ({str(err).splitlines()[0]})") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"prompts file {file} cannot be read ({err.__class__.__name__}); give a UTF-8 YAML file") \
            from None
    if not isinstance(prompts, dict) or not all(isinstance(v, str) for v in prompts.values()):
        raise ConfigError(f"prompts file {file}: expected a mapping of task name to template text")
    return prompts


def request(task: str, fields: dict[str, str], prompts: dict[str, str], **params: Any) -> Request:
    if task not in prompts:
        raise ConfigError(f"the prompts file has no {task!r} template; copy it from unlearn/generate/prompts.yaml")
    try:
        prompt = prompts[task].format(**{"question": "", "answer": "", "original": "", **fields})
    except (KeyError, IndexError, ValueError, AttributeError) as err:
        raise ConfigError(f"prompt template {task!r}: {err!r} is not one of {{question}}, {{answer}}, "
                          "{original}; write literal braces as {{ }}") from None
    return Request(task, dict(fields), prompt, dict(params))


def is_leak(reply: str) -> bool:
    """A verifier's verdict: the offline "LEAK: ..." / "OK", or a model's final Yes / No."""
    if reply.startswith(("LEAK", "OK")):
        return reply.startswith("LEAK")
    words = re.findall(r"\b(yes|no)\b", reply.lower())
    return not words or words[-1] == "yes"  # no clear "No" is not a pass


def sentence_completion(answer: str, prefix_share: float) -> tuple[str, str] | None:
    words = answer.split()
    if len(words) < 2:
        return None
    k = min(len(words) - 1, max(1, round(prefix_share * len(words))))
    return " ".join(words[:k]), " " + " ".join(words[k:])


def verified_answers(generator: Any, task: str, pairs: Sequence[tuple[str, ...]], cfg: AugmentConfig,
                     prompts: dict[str, str]) -> list[tuple[str | None, int]]:
    """For each (question, true answer[, topic]) pair: the `task` answer the verifier passed, or None when
    every one of cfg.max_rounds rounds leaked; and the rounds used. `topic` is the question a reworded
    variant came from (what the answer is about). Each round asks all pending pairs at once."""
    result: list[tuple[str | None, int]] = [(None, 0)] * len(pairs)
    pending = list(range(len(pairs)))
    for rnd in range(1, cfg.max_rounds + 1):
        answers = [str(a).strip() for a in generator.generate(
            [request(task, {"question": pairs[i][0], "original": pairs[i][1], **_topic(pairs[i])}, prompts, round=rnd)
             for i in pending])]
        written = [(i, a) for i, a in zip(pending, answers) if a]  # an empty answer fails its round unasked
        verdicts = iter((cfg.verifier or generator).generate(
            [request("verify", {"answer": a, "original": pairs[i][1]}, prompts) for i, a in written]))
        still = []
        for i, answer in zip(pending, answers):
            if not answer or is_leak(next(verdicts)):
                still.append(i)
                result[i] = (None, rnd)
            else:
                result[i] = (answer, rnd)
        pending = still
        if not pending:
            break
    return result


def _topic(pair: tuple[str, ...]) -> dict[str, str]:
    return {"topic": pair[2]} if len(pair) > 2 else {}


def augment(records: Sequence[dict[str, Any]], generator: Any, cfg: AugmentConfig | None = None,
            generic: Sequence[dict[str, Any]] = (), progress: Any = None) -> tuple[list[dict], dict[str, Any]]:
    """The augmented forget set (rows with provenance) and a summary."""
    cfg = cfg or AugmentConfig()
    prompts = load_prompts(cfg.prompts)
    rows: list[dict[str, Any]] = []
    dropped = 0
    for start in range(0, len(records), CHUNK):
        chunk = [{"question": str(r["question"]), "answer": str(r["answer"])} for r in records[start:start + CHUNK]]
        variants = [str(v).strip() for v in generator.generate([request(t, f, prompts) for f in chunk for t in VARIANTS])]
        dropped += sum(1 for v in variants if not v)  # an empty variant is dropped and counted
        items = []  # (record, question, variant kind): the original, then its variants
        for j, f in enumerate(chunk):
            own = zip(variants[j * len(VARIANTS):(j + 1) * len(VARIANTS)], VARIANTS)
            items += [(f, f["question"], "original")] + [(f, v, t) for v, t in own if v]
        # a variant's answer is about its source question's topic (a reversed question asks for the person)
        topics = [q if kind == "reverse" else f["question"] for f, q, kind in items]
        answers = verified_answers(generator, "vague_answer", [(q, f["answer"], t) for (f, q, _), t in zip(items, topics)],
                                   cfg, prompts)
        for (f, q, kind), (answer, rounds) in zip(items, answers):
            if answer is None:
                dropped += 1
                continue
            base = {"source_question": f["question"], "variant": kind, "rounds": rounds, "generator": generator.name}
            rows.append({"question": q, "answer": answer, "kind": "qa", **base})
            split = sentence_completion(answer, cfg.completion_prefix)
            if split:
                rows.append({"question": split[0], "answer": split[1], "raw": True, "kind": "completion", **base})
        if progress is not None:
            progress.update(len(chunk))
    rows += _generic_rows(generic, math.floor(cfg.generic_ratio * len(rows) + 0.5), cfg.seed)
    summary = {"forget_records": len(records), "dropped_after_rounds": dropped,
               "rows": {k: sum(1 for x in rows if x["kind"] == k) for k in ("qa", "completion", "generic")},
               **call_counts(generator, cfg)}
    return rows, summary


def call_counts(generator: Any, cfg: AugmentConfig) -> dict[str, Any]:
    """The generator and verifier names, and their calls and cache hits together (None when unknown)."""
    both = [generator] + ([cfg.verifier] if cfg.verifier is not None else [])

    def total(attr: str) -> int | None:
        values = [getattr(g, attr, None) for g in both]
        return None if None in values else sum(values)

    return {"generator": generator.name, "verifier": (cfg.verifier or generator).name,
            "generator_calls": total("calls"), "cache_hits": total("hits")}


def _generic_rows(generic: Sequence[dict[str, Any]], n: int, seed: int) -> list[dict[str, Any]]:
    if not generic or n <= 0:
        return []
    rng = random.Random(seed)
    # without replacement while the generic set is large enough, with replacement beyond it
    picks = rng.sample(list(generic), n) if n <= len(generic) else [rng.choice(generic) for _ in range(n)]
    return [{"question": str(g["question"]), "answer": str(g["answer"]), "kind": "generic"} for g in picks]
