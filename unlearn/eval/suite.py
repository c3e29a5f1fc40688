"""Evaluate a model on a benchmark's evaluation sets: TOFU's metrics, one pass of each kind per set.

Writes `metrics.json` (aggregates, with whether higher is better) and `samples.jsonl` (per-sample
values, generations included) into the output folder.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from pathlib import Path
from typing import Any

import torch

from unlearn.config import RunConfig
from unlearn.data.benchmarks import QA_FIELDS, Benchmark, load_benchmark
from unlearn.data.tokenize import PromptFormatter
from unlearn.engine.progress import Progress
from unlearn.errors import DataError
from unlearn.eval import metrics as M
from unlearn.eval.scoring import generate_greedy, score_sequences
from unlearn.atomic import disk_errors, write_json, write_text

HIGHER_IS_BETTER = {
    "forget_prob": False, "forget_rougeL_recall": False, "forget_truth_ratio": True, "forget_quality": True,
    "model_utility": True,
}
PERTURBED_FIELDS = ("question", "answer", "perturbed_answer")


def _set_sequences(formatter: PromptFormatter, records: list[dict[str, Any]], role: str, max_len: int,
                   alternatives: bool = True) -> tuple[list[dict[str, list[int]]], list[dict[str, Any]]]:
    """Every sequence the set's metrics score (answer, paraphrase, each perturbed answer; the answer
    alone for a set without alternatives) and where each record's sequences are."""
    sequences: list[dict[str, list[int]]] = []
    layout: list[dict[str, Any]] = []
    for r in records:
        q = r["question"]
        perturbed = r["perturbed_answer"] if alternatives else []
        if isinstance(perturbed, str):
            perturbed = [perturbed]
        entry = {"answer": len(sequences)}
        sequences.append(formatter.encode(q, r["answer"], max_len))
        if role != "general" and alternatives:
            if not r.get("paraphrased_answer"):
                raise DataError(f"{role} evaluation record {r['question']!r} has no field 'paraphrased_answer'")
            entry["paraphrased"] = len(sequences)
            sequences.append(formatter.encode(q, r["paraphrased_answer"], max_len))
        entry["perturbed"] = list(range(len(sequences), len(sequences) + len(perturbed)))
        sequences.extend(formatter.encode(q, p, max_len) for p in perturbed)
        layout.append(entry)
    return sequences, layout


def _eval_set_scores(model: Any, tokenizer: Any, formatter: PromptFormatter, records: list[dict[str, Any]],
                     role: str, cfg: RunConfig, prepared: tuple[list, list], progress: Progress
                     ) -> list[dict[str, Any]]:
    """Per-sample metrics of one evaluation set, from one teacher-forced and one generation pass."""
    sequences, layout = prepared
    nll = score_sequences(model, sequences, tokenizer.pad_token_id, cfg.eval.batch_size, on_batch=progress.update)
    prompts = [formatter.prompt_ids(r["question"]) for r in records]
    generations = generate_greedy(model, tokenizer, prompts, cfg.eval.batch_size, cfg.eval.max_new_tokens,
                                  stop_ids=[formatter.end_token_id], on_batch=progress.update)

    rows = []
    for i, (r, entry, gen) in enumerate(zip(records, layout, generations)):
        p_true = M.length_normalised_prob(*nll[entry["answer"]])
        p_pert = [M.length_normalised_prob(*nll[j]) for j in entry["perturbed"]]
        if not p_pert:  # a set without alternatives: no truth ratio
            prob, tr_raw, tr_stat = p_true, None, None
        elif role == "general":
            prob = M.normalised_prob(p_true, p_pert)
            tr_raw = M.truth_ratio(p_true, p_pert)
        else:
            prob = p_true
            tr_raw = M.truth_ratio(M.length_normalised_prob(*nll[entry["paraphrased"]]), p_pert)
        if tr_raw is not None:
            tr_stat = M.truth_ratio_forget_stat(tr_raw) if role == "forget" else M.truth_ratio_retain_stat(tr_raw)
        rows.append({
            "index": i, "question": r["question"], "answer": r["answer"], "generation": gen,
            "prob": prob, "rougeL_recall": M.rouge_l_recall(gen, r["answer"]),
            "truth_ratio": tr_stat, "truth_ratio_raw": tr_raw,
        })
    return rows


def _is_main() -> bool:
    from accelerate import PartialState

    return PartialState().is_main_process


