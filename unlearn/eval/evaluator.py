"""The evaluator: every requested metric on every dataset, from passes shared by need.

Per dataset it encodes each sequence some metric reads (answers, paraphrases, perturbed answers,
choices) and each generation prompt once, then runs over all datasets together:
one teacher-forced pass (every per-token statistic at once), one generation pass, and a gradient, a
prefix-generation, a reference-model or a scorer-model pass only when a requested metric needs it.
Each pass's per-sample outputs go through the cache (`unlearn.core.cache`); metrics are then computed
from them (`unlearn.eval.registry`), and derived metrics from the metrics.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Sequence

from unlearn.config import RunConfig
from unlearn.core.batching import IGNORE_INDEX
from unlearn.core.cache import PassCache, digest, model_fingerprint
from unlearn.core.cost import CostMeter
from unlearn.core.device import gather_items, is_main_process, process_share, wait_for_everyone
from unlearn.core.progress import Progress
from unlearn.data.benchmarks import Benchmark, benchmark_from_config
from unlearn.data.tokenize import PromptFormatter
from unlearn.eval.metrics import METRICS
from unlearn.eval.parts import Parts
from unlearn.eval.passes import PASS_VERSION, gradient_norm_pass, reproduces_suffix, teacher_forced_pass
from unlearn.eval.plan import DatasetPlan, plan
from unlearn.eval.registry import SampleView, result_key
from unlearn.eval.results import DerivedContext, ModelResults, compute_derived
from unlearn.eval.suites import select, suites_of
from unlearn.models.loading import context_limit


@dataclass
class Settings:
    batch_size: int = 32
    max_new_tokens: int = 200
    max_length: int = 512
    verbmem_tokens: int = 128
    """Generated tokens after a completion prefix, and the true continuation's tokens scored (VerbMem)."""
    knowmem_tokens: int = 32
    """Generated tokens of a KnowMem answer."""
    cache_dir: str | None = None
    """None: no cache."""
    batch_tokens: int | None = None
    """Tokens per teacher-forced batch (None: batch_size rows)."""
    share_prompts: bool = True
    """Score each prompt once for all its answers (unlearn.eval.shared_prompts); False: a whole pass per
    sequence (benchmarks/eval_passes.py compares the two)."""


def _my_share(items: list[str]) -> list[str]:
    """This process's items of a pass: every N-th under N processes (a launch), all of them alone. The
    processes wait for each other first, so that each has read the cache before the main one writes to it
    (all must agree on what is cached)."""
    rank, processes = process_share()
    if processes == 1:
        return items
    wait_for_everyone()
    return items[rank::processes]


def _seq_id(encoded: dict[str, list[int]]) -> str:
    return digest([encoded["input_ids"], encoded["labels"]])


