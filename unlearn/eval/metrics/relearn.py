"""ReLearn's Knowledge Forgetting Rate, Knowledge Retention Rate and Linguistic Score (SPEC 5.4), the
judge's fluency and relevance, and their registration. A missing part (no NLI model, no embedder, no
scorer, no judge) is never replaced silently: the result's notes say what each number lacks.

"ReLearn: Unlearning via Learning for Large Language Models" (Xu et al., ACL 2025), section 4.

- Entity score E_i: the entities of the generated answer and of the reference answer, each list
  without those that share a word with the question (the authors' extraction prompt leaves question
  entities out of both lists), are matched by embedding cosine >= 0.8; E_i = matched (generated,
  reference) pairs / number of reference entities, 0 if either is empty.
- KFR = mean 1[E_i <= c1 or NLI(premise=generated, hypothesis=reference) = contradiction],
  c1 = 0.5 when the reference has at most 3 entities, else 0.3.
- KRR = mean 1[E_i >= c2 and NLI(premise=reference, hypothesis=generated) != contradiction], c2 = 0.3.
- LS = harmonic mean of 1/(1+PPL), 1/(1+BI), HS/(1+HS), each of PPL, BI, HS averaged over samples
  first (these are sigma(-log PPL), sigma(-log BI), sigma(log HS)).

Differences from the wording of SPEC 5.4, following the authors' evaluation script (evals/evaluate.py
in github.com/zjunlp/unlearn):
- thresholds are inclusive (E_i <= c1 for KFR, E_i >= c2 for KRR) where SPEC writes < and >;
- E_i counts matched *pairs*, so one reference entity matched by two generated ones counts twice and
  E_i can exceed 1 (SPEC says the same; it is not "matched reference entities");
- an entity is dropped when any of its words occurs among the question's words (SPEC: "that appear in
  the question"); words are compared by Porter stem, ignoring one-letter tokens (the "s" of "author's");
  the authors' script applies this hard filter to the generated list only and relies on the prompt for
  the reference list, so the offline extractor applies it to both;
- offline, entities come from `RuleEntityExtractor(core_words=True)`, which adds lower-case content
  words for the prompt's "core nouns"; without an embedder entities match when their word stems are
  equal (the authors use all-MiniLM-L12-v2 cosines; the packaged default embedder is L6);
- BI and HS count lower-cased word tokens in the style of NLTK's word_tokenize (punctuation and
  clitics such as "n't" are tokens); BI of an empty text is 1000 and HS of a text of at most one token
  is 0, as in the script.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache
from collections import Counter
from typing import Any, Sequence

import numpy as np

from unlearn.core.errors import DataError
from unlearn.eval.backends import NLI_LABELS, Embedder, NLIModel, unit_rows
from unlearn.eval.registry import HIGHER, LOWER, Derived, Direction, Metric, SampleView, derived, metric, result_key
from unlearn.generate.entities import EntityExtractor, LLMEntityExtractor, RuleEntityExtractor

PAPER = "ReLearn: Unlearning via Learning for Large Language Models (Xu et al., 2025)"

ENTITY_COSINE = 0.8
KFR_C1_FEW = 0.5  # reference with at most KFR_FEW_ENTITIES entities
KFR_C1_MANY = 0.3
KFR_FEW_ENTITIES = 3
KRR_C2 = 0.3
HONORE_EPSILON = 0.1  # added to Honore's denominator in the authors' code (no division by zero)
EMPTY_TEXT_BI = 1000.0

_TOKEN = re.compile(
    r"\d+(?:[.,]\d+)+"  # 3.5, 1,000
    r"|\w+(?=n't\b)|n't\b"  # don't -> do n't ; can't -> ca n't (Treebank)
    r"|'(?:s|re|ve|ll|d|m)\b"  # clitics
    r"|\w+(?:-\w+)*"  # words, hyphenated words
    r"|\.\.\.|[^\w\s]"  # ellipsis, any other punctuation mark
)


def word_tokens(text: str) -> list[str]:
    """Lower-cased tokens approximating NLTK's word_tokenize (used for BI and HS)."""
    return _TOKEN.findall(text.lower().replace("’", "'"))


@lru_cache(maxsize=1)
def _stemmer() -> Any:
    from nltk.stem.porter import PorterStemmer  # rouge-score's dependency

    return PorterStemmer()


@lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    return _stemmer().stem(word)


