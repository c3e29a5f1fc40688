"""The evaluator: every requested metric on every dataset, from passes shared by need.

Per dataset it encodes each sequence some metric reads (answers, paraphrases, perturbed answers,
choices) and each generation prompt once, then runs over all datasets together:
one teacher-forced pass (every per-token statistic at once), one generation pass, and a gradient, a
prefix-generation, a reference-model or a scorer-model pass only when a requested metric needs it.
Each pass's per-sample outputs go through the cache (`unlearn.core.cache`); metrics are then computed
from them (`unlearn.eval.registry`), and derived metrics from the metrics.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Callable, Sequence


from unlearn.data.adapters import EvalData
from unlearn.data.tokenize import PromptFormatter
from unlearn.core.cache import PassCache, digest, model_fingerprint
from unlearn.eval.passes import PASS_VERSION, gradient_norm_pass, reproduces_suffix, teacher_forced_pass
from unlearn.eval.registry import METRICS, Metric, SampleView, result_key


@dataclass
class Settings:
    batch_size: int = 32
    max_new_tokens: int = 200
    max_length: int = 512
    cache_dir: str | None = None
    """None: no cache."""


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


@dataclass
class DatasetPlan:
    data: EvalData
    metrics: list[Metric]
    ids: list[str]
    """One id per record: a digest of its canonical content (how a reference's samples are matched)."""
    sequences: list[dict[str, dict[str, list[int]]]] = field(default_factory=list)
    prompts: list[list[int] | None] = field(default_factory=list)

    def passes(self) -> set[str]:
        return set().union(*(m.passes() for m in self.metrics)) if self.metrics else set()


def _encode_record(fmt: PromptFormatter, data: EvalData, record: dict[str, Any], wanted: set[str],
                   max_length: int) -> dict[str, dict[str, list[int]]]:
    """The teacher-forced sequences of one record that the dataset's metrics read."""
    kind, out = data.kind, {}
    if kind == "qa":
        q = record["question"]
        if "answer" in wanted:
            out["answer"] = fmt.encode(q, record["answer"], max_length)
        if "paraphrased" in wanted and record.get("paraphrased_answer"):
            out["paraphrased"] = fmt.encode(q, record["paraphrased_answer"], max_length)
        if "perturbed" in wanted:
            for j, p in enumerate(record.get("perturbed_answer") or []):
                out[f"perturbed/{j}"] = fmt.encode(q, p, max_length)
    elif kind == "completion":
        out["answer"] = fmt.encode_raw(record["question"], record["answer"], max_length)
    elif kind == "text":
        out["answer"] = fmt.encode_raw("", record["text"], max_length)
    elif kind == "choice":
        for j, choice in enumerate(record["choices"]):
            out[f"choice/{j}"] = fmt.encode(record["question"], str(choice), max_length)
    return out


def _prompt(fmt: PromptFormatter, data: EvalData, record: dict[str, Any]) -> list[int] | None:
    if data.kind == "qa":
        return fmt.prompt_ids(record["question"])
    if data.kind == "completion":
        return fmt.prompt_ids_raw(record["question"])
    return None


def plan(fmt: PromptFormatter, datasets: Sequence[EvalData], metric_names: Sequence[str],
         max_length: int) -> list[DatasetPlan]:
    """Which metrics apply to which dataset, and the sequences and prompts to score."""
    plans = []
    for data in datasets:
        metrics = [m for m in (METRICS.get(n) for n in metric_names)
                   if m.applies(data.kind, data.role, data.alternatives)]
        p = DatasetPlan(data, metrics, [digest(r) for r in data.records])
        wanted = {s for m in metrics for s in m.sequences}
        needs_seqs = bool({"teacher_forced", "gradient", "reference", "prefix_generation"} & p.passes())
        needs_gen = bool({"generation", "scorer", "external"} & p.passes())
        for r in data.records:
            p.sequences.append(_encode_record(fmt, data, r, wanted, max_length) if needs_seqs else {})
            p.prompts.append(_prompt(fmt, data, r) if needs_gen else None)
        plans.append(p)
    return plans


def _seq_id(encoded: dict[str, list[int]]) -> str:
    return digest([encoded["input_ids"], encoded["labels"]])


class Evaluator:
    """Runs the passes of one model over planned datasets, through the cache."""

    def __init__(self, model: Any, tokenizer: Any, fmt: PromptFormatter, settings: Settings,
                 parts: Parts | None = None, progress: Any = None):
        self.model, self.tokenizer, self.fmt, self.settings = model, tokenizer, fmt, settings
        self.parts = parts or Parts()
        self.progress = progress

    @cached_property
    def fingerprint(self) -> str:
        """Hash of the weights: computed when the cache or the results need it (never during training)."""
        return model_fingerprint(self.model)

    def _cache(self, name: str, model: Any = None, **settings: Any) -> PassCache:
        """The cache of one pass of `model` (default the evaluated one); in memory only without a folder."""
        if self.settings.cache_dir is None:
            return PassCache(None, {})
        fingerprint = self.fingerprint if model is None or model is self.model else model_fingerprint(model)
        namespace = {"pass": name, "version": PASS_VERSION, "model": fingerprint, **settings}
        return PassCache(self.settings.cache_dir, namespace)

    def _tick(self, n: int = 1) -> None:
        if self.progress is not None:
            self.progress.update(n)

    # -- passes ------------------------------------------------------------------------------
    def teacher_forced(self, sequences: dict[str, dict[str, list[int]]], model: Any = None
                       ) -> dict[str, dict[str, list]]:
        """Statistics of every distinct sequence (by id), computed for those not cached."""
        model = model or self.model
        cache = self._cache("teacher_forced", model, max_length=self.settings.max_length)
        missing = [i for i in sequences if i not in cache]
        encoded = [sequences[i] for i in missing]

        def store(chunk: list[int], rows: list[dict]) -> None:
            cache.add((missing[j], row) for j, row in zip(chunk, rows))
            self._tick()

        if encoded:
            teacher_forced_pass(model, encoded, self.tokenizer.pad_token_id, self.settings.batch_size, store)
        return {i: cache.get(i) for i in sequences}

    def generations(self, prompts: dict[str, list[int]]) -> dict[str, str]:
        from unlearn.models.generation import generate_texts, stop_token_ids

        stops = stop_token_ids(self.model, self.tokenizer, [self.fmt.end_token_id])
        cache = self._cache("generation", max_new_tokens=self.settings.max_new_tokens, stop_ids=stops)
        missing = [i for i in prompts if i not in cache]
        batch = self.settings.batch_size
        for start in range(0, len(missing), batch):
            ids = missing[start:start + batch]
            texts = generate_texts(self.model, self.tokenizer, [prompts[i] for i in ids], batch,
                                   self.settings.max_new_tokens, stops)
            cache.add(zip(ids, texts))
            self._tick()
        return {i: cache.get(i) for i in prompts}

    def gradient_norms(self, sequences: dict[str, dict[str, list[int]]]) -> dict[str, float]:
        cache = self._cache("gradient_norm", max_length=self.settings.max_length)
        missing = [i for i in sequences if i not in cache]
        was_training = self.model.training
        self.model.eval()
        gradient_norm_pass(self.model, [sequences[i] for i in missing], self.tokenizer.pad_token_id,
                           on_sample=lambda j, norm: cache.add([(missing[j], norm)]))
        self.model.train(was_training)
        return {i: cache.get(i) for i in sequences}

    def prefix_extraction(self, items: dict[str, tuple[list[int], list[int]]]) -> dict[str, float]:
        """Generation-form extraction strength of each (prompt, target) by binary search on k."""
        from unlearn.eval.memorisation import extraction_strength_generated

        cache = self._cache("prefix_generation", max_length=self.settings.max_length)
        pad = self.tokenizer.pad_token_id
        for i, (prompt, target) in items.items():
            if i not in cache:
                es, _ = extraction_strength_generated(
                    lambda k, p=prompt, t=target: reproduces_suffix(self.model, p, t, k, pad), len(target))
                cache.add([(i, es)])
        return {i: cache.get(i) for i in items}

    def scorer_stats(self, texts: dict[str, str]) -> dict[str, dict[str, list] | None]:
        """The fixed scorer model's statistics of each generated text (scored alone, no template)."""
        scorer, tok = self.parts.scorer_model, self.parts.scorer_tokenizer
        fmt = PromptFormatter(tok, chat_template=False)
        encoded = {i: fmt.encode_raw("", t, self.settings.max_length) for i, t in texts.items() if t.strip()}
        ids = {i: _seq_id(e) for i, e in encoded.items()}
        stats = self.teacher_forced({ids[i]: e for i, e in encoded.items()}, scorer)
        return {i: (stats[ids[i]] if i in ids else None) for i in texts}

    # -- one model, every dataset -----------------------------------------------------------
    def run(self, plans: Sequence[DatasetPlan]) -> dict[str, list[SampleView]]:
        """The views of every dataset's records, after running each needed pass once."""
        needed = set().union(*(p.passes() for p in plans)) if plans else set()
        was_training = self.model.training
        self.model.eval()
        try:
            seq_ids = [[{k: _seq_id(e) for k, e in seqs.items()} for seqs in p.sequences] for p in plans]
            all_seqs = {sid: p.sequences[r][k] for p, rows in zip(plans, seq_ids)
                        for r, keys in enumerate(rows) for k, sid in keys.items()}
            stats = self.teacher_forced(all_seqs) if all_seqs and "teacher_forced" in needed else {}
            prompts = {digest(pr): pr for p in plans for pr in p.prompts if pr is not None}
            gens = self.generations(prompts) if prompts else {}
            answers = {keys["answer"]: p.sequences[r]["answer"] for p, ids in zip(plans, seq_ids)
                       for r, keys in enumerate(ids) if "answer" in keys}
            grads = self.gradient_norms(answers) if "gradient" in needed else {}
            reference = self._reference(answers) if "reference" in needed else {}
            prefix = self._prefix(plans, seq_ids) if "prefix_generation" in needed else {}
            scored = self.scorer_stats(gens) if "scorer" in needed and self.parts.scorer_model is not None else {}
        finally:
            self.model.train(was_training)
        views: dict[str, list[SampleView]] = {}
        for p, ids in zip(plans, seq_ids):
            rows = []
            for r, record in enumerate(p.data.records):
                keys = ids[r]
                pid = digest(p.prompts[r]) if p.prompts[r] is not None else None
                answer = keys.get("answer")
                rows.append(SampleView(
                    r, record, p.data.role, p.data.kind, {k: stats[sid] for k, sid in keys.items() if sid in stats},
                    generation=gens.get(pid), grad_norm=grads.get(answer), reference=reference.get(answer),
                    scorer=scored.get(pid), prefix_es=prefix.get(answer)))
            views[p.data.name] = rows
        return views

    def _reference(self, answers: dict[str, dict[str, list[int]]]) -> dict[str, dict[str, list]]:
        ref = self.parts.reference_model
        if ref is None:
            return {}
        was_training = ref.training
        ref.eval()
        try:
            return self.teacher_forced(answers, ref)
        finally:
            ref.train(was_training)

    def _prefix(self, plans: Sequence[DatasetPlan], seq_ids: list) -> dict[str, float]:
        items = {}
        for p, ids in zip(plans, seq_ids):
            if not any("prefix_generation" in m.passes() for m in p.metrics):
                continue
            for r, keys in enumerate(ids):
                if "answer" in keys:
                    enc = p.sequences[r]["answer"]
                    n_prompt = sum(1 for x in enc["labels"] if x == -100)
                    items[keys["answer"]] = (enc["input_ids"][:n_prompt], enc["input_ids"][n_prompt:])
        return self.prefix_extraction(items)


def compute_metrics(plans: Sequence[DatasetPlan], views: dict[str, list[SampleView]], ctx: Any
                    ) -> tuple[dict[str, dict[str, list]], dict[str, float | None]]:
    """Per-sample values {dataset: {metric: [...]}} and aggregates {"<dataset>_<metric>": value}."""
    per_sample: dict[str, dict[str, list]] = {}
    values: dict[str, float | None] = {}
    for p in plans:
        rows = views[p.data.name]
        per_sample[p.data.name] = {}
        for m in p.metrics:
            vals = m.compute(rows, ctx)
            per_sample[p.data.name][m.name] = vals
            if m.aggregate is not None:
                values[result_key(p.data.name, m.name)] = m.aggregate(vals)
    return per_sample, values