class Evaluator:
    """Runs the passes of one model over planned datasets, through the cache."""

    def __init__(self, model: Any, tokenizer: Any, fmt: PromptFormatter, settings: Settings,
                 parts: Parts | None = None, progress: Any = None, meter: CostMeter | None = None):
        self.model, self.tokenizer, self.fmt, self.settings = model, tokenizer, fmt, settings
        self.parts = parts or Parts()
        self.progress = progress
        self.meter = meter or CostMeter()  # what the passes computed (cached results cost nothing)

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
        return PassCache(self.settings.cache_dir, namespace, writer=is_main_process())

    def _tick(self, n: int) -> None:
        if self.progress is not None and n:
            self.progress.update(n)

    # -- passes ------------------------------------------------------------------------------
    def teacher_forced(self, sequences: dict[str, dict[str, list[int]]], model: Any = None
                       ) -> dict[str, dict[str, list]]:
        """Statistics of every distinct sequence (by id), computed for those not cached. The evaluated
        model's sequences count towards the progress (cached ones at once), another model's do not."""
        model = model or self.model
        counted = model is self.model
        cache = self._cache("teacher_forced", model, max_length=self.settings.max_length)
        # This process's share of every sequence, cached or not: its batches are planned over all of them and
        # those already cached are skipped, so a resumed evaluation batches (and rounds) as a straight one.
        mine = _my_share(list(sequences))  # every process read the cache before any writes to it
        done = {j for j, i in enumerate(mine) if i in cache}
        self._tick(sum(i in cache for i in sequences) if counted else 0)

        def store(chunk: list[int], rows: list[dict]) -> None:
            new = [(mine[j], row) for j, row in zip(chunk, rows) if j not in done]
            cache.add(new)
            self._tick(len(new) if counted else 0)

        if len(done) < len(mine):
            self.meter.count_scored([sequences[i]["input_ids"] for j, i in enumerate(mine) if j not in done])
            teacher_forced_pass(model, [sequences[i] for i in mine], self.tokenizer.pad_token_id,
                                self.settings.batch_size, store, self.settings.share_prompts,
                                self.settings.batch_tokens, done)
        self._gather(cache, mine, counted)
        return {i: cache.get(i) for i in sequences}

    def _gather(self, cache: PassCache, mine: list[str], counted: bool = True) -> None:
        """Under several processes: every process's results in every process's cache (the main one writes
        them to disk once), and the others' share on the progress line."""
        if process_share()[1] == 1:  # decided by the process count alone: every process must join the gather
            return
        others = [(i, v) for i, v in gather_items([(i, cache.get(i)) for i in mine]) if i not in cache]
        cache.add(others)
        self._tick(len(others) if counted else 0)
        wait_for_everyone()  # the file is complete before any process reads it again

    def generations(self, prompts: dict[str, list[int]], max_new_tokens: int | None = None) -> dict[str, str]:
        """Greedy answers to the prompts, at most `max_new_tokens` each (default eval.max_new_tokens)."""
        from unlearn.models.generation import generate_texts, stop_token_ids

        length = max_new_tokens or self.settings.max_new_tokens
        stops = stop_token_ids(self.model, self.tokenizer, [self.fmt.end_token_id])
        cache = self._cache("generation", max_new_tokens=length, stop_ids=stops)
        missing = [i for i in prompts if i not in cache]
        mine = _my_share(missing)  # every process read the cache before any writes to it
        self._tick(len(prompts) - len(missing))
        batch = self.settings.batch_size
        for start in range(0, len(mine), batch):
            ids = mine[start:start + batch]
            texts = generate_texts(self.model, self.tokenizer, [prompts[i] for i in ids], batch, length, stops)
            self.meter.generated_answers += len(ids)
            cache.add(zip(ids, texts))
            self._tick(len(ids))
        self._gather(cache, mine)
        return {i: cache.get(i) for i in prompts}

    def all_generations(self, plans: Sequence[DatasetPlan]) -> dict[str, str]:
        """Every plan's prompts answered, as long as its metrics say (MUSE: VerbMem eval.verbmem_tokens,
        KnowMem eval.knowmem_tokens), else eval.max_new_tokens."""
        by_length: dict[int, dict[str, list[int]]] = {}
        for p in plans:
            own = next((m.generation_tokens for m in p.metrics if m.generation_tokens), None)
            length = getattr(self.settings, own) if own else self.settings.max_new_tokens
            for pr in p.prompts:
                if pr is not None:
                    by_length.setdefault(length, {})[digest(pr)] = pr
        out: dict[str, str] = {}
        for length, prompts in by_length.items():
            out.update(self.generations(prompts, length))
        return out

    def cut_targets(self, plans: Sequence[DatasetPlan]) -> dict[tuple[str, int], str]:
        """The reference texts generations are scored against, where they differ from the record's:
        - a completion record's true continuation cut to its first eval.verbmem_tokens tokens, as MUSE
          scores VerbMem ("MUSE: Machine Unlearning Six-Way Evaluation for Language Models", Shi et al., 2024);
        - an answer longer than the context cut to the part the model saw (with a warning), so ROUGE-L
          compares like with like and never runs on a text of megabytes."""
        out, cut_answers, limit = {}, 0, self.settings.max_length
        for p in plans:
            for r, record in enumerate(p.data.records):
                answer = str(record.get("answer", ""))
                if p.data.kind == "completion":
                    n = self.settings.verbmem_tokens
                elif p.data.kind == "qa" and len(answer) > limit and p.prompts[r] is not None:
                    n = max(1, limit - len(p.prompts[r]) - 1)  # the answer tokens a cut sample keeps
                else:
                    continue
                ids = self.tokenizer(self.fmt.bounded(answer, n), add_special_tokens=False)["input_ids"]
                if len(ids) > n:
                    out[(p.data.name, r)] = self.tokenizer.decode(ids[:n])
                    cut_answers += p.data.kind == "qa"
                elif p.data.kind == "completion":
                    out[(p.data.name, r)] = answer
        if cut_answers and is_main_process():
            from unlearn.core.errors import warn

            warn(f"answers longer than the context ({limit} tokens with the prompt): {cut_answers}; generations are "
                 "scored against the part the model saw (data.max_length sets the context)")
        return out

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
        from unlearn.eval.metrics.memorisation import extraction_strength_generated

        cache = self._cache("prefix_generation", max_length=self.settings.max_length)
        pad = self.tokenizer.pad_token_id
        for i, (prompt, target) in items.items():
            if i not in cache:
                es, _ = extraction_strength_generated(
                    lambda k, p=prompt, t=target: reproduces_suffix(self.model, p, t, k, pad), len(target))
                cache.add([(i, es)])
        return {i: cache.get(i) for i in items}

    def scorer_stats(self, texts: dict[str, str], prompts: dict[str, str]) -> dict[str, dict[str, list] | None]:
        """The fixed scorer model's statistics of each generated text after the prompt it answered (the
        prompt's text as the evaluated model saw it, chat tags included), on the generation's tokens only,
        no end token: ReLearn's perplexity (Xu et al., 2025; their evaluate.py scores the answer so)."""
        scorer, tok = self.parts.scorer_model, self.parts.scorer_tokenizer
        fmt = PromptFormatter(tok, chat_template=False)
        encoded = {i: fmt.encode_raw(prompts.get(i, ""), t, self.settings.max_length, end=False)
                   for i, t in texts.items() if t.strip()}
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
            forced = all_seqs if "teacher_forced" in needed else {}
            prompts = {digest(pr): pr for p in plans for pr in p.prompts if pr is not None}
            if self.progress is not None:  # the distinct sequences scored and prompts answered
                self.progress.set_total(len(forced) + len(prompts))
            stats = self.teacher_forced(forced) if forced else {}
            gens = self.all_generations(plans) if prompts else {}
            answers = {keys["answer"]: p.sequences[r]["answer"] for p, ids in zip(plans, seq_ids)
                       for r, keys in enumerate(ids) if "answer" in keys}
            grads = self.gradient_norms(answers) if "gradient" in needed else {}
            reference = self._reference(answers) if "reference" in needed else {}
            prefix = self._prefix(plans, seq_ids) if "prefix_generation" in needed else {}
            scored = (self.scorer_stats(gens, self._prompt_texts(plans))
                      if "scorer" in needed and self.parts.scorer_model is not None else {})
        finally:
            self.model.train(was_training)
        views: dict[str, list[SampleView]] = {}
        cut = self.cut_targets(plans)
        for p, ids in zip(plans, seq_ids):
            rows = []
            for r, record in enumerate(p.data.records):
                keys = ids[r]
                pid = digest(p.prompts[r]) if p.prompts[r] is not None else None
                answer = keys.get("answer")
                rows.append(SampleView(
                    r, record, p.data.role, p.data.kind, {k: stats[sid] for k, sid in keys.items() if sid in stats},
                    generation=gens.get(pid), grad_norm=grads.get(answer), reference=reference.get(answer),
                    scorer=scored.get(pid), prefix_es=prefix.get(answer), cut_target=cut.get((p.data.name, r))))
            views[p.data.name] = rows
        return views

    def _prompt_texts(self, plans: Sequence[DatasetPlan]) -> dict[str, str]:
        """Each generation prompt's text: the templated question, or a raw record's prefix."""
        out = {}
        for p in plans:
            for record, prompt in zip(p.data.records, p.prompts):
                if prompt is not None:
                    question = str(record.get("question", ""))
                    out[digest(prompt)] = (question if p.data.kind == "completion"
                                           else self.fmt.prompt_text(question, record.get("context", "")))
        return out

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
                    n_prompt = sum(1 for x in enc["labels"] if x == IGNORE_INDEX)
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