def _words(text: str) -> frozenset[str]:
    """The Porter stems of a text's words (one-letter tokens other than digits left out)."""
    return frozenset(_stem(w) for w in re.findall(r"\w+", text.casefold()) if len(w) > 1 or w.isdigit())


def brunet_index(tokens: Sequence[str]) -> float:
    """Brunet's index W = N ** (V ** -0.165), N tokens, V distinct tokens (lower = richer vocabulary).
    An empty text gives 1000, as in the authors' script."""
    n = len(tokens)
    if n == 0:
        return EMPTY_TEXT_BI
    return float(n ** (len(set(tokens)) ** -0.165))


def honore_statistic(tokens: Sequence[str], epsilon: float = HONORE_EPSILON, max_value: float = 1e6) -> float:
    """Honore's statistic R = 100 ln N / (1 - N1/V + epsilon), N1 = tokens seen exactly once,
    capped at max_value (higher = richer vocabulary). At most one token gives 0."""
    n = len(tokens)
    if n <= 1:
        return 0.0
    counts = Counter(tokens)
    once = sum(1 for c in counts.values() if c == 1)
    return float(min(100 * math.log(n) / (1 - once / len(counts) + epsilon), max_value))


def perplexity(token_logps: Sequence[float]) -> float:
    """exp(mean NLL) = exp(-mean of token_logps), a scorer model's perplexity of one generated text (SPEC
    5.3). Lower = more fluent by the scorer's judgement; a degenerate text can still score low under
    the model that generated it, which is why SPEC 5.3 asks for a fixed scorer."""
    if len(token_logps) == 0:
        raise ValueError("perplexity needs at least one token; got an empty token_logps list")
    return math.exp(-sum(token_logps) / len(token_logps))


def linguistic_score(mean_ppl: float, mean_bi: float, mean_hs: float) -> float:
    """LS = harmonic mean of 1/(1+PPL), 1/(1+BI), HS/(1+HS); 0 when any of the three is 0."""
    for name, value in (("PPL", mean_ppl), ("BI", mean_bi), ("HS", mean_hs)):
        if value is None or not math.isfinite(value) or value < 0:
            raise DataError(f"linguistic score got {name} = {value}; pass a finite, non-negative mean {name}")
    parts = (1 / (1 + mean_ppl), 1 / (1 + mean_bi), mean_hs / (1 + mean_hs))
    if min(parts) == 0:
        return 0.0
    return 3 / sum(1 / p for p in parts)


def _unique(items: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(s for s in (str(i).strip() for i in items) if s))


def drop_question_entities(entities: Sequence[str], question: str) -> list[str]:
    """Entities that share no word (by stem) with the question."""
    question_words = _words(question)
    return [e for e in entities if not (_words(e) & question_words)]


def entity_score(
    gen_entities: Sequence[str],
    ref_entities: Sequence[str],
    question: str,
    embedder: Embedder | None,
    threshold: float = ENTITY_COSINE,
) -> float:
    """E = number of (generated, reference) pairs with cosine >= threshold / number of reference
    entities; 0 if either list is empty after dropping the entities found in the question (from both).
    ``embedder=None`` matches entities whose word stems are equal (cosine 1 or 0)."""
    generated = drop_question_entities(_unique(gen_entities), question)
    reference = drop_question_entities(_unique(ref_entities), question)
    if not generated or not reference:
        return 0.0
    if embedder is None:
        cosine = np.array([[float(_words(g) == _words(r)) for r in reference] for g in generated])
    else:
        vectors = unit_rows(embedder.encode(generated + reference))
        if len(vectors) != len(generated) + len(reference):
            raise DataError(f"embedder returned {len(vectors)} vectors for {len(generated) + len(reference)} texts")
        cosine = vectors[: len(generated)] @ vectors[len(generated) :].T
    return int((cosine >= threshold).sum()) / len(reference)


def _check_label(nli_label: str | None) -> None:
    if nli_label is not None and nli_label not in NLI_LABELS:
        raise DataError(f"NLI label '{nli_label}' is not one of {list(NLI_LABELS)}; map the model's labels first")


def kfr_flag(e: float, nli_label: str | None, n_ref_entities: int) -> int:
    """1 when the sample counts as forgotten: E <= c1 (0.5 if the reference has <= 3 entities, else
    0.3) or the NLI label is contradiction. ``nli_label=None`` applies the entity criterion alone."""
    _check_label(nli_label)
    c1 = KFR_C1_FEW if n_ref_entities <= KFR_FEW_ENTITIES else KFR_C1_MANY
    return int(e <= c1 or nli_label == "contradiction")


