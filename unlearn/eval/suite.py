"""Evaluate a model: the chosen suites on a benchmark's evaluation sets, passes shared by need.

Writes `metrics.json` (aggregates, each with its direction: higher, lower or closest to a value, and
what it was computed from) and `samples.jsonl` (per-sample values with each sample's id, generations
included) into the output folder.
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path
from typing import Any


from unlearn.config import RunConfig
from unlearn.core.device import device as choose_device
from unlearn.core.errors import ConfigError, UnlearnError
from unlearn.core.atomic import check_writable, disk_errors, json_line, write_json, write_text
from unlearn.data.benchmarks import Benchmark, benchmark_from_config
from unlearn.data.tokenize import PromptFormatter
from unlearn.core.progress import Progress
from unlearn.eval.derived import DerivedContext, ModelResults, check_reference_samples, compute_derived
from unlearn.eval.evaluator import Evaluator, Parts, Settings, compute_metrics, plan
from unlearn.eval.suites import select
from unlearn.eval.registry import result_key
from unlearn.models.loading import context_limit

def _is_main() -> bool:
    from accelerate import PartialState

    return PartialState().is_main_process


def _settings(cfg: RunConfig) -> Settings:
    from unlearn.core.files import cache_dir

    folder = (cfg.eval.cache_dir or str(cache_dir() / "eval")) if cfg.eval.cache else None
    return Settings(cfg.eval.batch_size, cfg.eval.max_new_tokens, cfg.data.max_length, folder)


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
                   retain_model: Any = None, datasets: list | None = None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Every metric of the configured suites for one model. Returns (metrics, per-sample rows).

    `reference`: the retain model's earlier results; or `retain_model`, evaluated here on the same
    samples (through the cache). `datasets`: the evaluation data, when already read."""
    bench = bench or benchmark_from_config(cfg.data)
    parts = parts or Parts()
    selection = select(cfg.eval.suites, cfg.eval.metrics, parts.reference_model is not None)
    formatter = PromptFormatter(tokenizer, cfg.data.template, cfg.data.chat_template)
    datasets = datasets if datasets is not None else bench.eval_data(cfg.eval.splits or None)
    limit = context_limit(model, cfg.data.max_length)
    plans = plan(formatter, datasets, selection.metrics, limit.tokens)
    if _is_main():
        limit.report(formatter.cut_lengths, sum(len(s) for p in plans for s in p.sequences), "the evaluation sets")
        prompts = [len(pr) for p in plans for pr in p.prompts if pr is not None]
        limit.report_generation(prompts, cfg.eval.max_new_tokens, "the evaluation sets")
    settings = dataclasses.replace(_settings(cfg), max_length=limit.tokens)
    started = time.time()
    with Progress(_batches(plans, settings.batch_size), "eval", every_s=cfg.train.progress_every,
                  enabled=_is_main()) as progress:
        evaluator = Evaluator(model, tokenizer, formatter, settings, parts, progress)
        views = evaluator.run(plans)
        results = _results(plans, views, parts)
    if retain_model is not None:
        ref_views = Evaluator(retain_model, tokenizer, formatter, settings, parts).run(plans)
        reference = _results(plans, ref_views, parts)
        reference.source = "the retain model"
    ctx = DerivedContext(results, reference, notes=dict(parts.notes))
    derived_values = compute_derived(selection.derived, ctx)
    if cfg.eval.harness_tasks:
        from unlearn.eval.harness import run_harness

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
        "suites": list(cfg.eval.suites),
        "roles": results.roles,
        "datasets": {d.name: {"source": d.source, "kind": d.kind, "role": d.role, "samples": len(d.records),
                              "data_hash": d.data_hash()} for d in datasets},
        "model_fingerprint": evaluator.fingerprint,
        "reference": reference.source if reference else None,
        "eval_seconds": round(time.time() - started, 2),
    }
    return metrics, _sample_rows(plans, views, results)


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


def _batches(plans: list, batch_size: int) -> int:
    seqs = sum(len(s) for p in plans for s in p.sequences)
    prompts = sum(1 for p in plans for pr in p.prompts if pr is not None)
    return math.ceil(seqs / batch_size) + math.ceil(prompts / batch_size)