# -- one model's whole evaluation ----------------------------------------------------------------

def settings_from_config(cfg: RunConfig) -> Settings:
    from unlearn.core.files import cache_dir

    folder = (cfg.eval.cache_dir or str(cache_dir() / "eval")) if cfg.eval.cache else None
    return Settings(batch_size=cfg.eval.batch_size, max_new_tokens=cfg.eval.max_new_tokens,
                    max_length=cfg.data.max_length, verbmem_tokens=cfg.eval.verbmem_tokens,
                    knowmem_tokens=cfg.eval.knowmem_tokens, cache_dir=folder, batch_tokens=cfg.eval.batch_tokens)


def _results(plans: list, views: dict, ctx: Any) -> ModelResults:
    per_sample, values = compute_metrics(plans, views, ctx)
    return ModelResults({p.data.name: p.ids for p in plans}, per_sample, values,
                        {p.data.name: p.data.role for p in plans})


def _sample_rows(plans: list, views: dict, results: ModelResults) -> list[dict[str, Any]]:
    rows = []
    for p in plans:
        for view, sid in zip(views[p.data.name], p.ids):
            r = view.record
            row = {"set": p.data.name, "index": view.index, "id": sid,
                   **{k: r[k] for k in ("question", "answer", "text") if k in r}}
            if view.generation is not None:
                row["generation"] = view.generation
            row.update({m: vals[view.index] for m, vals in results.per_sample[p.data.name].items()})
            rows.append(row)
    return rows