def krr_flag(e: float, nli_label: str | None) -> int:
    """1 when the sample counts as retained: E >= 0.3 and the NLI label is not contradiction.
    ``nli_label=None`` applies the entity criterion alone."""
    _check_label(nli_label)
    return int(e >= KRR_C2 and nli_label != "contradiction")


def relearn_sample_scores(
    questions: Sequence[str],
    generations: Sequence[str],
    references: Sequence[str],
    role: str,
    extractor: EntityExtractor | None = None,
    embedder: Embedder | None = None,
    nli: NLIModel | None = None,
) -> tuple[list[dict], list[str]]:
    """Per-sample KFR (role "forget") or KRR (role "retain") flags, entity scores, BI and HS.

    Returns (samples, computed_without). Nothing missing is replaced silently; computed_without names
    each part of the authors' method that was not used:
    - "llm_extractor": extractor=None, so the offline RuleEntityExtractor found the entities;
    - "embedder": entities were matched by exact (case-insensitive) string instead of cosine >= 0.8;
    - "nli": no NLI model, so the flag uses the entity criterion alone (sample "nli" is None).
    """
    if role not in ("forget", "retain"):
        raise DataError(f"ReLearn scores need role 'forget' (KFR) or 'retain' (KRR), got '{role}'")
    if not len(questions) == len(generations) == len(references):
        raise DataError(
            f"ReLearn scores got {len(questions)} questions, {len(generations)} generations and "
            f"{len(references)} references; pass one of each per sample"
        )
    for row, text in enumerate(generations):
        if not isinstance(text, str):
            raise DataError(f"generation at row {row} is {type(text).__name__}, not str; generate text first")
    parts = (("llm_extractor", extractor), ("embedder", embedder), ("nli", nli))
    computed_without = [part for part, present in parts if present is None]
    extract = extractor if extractor is not None else RuleEntityExtractor(core_words=True)
    labels: list[str | None] = [None] * len(generations)
    if nli is not None and generations:
        # forget: does the answer still entail the fact? retain: does the fact entail the answer?
        pairs = (generations, references) if role == "forget" else (references, generations)
        labels = list(nli.labels(list(pairs[0]), list(pairs[1])))
        for label in labels:
            _check_label(label)
    samples = []
    for question, generation, reference, label in zip(questions, generations, references, labels):
        gen_entities = drop_question_entities(_unique(_extract(extract, generation, question)), question)
        ref_entities = drop_question_entities(_unique(_extract(extract, reference, question)), question)
        e = entity_score(gen_entities, ref_entities, question, embedder)
        tokens = word_tokens(generation)
        sample = {"gen_entities": gen_entities, "ref_entities": ref_entities, "entity_score": e, "nli": label}
        if role == "forget":
            sample["kfr"] = kfr_flag(e, label, len(ref_entities))
        else:
            sample["krr"] = krr_flag(e, label)
        sample.update(bi=brunet_index(tokens), hs=honore_statistic(tokens))
        samples.append(sample)
    return samples, computed_without


def _extract(extract: EntityExtractor, text: str, question: str) -> list[str]:
    """An extractor that takes the question (the LLM's prompt names it, as the authors' does) gets it."""
    if isinstance(extract, LLMEntityExtractor):
        return extract(text, question)
    return extract(text)


_JUDGE_PROMPT = (
    "Rate an answer to a question on two 1-5 scales.\n"
    "Relevance: does the answer engage with the question's topic (5) or stray from it (1)? An answer "
    "can be relevant without being precise or correct.\n"
    "Fluency: is the answer clear, coherent and grammatical (5), or broken, repetitive or "
    "ungrammatical (1)?\n"
    'Reply with JSON only, for example {{"relevance": 4, "fluency": 5}}.\n\n'
    "Question: {question}\nAnswer: {answer}"
)


def _judge_value(text: str, key: str) -> int | None:
    """The single integer 1-5 given for key; None when absent, out of range, fractional or given
    twice with different values."""
    pattern = rf"\b{key}(?:\s*(?:score|rating))?[\"']?\s*(?:\([^)]*\))?\s*[:=\-]?\s*[\"']?\s*(\d+(?:\.\d+)?)"
    values = {float(v) for v in re.findall(pattern, text, flags=re.I)}
    if len(values) != 1:
        return None
    value = values.pop()
    return int(value) if value.is_integer() and 1 <= value <= 5 else None