def load_reference_truth_ratios(folder: str | Path, set_name: str = "forget") -> list[float]:
    """Per-sample raw truth ratios of the retain model, from its evaluation's samples.jsonl."""
    path = Path(folder) / "samples.jsonl"
    if not path.is_file():
        raise DataError(
            f"eval.retain_reference: {str(path)!r} does not exist; evaluate the retain model first "
            "(`unlearn eval`) and point eval.retain_reference at that folder"
        )
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    of_set = [r for r in rows if r.get("set") == set_name]
    if not of_set:
        raise DataError(f"{path} has no samples of set {set_name!r}")
    # A set without alternative answers has no truth ratios: forget quality is then not defined.
    return [r["truth_ratio_raw"] for r in of_set if r.get("truth_ratio_raw") is not None]


def evaluate_model(model: Any, tokenizer: Any, cfg: RunConfig, bench: Benchmark | None = None,
                   reference_truth_ratios: list[float] | None = None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """All metrics of one model. Returns (metrics, per-sample rows)."""
    bench = bench or load_benchmark(cfg.data.benchmark, cfg.data.path, cfg.data.forget_split)
    formatter = PromptFormatter(tokenizer, cfg.data.template, cfg.data.chat_template)
    sets = bench.eval_sets()
    if cfg.eval.splits:
        sets = [s for s in sets if s.name in cfg.eval.splits]
    was_training = model.training
    model.eval()
    started = time.time()
    values: dict[str, float | None] = {}
    samples: list[dict[str, Any]] = []
    per_set: dict[str, list[dict[str, Any]]] = {}
    loaded = {es.name: bench.load(es.split, PERTURBED_FIELDS if es.alternatives else QA_FIELDS) for es in sets}
    prepared = {es.name: _set_sequences(formatter, loaded[es.name], es.role, cfg.data.max_length, es.alternatives)
                for es in sets}
    batches = sum(math.ceil(len(prepared[es.name][0]) / cfg.eval.batch_size)
                  + math.ceil(len(loaded[es.name]) / cfg.eval.batch_size) for es in sets)
    with Progress(batches, "eval", every_s=cfg.train.progress_every, enabled=_is_main()) as progress:
        for es in sets:
            rows = _eval_set_scores(model, tokenizer, formatter, loaded[es.name], es.role, cfg, prepared[es.name],
                                    progress)
            per_set[es.name] = rows
            for name in ("prob", "rougeL_recall", "truth_ratio"):
                if rows and rows[0][name] is not None:
                    values[f"{es.name}_{name}"] = M.mean([row[name] for row in rows])
            samples.extend({"set": es.name, **row} for row in rows)
    model.train(was_training)

    if "forget" in per_set:
        forget_ratios = [r["truth_ratio_raw"] for r in per_set["forget"] if r["truth_ratio_raw"] is not None]
        values["forget_quality"] = (M.forget_quality(forget_ratios, reference_truth_ratios)
                                    if reference_truth_ratios and forget_ratios else None)
    utility_sets = [es.name for es in sets if es.role in ("retain", "general")]
    if utility_sets:  # TOFU's 9 numbers; sets without alternatives have no truth ratio
        values["model_utility"] = M.harmonic_mean(
            [values[key] for s in utility_sets for m in ("prob", "rougeL_recall", "truth_ratio")
             if (key := f"{s}_{m}") in values]
        )
    higher = {k: HIGHER_IS_BETTER.get(k, not k.startswith("forget_")) for k in values}
    metrics = {
        "metrics": values,
        "higher_is_better": higher,
        "model_utility_from": utility_sets,
        "forget_quality_reference": "retain model" if reference_truth_ratios else None,
        "eval_seconds": round(time.time() - started, 2),
    }
    return metrics, samples


def write_eval(out: str | Path, metrics: dict[str, Any], samples: list[dict[str, Any]]) -> None:
    out = Path(out)
    with disk_errors(f"the evaluation results in {out}"):
        out.mkdir(parents=True, exist_ok=True)
        write_json(out / "metrics.json", metrics)
        write_text(out / "samples.jsonl", "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in samples))


def evaluate(cfg: RunConfig, model_path: str | None = None, out: str | Path | None = None) -> dict[str, Any]:
    """Load a model (default: the run's `model/` folder, else model.path), evaluate it, write results."""
    from dataclasses import replace

    from unlearn.models import load_model, load_tokenizer

    path = model_path or cfg.model.path
    model_cfg = replace(cfg.model, path=path)
    tokenizer = load_tokenizer(model_cfg)
    model = load_model(model_cfg)
    if torch.cuda.is_available():
        model.to("cuda")
    bench = load_benchmark(cfg.data.benchmark, cfg.data.path, cfg.data.forget_split)
    reference = load_reference_truth_ratios(cfg.eval.retain_reference) if cfg.eval.retain_reference else None
    metrics, samples = evaluate_model(model, tokenizer, cfg, bench, reference)
    metrics["model"] = str(path)
    metrics["eval_config"] = dataclasses.asdict(cfg.eval)
    write_eval(out or cfg.out, metrics, samples)
    return metrics
