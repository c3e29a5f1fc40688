"""ReLearn's metrics (SPEC 5.4) in the registry: KFR on forget sets, KRR on retain sets, the parts of
the linguistic score (perplexity of the generation by a fixed scorer model, Brunet's index, Honore's
statistic) and LS itself; fluency and relevance by an optional judge.

"ReLearn: Unlearning via Learning for Large Language Models" (Xu et al., 2025). The definitions and
where they follow the authors' script are in `unlearn.eval.relearn`. A missing part (no NLI model, no
embedder, no scorer) is never replaced silently: the result's notes say what each number lacks.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

from unlearn.eval.registry import HIGHER, LOWER, Derived, Direction, Metric, SampleView, derived, metric, result_key

PAPER = "ReLearn: Unlearning via Learning for Large Language Models (Xu et al., 2025)"


def _flags(views: Sequence[SampleView], parts: Any, role: str, key: str) -> list[float]:
    from unlearn.eval.relearn import relearn_sample_scores

    rows, without = relearn_sample_scores(
        [str(v.record["question"]) for v in views], [v.generation or "" for v in views],
        [str(v.record["answer"]) for v in views], role, getattr(parts, "extractor", None),
        getattr(parts, "embedder", None), getattr(parts, "nli", None))
    if without and parts is not None:
        parts.notes[key] = "computed without " + ", ".join(without)
    return [float(r[key]) for r in rows]


def _kfr(views: Sequence[SampleView], parts: Any) -> list[float]:
    return _flags(views, parts, "forget", "kfr")


def _krr(views: Sequence[SampleView], parts: Any) -> list[float]:
    return _flags(views, parts, "retain", "krr")


def _gen_ppl(views: Sequence[SampleView], parts: Any) -> list[float | None]:
    if getattr(parts, "scorer_model", None) is None:
        if parts is not None:
            parts.notes["gen_ppl"] = "not computed: set eval.scorer_model (a fixed model, not the judged one)"
        return [None for _ in views]
    out = []
    for v in views:
        logps = (v.scorer or {}).get("token_logps") or []
        out.append(math.exp(-sum(logps) / len(logps)) if logps else None)
    return out


def _text_stat(name: str):
    def compute(views: Sequence[SampleView], parts: Any) -> list[float]:
        from unlearn.eval import relearn

        fn = getattr(relearn, name)
        return [fn(relearn.word_tokens(v.generation or "")) for v in views]

    return compute


def _judge(key: str):
    def compute(views: Sequence[SampleView], parts: Any) -> list[float | None]:
        from unlearn.eval.relearn import judge_prompt, parse_judge

        judge = getattr(parts, "judge", None)
        if judge is None:
            if parts is not None:
                parts.notes[key] = "not computed: set eval.judge_model"
            return [None for _ in views]
        replies = judge([judge_prompt(str(v.record["question"]), v.generation or "") for v in views])
        return [parse_judge(reply)[key] for reply in replies]

    return compute


def _linguistic(ctx: Any) -> dict[str, tuple[float | None, Direction]]:
    from unlearn.eval.relearn import linguistic_score

    out: dict[str, tuple[float | None, Direction]] = {}
    for name in ctx.model.per_sample:
        v = ctx.model.values
        parts = [v.get(result_key(name, m)) for m in ("gen_ppl", "brunet_index", "honore_statistic")]
        if result_key(name, "brunet_index") not in v:
            continue
        if any(p is None for p in parts):
            out[f"{name}_linguistic_score"] = (None, HIGHER)
            ctx.notes[f"{name}_linguistic_score"] = "needs the perplexity of generations: set eval.scorer_model"
            continue
        out[f"{name}_linguistic_score"] = (linguistic_score(*parts), HIGHER)
    return out


GEN = frozenset({"generation"})
metric(Metric("kfr", "Knowledge Forgetting Rate: share of answers whose entities no longer match the reference "
              "(or that contradict it)", GEN | {"relearn_parts"}, ("qa",), _kfr, direction=lambda r: HIGHER,
              roles=("forget",), paper=PAPER))
metric(Metric("krr", "Knowledge Retention Rate: share of answers whose entities match the reference without "
              "contradicting it", GEN | {"relearn_parts"}, ("qa",), _krr, direction=lambda r: HIGHER,
              roles=("retain",), paper=PAPER))
metric(Metric("gen_ppl", "perplexity of the generated answer under a fixed scorer model", GEN | {"scorer_model"},
              ("qa", "completion"), _gen_ppl, direction=lambda r: LOWER, paper=PAPER))
metric(Metric("brunet_index", "Brunet's index N^(V^-0.165) of the generated answer's words (lower: richer)",
              GEN, ("qa", "completion"), _text_stat("brunet_index"), direction=lambda r: LOWER, paper=PAPER))
metric(Metric("honore_statistic", "Honore's statistic 100 ln N / (1 - N1/V + 0.1) of the generated answer's words",
              GEN, ("qa", "completion"), _text_stat("honore_statistic"), direction=lambda r: HIGHER, paper=PAPER))
metric(Metric("fluency", "fluency 1-5 by a judge model", GEN | {"judge"}, ("qa", "completion"), _judge("fluency"),
              direction=lambda r: HIGHER, paper=PAPER))
metric(Metric("relevance", "relevance 1-5 by a judge model", GEN | {"judge"}, ("qa", "completion"),
              _judge("relevance"), direction=lambda r: HIGHER, paper=PAPER))
derived(Derived("linguistic_score", "harmonic mean of 1/(1+PPL), 1/(1+BI), HS/(1+HS) of the set's means",
                ("gen_ppl", "brunet_index", "honore_statistic"), _linguistic, paper=PAPER))