def judge_prompt(question: str, answer: str) -> str:
    """The prompt asking a judge model to rate fluency and relevance 1-5 (ReLearn, Xu et al., 2025,
    scored them with GPT-4o)."""
    return _JUDGE_PROMPT.format(question=question, answer=answer)


def parse_judge(reply: Any) -> dict:
    """Fluency and relevance from a judge's reply; a score the reply does not state plainly is None,
    never a guess."""
    if not isinstance(reply, str):
        return {"fluency": None, "relevance": None}
    return {"fluency": _judge_value(reply, "fluency"), "relevance": _judge_value(reply, "relevance")}


MISSING_PART = {
    "llm_extractor": "entities by the offline rules; set eval.entity_model for the authors' LLM extraction",
    "embedder": "entities matched by word stems; install sentence-transformers or set eval.embedder",
    "nli": "no contradiction test, entities alone decide; set eval.nli_model",
}
"""What KFR/KRR lose without each part, and the setting that supplies it (the note says both)."""


# -- registration ----------------------------------------------------------------------------------

def _flags(views: Sequence[SampleView], parts: Any, role: str, key: str) -> list[float]:
    rows, without = relearn_sample_scores(
        [str(v.record["question"]) for v in views], [v.generation or "" for v in views],
        [str(v.record["answer"]) for v in views], role, getattr(parts, "extractor", None),
        getattr(parts, "embedder", None), getattr(parts, "nli", None))
    if without and parts is not None:
        parts.notes[key] = "computed without " + ", ".join(f"{w} ({MISSING_PART[w]})" for w in without)
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
    return [perplexity(logps) if (logps := (v.scorer or {}).get("token_logps")) else None for v in views]


def _text_stat(fn):
    def compute(views: Sequence[SampleView], parts: Any) -> list[float]:
        return [fn(word_tokens(v.generation or "")) for v in views]

    return compute


def _judge(key: str):
    def compute(views: Sequence[SampleView], parts: Any) -> list[float | None]:
        judge = getattr(parts, "judge", None)
        if judge is None:
            if parts is not None:
                parts.notes[key] = "not computed: set eval.judge_model"
            return [None for _ in views]
        replies = judge([judge_prompt(str(v.record["question"]), v.generation or "") for v in views])
        return [parse_judge(reply)[key] for reply in replies]

    return compute


def _linguistic(ctx: Any) -> dict[str, tuple[float | None, Direction]]:
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
              roles=("forget",), paper=PAPER, label="KFR", knowledge=-1))
metric(Metric("krr", "Knowledge Retention Rate: share of answers whose entities match the reference without "
              "contradicting it", GEN | {"relearn_parts"}, ("qa",), _krr, direction=lambda r: HIGHER,
              roles=("retain",), paper=PAPER, label="KRR"))
metric(Metric("gen_ppl", "perplexity of the generated answer under a fixed scorer model", GEN | {"scorer_model"},
              ("qa", "completion"), _gen_ppl, direction=lambda r: LOWER, paper=PAPER, label="PPL"))
metric(Metric("brunet_index", "Brunet's index N^(V^-0.165) of the generated answer's words (lower: richer)",
              GEN, ("qa", "completion"), _text_stat(brunet_index), direction=lambda r: LOWER, paper=PAPER, label="BI"))
metric(Metric("honore_statistic", "Honore's statistic 100 ln N / (1 - N1/V + 0.1) of the generated answer's words",
              GEN, ("qa", "completion"), _text_stat(honore_statistic), direction=lambda r: HIGHER, paper=PAPER,
              label="HS"))
metric(Metric("fluency", "fluency 1-5 by a judge model", GEN | {"judge"}, ("qa", "completion"), _judge("fluency"),
              direction=lambda r: HIGHER, paper=PAPER, label="fluency"))
metric(Metric("relevance", "relevance 1-5 by a judge model", GEN | {"judge"}, ("qa", "completion"),
              _judge("relevance"), direction=lambda r: HIGHER, paper=PAPER, label="relevance"))
derived(Derived("linguistic_score", "harmonic mean of 1/(1+PPL), 1/(1+BI), HS/(1+HS) of the set's means",
                ("gen_ppl", "brunet_index", "honore_statistic"), _linguistic, paper=PAPER, label="LS",
                direction=HIGHER))
