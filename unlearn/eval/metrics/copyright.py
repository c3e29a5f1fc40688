"""The copyright setting's metrics (SPEC 5.7): how much of a text's true continuation the model still
reproduces from its prefix, how far that is from a model never trained on the text, and whether the
model still models ordinary text.

"LLM Unlearning via Loss Adjustment with Only Forget Data" (Wang et al., 2025, FLAT) gives 200-token
prefixes of Harry Potter and scores the greedy completion against the true continuation with BLEU and
ROUGE-L. As in the authors' evaluation code (UCSC-REAL/FLAT's evaluate.py, taken from SOUL's): BLEU is
sacrebleu's, scored for each completion alone (`corpus_bleu([completion], [[reference]])`: 4-grams, the
13a tokeniser, exponential smoothing, 0-100 scale) and averaged over completions; ROUGE-L is
rouge-score's recall with the Porter stemmer, 0-1 (TOFU's `rouge_l_recall`). sacrebleu is what the field
reports BLEU with, and what FLAT used, so the numbers compare.

The Forget Quality Gap (FLAT's table 3) is |BLEU - BLEU_retained| + |ROUGE-L - ROUGE-L_retained| on the
forget completions, against the model trained without the text (eval.retain_reference or --retain-model);
lower is better. FLAT's code writes the two scores per model and not the gap: the form is read from its
table 3, where two methods that generate nothing (GA, KL) share the same gap 2.7301, which is the
retained model's BLEU (0-100) plus its ROUGE-L (0-1): a sum of absolute differences on those scales.

Perplexity of a general text (FLAT: WikiText through lm-evaluation-harness) is `text_ppl` here:
exp(total NLL / total tokens) over the set's texts, each scored teacher-forced up to data.max_length
tokens (the harness scores rolling windows; `eval.harness_tasks=[wikitext]` runs the harness itself).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

from unlearn.eval.metrics.tofu import rouge_l_recall
from unlearn.eval.registry import (
    HIGHER,
    LOWER,
    TOKEN_KINDS,
    Derived,
    Direction,
    Metric,
    SampleView,
    derived,
    metric,
    result_key,
)
from unlearn.eval.results import check_same_samples

PAPER = "LLM Unlearning via Loss Adjustment with Only Forget Data (Wang et al., 2025), as in its evaluation code"


def bleu(generated: str, reference: str) -> float:
    """sacrebleu's BLEU (0-100) of one completion against one reference: `corpus_bleu` on the single pair,
    as FLAT's evaluation scores each completion."""
    try:
        import sacrebleu
    except ImportError:
        from unlearn.core.errors import UnlearnError

        raise UnlearnError("the bleu metric needs sacrebleu: pip install 'unlearnkit[copyright]' (or sacrebleu)") from None
    return float(sacrebleu.corpus_bleu([generated], [[reference]]).score)


def fq_gap(bleu_model: float, rouge_model: float, bleu_retained: float, rouge_retained: float) -> float:
    """FLAT's Forget Quality Gap: |BLEU - BLEU_retained| + |ROUGE-L - ROUGE-L_retained| (BLEU 0-100,
    ROUGE-L 0-1, the scales of FLAT's table 3)."""
    return abs(bleu_model - bleu_retained) + abs(rouge_model - rouge_retained)


def corpus_perplexity(nll_sums: Sequence[float], token_counts: Sequence[int]) -> float:
    """exp(sum of NLLs / number of tokens) over texts: every token weighs the same."""
    tokens = sum(token_counts)
    if tokens <= 0:
        raise ValueError("perplexity of no tokens")
    return math.exp(sum(nll_sums) / tokens)


# -- registration ----------------------------------------------------------------------------------

def _bleu(views: Sequence[SampleView], ctx: Any) -> list[float]:
    return [bleu(v.generation or "", v.cut_target or v.target_text) for v in views]


def _rouge(views: Sequence[SampleView], ctx: Any) -> list[float]:
    return [rouge_l_recall(v.generation or "", v.cut_target or v.target_text) for v in views]


def _nll(views: Sequence[SampleView], ctx: Any) -> list[tuple[float, int] | None]:
    """(sum of the text's token NLLs, its token count) per text: the corpus perplexity's parts."""
    out: list[tuple[float, int] | None] = []
    for v in views:
        logps = v.sequences.get("answer", {}).get("token_logps") or []
        out.append((-float(sum(logps)), len(logps)) if logps else None)
    return out


def _perplexity(values: Sequence[Any]) -> float | None:
    kept = [v for v in values if v is not None]
    return corpus_perplexity([v[0] for v in kept], [v[1] for v in kept]) if kept else None


def _gap(ctx: Any) -> dict[str, tuple[float | None, Direction]]:
    out: dict[str, tuple[float | None, Direction]] = {}
    for name, role in ctx.model.roles.items():
        keys = {m: result_key(name, f"completion_{m}") for m in ("bleu", "rougeL")}
        if role != "forget" or any(k not in ctx.model.values for k in keys.values()):
            continue
        key = "fq_gap" if name == "forget" else f"{name}_fq_gap"
        if ctx.reference is not None:
            check_same_samples(ctx, name, key)  # a gap to other completions would mean nothing
        theirs = {m: (ctx.reference.values.get(k) if ctx.reference else None) for m, k in keys.items()}
        ours = {m: ctx.model.values[k] for m, k in keys.items()}
        if any(v is None for v in (*theirs.values(), *ours.values())):
            out[key] = (None, LOWER)
            ctx.notes[key] = ("needs the retain model's BLEU and ROUGE-L on the same completions: --retain-model "
                              "PATH or eval.retain_reference")
            continue
        out[key] = (fq_gap(ours["bleu"], ours["rougeL"], theirs["bleu"], theirs["rougeL"]), LOWER)
    return out


GEN = frozenset({"generation"})
metric(Metric("completion_bleu", "BLEU (sacrebleu, 0-100) of the greedy continuation of a text prefix against the "
              "true one", GEN, ("completion",), _bleu, paper=PAPER, label="BLEU", generation_tokens="verbmem_tokens"))
metric(Metric("completion_rougeL", "ROUGE-L recall (Porter stemmer) of the greedy continuation of a text prefix "
              "against the true one", GEN, ("completion",), _rouge, paper=PAPER, label="ROUGE-L",
              generation_tokens="verbmem_tokens"))
metric(Metric("text_ppl", "perplexity exp(total NLL / total tokens) of the set's texts, teacher-forced",
              frozenset({"token_logps"}), TOKEN_KINDS, _nll, direction=lambda r: LOWER if r != "forget" else HIGHER,
              aggregate=_perplexity, paper=PAPER, label="PPL", knowledge=-1))
derived(Derived("fq_gap", "Forget Quality Gap: |BLEU - BLEU_retained| + |ROUGE-L - ROUGE-L_retained| on the forget "
                "completions", ("completion_bleu", "completion_rougeL"), _gap, paper=PAPER, roles=("forget",),
                compares_reference=True, label="FQ Gap", direction=LOWER))