def evaluate_model(model: Any, tokenizer: Any, cfg: RunConfig, bench: Benchmark | None = None,
                   reference: ModelResults | None = None, parts: Parts | None = None,
                   retain_model: Any = None, datasets: list | None = None,
                   label: str = "eval", meter: CostMeter | None = None
                   ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Every metric of the configured suites for one model. Returns (metrics, per-sample rows).

    `reference`: the retain model's earlier results; or `retain_model`, evaluated here on the same
    samples (through the cache). `datasets`: the evaluation data, when already read. `label` starts the
    progress lines (which run, alpha or probe is being evaluated). `meter` counts what was scored and
    generated (unlearn.core.cost)."""
    bench = bench or benchmark_from_config(cfg.data)
    parts = parts or Parts()
    parts.end_token = cfg.eval.end_token
    suites = suites_of(cfg.eval.suites, cfg.data.benchmark)
    selection = select(suites, cfg.eval.metrics, parts.reference_model is not None, bool(cfg.eval.judge_model))
    formatter = PromptFormatter(tokenizer, cfg.data.template, cfg.data.chat_template)
    datasets = datasets if datasets is not None else bench.eval_data(cfg.eval.splits or None)
    limit = context_limit(model, cfg.data.max_length)
    plans = plan(formatter, datasets, selection.metrics, limit.tokens)
    if is_main_process():
        limit.report(formatter.cut_lengths, sum(len(s) for p in plans for s in p.sequences), "the evaluation sets")
        prompts = [len(pr) for p in plans for pr in p.prompts if pr is not None]
        limit.report_generation(prompts, cfg.eval.max_new_tokens, "the evaluation sets")
    settings = dataclasses.replace(settings_from_config(cfg), max_length=limit.tokens)
    started = time.time()
    with Progress(0, label, every_s=cfg.train.progress_every, enabled=is_main_process(), unit="sample") as progress:
        evaluator = Evaluator(model, tokenizer, formatter, settings, parts, progress, meter)
        views = evaluator.run(plans)
        results = _results(plans, views, parts)
    if retain_model is not None:
        ref_views = Evaluator(retain_model, tokenizer, formatter, settings, parts, meter=meter).run(plans)
        reference = _results(plans, ref_views, parts)
        reference.source = "the retain model"
    ctx = DerivedContext(results, reference, notes={**_unapplied(selection.metrics, plans), **parts.notes})
    derived_values = compute_derived(selection.derived, ctx)
    if cfg.eval.harness_tasks:
        from unlearn.eval.harness import run_harness  # lm-evaluation-harness: imported only when asked for

        derived_values.update(run_harness(model, tokenizer, cfg.eval.harness_tasks, cfg.eval.harness_include,
                                          cfg.eval.harness_limit, cfg.eval.batch_size))
    directions = {result_key(p.data.name, m.name): m.direction(p.data.role) for p in plans for m in p.metrics
                  if m.aggregate is not None}
    values = dict(results.values)
    for key, (value, direction) in derived_values.items():
        values[key], directions[key] = value, direction
    _explain_non_finite(values, results.per_sample, ctx.notes)
    metrics = {
        "metrics": values,
        "directions": {k: d.label() for k, d in directions.items()},
        "higher_is_better": {k: d.higher_is_better() for k, d in directions.items()},
        "notes": ctx.notes,
        "suites": suites,
        "roles": results.roles,
        "datasets": {d.name: {"source": d.source, "kind": d.kind, "role": d.role, "samples": len(d.records),
                              "data_hash": d.data_hash()} for d in datasets},
        "model_fingerprint": evaluator.fingerprint,
        "reference": reference.source if reference else None,
        "eval_seconds": round(time.time() - started, 2),
    }
    return metrics, _sample_rows(plans, views, results)


KIND_TEXT = {"qa": "question/answer", "completion": "completion (a text prefix and its continuation, as MUSE's "
             "verbmem/)", "text": "plain text (as MUSE's privleak/)", "choice": "multiple-choice"}


def _unapplied(names: Sequence[str], plans: Sequence[DatasetPlan]) -> dict[str, str]:
    """A note for each requested metric that no evaluation set could give (a MUSE folder without verbmem/,
    a truth ratio on sets without perturbed answers)."""
    notes = {}
    for name in names:
        m = METRICS.get(name)
        if any(m in p.metrics for p in plans):
            continue
        kinds = " or ".join(KIND_TEXT.get(k, k) for k in m.kinds)
        roles = f" with role {' or '.join(m.roles)}" if m.roles else ""
        extra = "; the records need a paraphrased and perturbed answers" if m.requires_alternatives else ""
        notes[name] = f"not computed: no {kinds} evaluation set{roles} in the data{extra}"
    return notes


def _explain_non_finite(values: dict[str, Any], per_sample: dict[str, dict[str, list]], notes: dict[str, str]) -> None:
    """metrics.json is strict JSON: a NaN or infinite value is written as null, and a note says why
    (unless one already does)."""
    for key, value in values.items():
        if key in notes or not (value is None or (isinstance(value, float) and not math.isfinite(value))):
            continue
        found = next(((vals, m) for s, by_metric in per_sample.items() for m, vals in by_metric.items()
                      if key == result_key(s, m)), None)
        bad = [v for v in found[0] if not (isinstance(v, (int, float)) and math.isfinite(v))] if found else []
        why = f"; {len(bad)} of {len(found[0])} samples had no finite value" if found and bad else ""
        notes[key] = f"not a finite number ({value}), written as null{why}"