def write_eval(out: str | Path, metrics: dict[str, Any], samples: list[dict[str, Any]]) -> None:
    out = Path(out)
    with disk_errors(f"the evaluation results in {out}"):
        out.mkdir(parents=True, exist_ok=True)
        write_json(out / "metrics.json", metrics)
        write_text(out / "samples.jsonl", "".join(json_line(row) + "\n" for row in samples))


def _add_robustness(metrics: dict[str, Any], cfg: RunConfig, path: str) -> None:
    """The robustness suite: every probe against eval.original_model, as robustness_<probe>_probed (the
    forget ROUGE-L after the probe) and robustness_<probe>_returned (the share of knowledge back)."""
    from unlearn.eval.registry import LOWER
    from unlearn.evidence.robustness import probe

    if not cfg.eval.original_model:
        metrics["notes"]["robustness"] = "not computed: set eval.original_model (the model before unlearning)"
        return
    for r in probe(cfg, cfg.eval.original_model, path, relearn_lr=cfg.train.lr):
        for key, value in ((f"robustness_{r.probe}_probed", r.probed), (f"robustness_{r.probe}_returned", r.returned)):
            metrics["metrics"][key] = value
            if value is None:
                metrics["notes"][key] = ("null: the unlearned model is not below the original on the forget set, "
                                         "so there was no removed knowledge whose return could be measured")
            metrics["directions"][key] = LOWER.label()
            metrics["higher_is_better"][key] = LOWER.higher_is_better()


def check_eval_request(cfg: RunConfig, bench: Benchmark) -> tuple[list, ModelResults | None]:
    """Everything that can be wrong with an evaluation request, checked before any model loads (and, for
    `unlearn unlearn` / `finetune`, before training): an unknown suite or metric, bad evaluation data, a
    reference evaluated on other samples. Returns (the evaluation sets, the reference results)."""
    selection = select(cfg.eval.suites, cfg.eval.metrics)
    datasets = bench.eval_data(cfg.eval.splits or None)
    reference = ModelResults.from_folder(cfg.eval.retain_reference) if cfg.eval.retain_reference else None
    if reference is not None:
        check_reference_samples(datasets, reference, selection.derived)
    _check_side_models(cfg)
    return datasets, reference


def _check_side_models(cfg: RunConfig) -> None:
    """The other models an evaluation names exist and are safe to load (nothing is loaded here)."""
    from dataclasses import replace

    from unlearn.models.loading import check_model_files

    for key in ("retain_model", "original_model", "reference_model", "scorer_model"):
        spec = getattr(cfg.eval, key)
        if spec:
            path, _, gguf_file = spec.partition("#") if key == "scorer_model" else (spec, "", "")
            try:
                check_model_files(replace(cfg.model, path=path, tokenizer=None, gguf_file=gguf_file or None))
            except UnlearnError as err:
                raise ConfigError(f"eval.{key}: {err}") from None
    if cfg.eval.judge_model:
        from unlearn.generate.spec import check_spec, judge_spec

        check_spec(judge_spec(cfg.eval.judge_model))


def evaluate(cfg: RunConfig, model_path: str | None = None, out: str | Path | None = None) -> dict[str, Any]:
    """Load a model (default model.path), evaluate it with the configured suites, write the results."""
    from dataclasses import replace

    from unlearn.eval.parts import load_parts, load_side_model
    from unlearn.models import load_model, load_tokenizer
    from unlearn.models.loading import check_model_files, check_vocabulary

    path = model_path or cfg.model.path
    model_cfg = replace(cfg.model, path=path)
    bench = benchmark_from_config(cfg.data)
    datasets, reference = check_eval_request(cfg, bench)
    check_model_files(model_cfg)
    check_writable(out or cfg.out)  # a folder that cannot take the results fails now, not after the evaluation
    tokenizer = load_tokenizer(model_cfg)
    model = load_model(model_cfg)
    check_vocabulary(model, tokenizer, model_cfg)
    device = choose_device()
    model.to(device)
    parts = load_parts(cfg, device)
    retain = load_side_model(cfg, cfg.eval.retain_model, tokenizer, device, "eval.retain_model") \
        if cfg.eval.retain_model else None
    metrics, samples = evaluate_model(model, tokenizer, cfg, bench, reference, parts, retain, datasets)
    if "robustness" in cfg.eval.suites:
        _add_robustness(metrics, cfg, str(path))
    metrics["model"] = str(path)
    metrics["eval_config"] = dataclasses.asdict(cfg.eval)
    write_eval(out or cfg.out, metrics, samples)
    return metrics
