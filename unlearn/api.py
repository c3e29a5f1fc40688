"""The Python API: one function per command of the CLI, which is a thin layer over it.

world, build_tiny_model, finetune, unlearn (also run_unlearning), evaluate, ask, augment, calibrate,
compare, probe, sequence, report, audit. Each takes what the command's options give and returns what the command
prints from (a dict, a list of dicts or paths); each writes the files the command writes. `unlearn
demo` is `unlearn.demo.demo`; `unlearn methods`, `metrics` and `config` print
`unlearn.methods.describe_methods`, `unlearn.eval.describe.describe_metrics` and
`unlearn.config_help.describe_config`.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import unlearn.evidence.suites  # noqa: F401  (registers the robustness suite of every evaluation)
from unlearn.config import MethodConfig, RunConfig, set_values


def build_tiny_model(world_dir: str | Path | None = None, out: str | Path | None = None, *,
                     data: str | Path | None = None, benchmark: str | None = None, seed: int = 0, vocab_size: int = 2048, hidden_size: int = 256,
                     layers: int = 2, max_positions: int | None = None) -> Path:
    """A tokenizer trained on a benchmark's text and a randomly initialised tiny Llama, saved to `out`.

    `world_dir`: a synthetic world (`unlearn world`). Or `data` with `benchmark` (tofu, muse, custom,
    ...): the tokenizer is trained on every question, answer, paraphrase, perturbed answer and text of
    the folder's split files. `max_positions` defaults to 256 for a world and 512 (data.max_length's
    default) for other benchmarks, whose answers are longer."""
    from unlearn.core.errors import ConfigError, DataError
    from unlearn.models.tiny import build_tiny_model as build

    if out is None:
        raise ConfigError("build_tiny_model needs `out`, the folder to save the tokenizer and model in")
    _check_tiny_sizes(vocab_size, hidden_size, layers, max_positions, seed)
    if (world_dir is None) == (data is None):
        raise ConfigError("name the text to train the tokenizer on: either a world folder (--world FOLDER) or a "
                          "benchmark folder (--data PATH --benchmark NAME)")
    size = dict(seed=seed, vocab_size=vocab_size, hidden_size=hidden_size, layers=layers)
    from unlearn.core.atomic import check_writable

    check_writable(Path(out).expanduser().absolute().parent, "the folder of --out")
    if world_dir is not None:
        from unlearn.data.world import world_text

        if not (Path(world_dir) / "world.json").is_file():
            raise DataError(f"{world_dir!r} is not a synthetic world folder (no world.json); run `unlearn world` first")
        return build(world_text(world_dir), out, max_positions=max_positions or 256, **size)
    from unlearn.data.benchmarks import load_benchmark
    from unlearn.models.tiny import benchmark_texts

    if benchmark is None:
        if not (Path(data) / "world.json").is_file():
            raise ConfigError(f"name the benchmark of {str(data)!r} with --benchmark (tofu, muse, knowundo, wmdp, "
                              "custom, synthetic)")
        benchmark = "synthetic"
    bench = load_benchmark(benchmark, str(data), _forget_split(benchmark, Path(data)))
    return build(benchmark_texts(bench), out, max_positions=max_positions or 512, **size)


def _check_tiny_sizes(vocab_size: int, hidden_size: int, layers: int, max_positions: int | None, seed: int) -> None:
    """The tiny model's sizes, checked before any text is read (a bad size would fail deep in the
    tokenizer trainer or in transformers, or be silently changed)."""
    from unlearn.core.errors import ConfigError
    from unlearn.models.tiny import HEADS, MIN_VOCAB

    if vocab_size < MIN_VOCAB:
        raise ConfigError(f"--vocab-size {vocab_size} is below the {MIN_VOCAB} tokens a byte-level BPE tokenizer "
                          f"starts with (256 bytes and 4 special tokens); use at least {MIN_VOCAB} (default 2048)")
    if hidden_size < 2 * HEADS or hidden_size % (2 * HEADS):
        raise ConfigError(f"--hidden-size {hidden_size} must be a positive multiple of {2 * HEADS} ({HEADS} attention "
                          "heads, each of an even size for rotary positions), e.g. 64 or 256 (default)")
    if layers < 1:
        raise ConfigError(f"--layers {layers} must be at least 1")
    if max_positions is not None and max_positions < 2:
        raise ConfigError(f"--max-positions {max_positions} must be at least 2 (a prompt and an answer token)")
    if seed < 0:
        raise ConfigError(f"--seed {seed} must be at least 0")


def _forget_split(benchmark: str, folder: Path) -> str:
    """A forget split the folder has (the tokenizer reads every split; the adapter wants one named)."""
    from unlearn.config import DataConfig

    default = DataConfig().forget_split
    if benchmark in ("synthetic", "tofu") and not any(folder.glob(f"{default}.*")):
        found = sorted(p.stem for p in folder.glob("forget*.*"))
        return found[0] if found else default
    return default


def _train_and_eval(cfg: RunConfig) -> dict[str, Any]:
    from unlearn.core.device import is_main_process
    from unlearn.engine import train

    result = train(cfg)
    out: dict[str, Any] = {"run_dir": cfg.out, "model_dir": str(result.model_dir), "steps": result.steps,
                           "resumed_from": result.resumed_from, "skipped": result.skipped}
    if cfg.eval.enabled:  # every process of a launch scores its share of each pass; the main one writes
        import contextlib

        from unlearn.engine.integrity import RunLock

        # the folder stays one run's while its results are written
        with RunLock(cfg.out) if is_main_process() else contextlib.nullcontext():
            out["metrics"] = _metrics(cfg, result)
    return out


def _metrics(cfg: RunConfig, result: Any) -> dict[str, Any]:
    """The run's metrics: reused when made with the same evaluation settings, else evaluated now."""
    from unlearn.eval.command import evaluate

    previous = _read_metrics(Path(cfg.out) / "metrics.json") if result.skipped else None
    # Reused only when made with the same evaluation settings: never a stale result.
    if previous is not None and set_values(previous.get("eval_config") or {}) == set_values(cfg.eval):
        return previous
    # The saved model folder holds its own tokenizer and safetensors weights (no GGUF any more).
    from unlearn.models.loading import saved_model_config

    return evaluate(replace(cfg, model=saved_model_config(cfg, str(result.model_dir))), out=cfg.out)


def _read_metrics(path: Path) -> dict[str, Any] | None:
    import json

    try:
        return json.loads(path.read_text()) if path.is_file() else None
    except ValueError:
        return None


def finetune(cfg: RunConfig, retain_only: bool = False) -> dict[str, Any]:
    """Fine-tune `model.path` on the benchmark's training data (all of it: the *target* model; with
    `retain_only`, everything but the forget split: the *retain* model, the gold standard)."""
    from unlearn.data.benchmarks import benchmark_from_config

    cfg = replace(cfg, method=MethodConfig(name="finetune"))
    if retain_only and not cfg.data.train_splits:
        bench = benchmark_from_config(cfg.data)
        cfg = replace(cfg, data=replace(cfg.data, train_splits=bench.retain_train_splits()))
    return _train_and_eval(cfg)


def unlearn(cfg: RunConfig) -> dict[str, Any]:
    """Unlearn `cfg.data.forget_split` from `model.path` with `cfg.method`; evaluate the result."""
    from unlearn.engine.before import check_before_loading

    check_before_loading(cfg)  # an unknown method, option or parameter fails here, before any model loads
    if not cfg.eval.original_model:  # the evaluation compares with the model before unlearning
        original = f"{cfg.model.path}#{cfg.model.gguf_file}" if cfg.model.gguf_file else cfg.model.path
        cfg = replace(cfg, eval=replace(cfg.eval, original_model=original))
    return _train_and_eval(cfg)


run_unlearning = unlearn
"""The name `unlearn` had before the API covered every command (the README's example uses it)."""


def evaluate(cfg: RunConfig, model_path: str | None = None, out: str | None = None) -> dict[str, Any]:
    """Evaluate a model (default `model.path`) and write metrics.json / samples.jsonl to `out`."""
    from unlearn.eval.command import evaluate as run_eval

    return run_eval(cfg, model_path=model_path, out=out)


def world(out: str | Path, seed: int = 0, people: int = 40, general: int = 20, perturbed: int = 3) -> dict[str, Any]:
    """`unlearn world`: the synthetic world in the TOFU layout; returns its manifest."""
    from unlearn.data.world import generate_world

    return generate_world(out, seed=seed, n_people=people, n_general=general, n_perturbed=perturbed)


def completions(forget: str, out: str, tokenizer: str, retain: str | None = None, holdout: str | None = None,
                general: str | None = None, gguf_file: str | None = None, prefix_tokens: int = 200,
                continuation_tokens: int = 200, stride: int | None = None) -> dict[str, Any]:
    """`unlearn completions`: cut text files (a .txt file is one document, a folder one per .txt file) into
    prefix/continuation pairs of exact token counts by `tokenizer` ("words": whitespace words, as FLAT's
    files), into the folder `data.benchmark=completion` reads; returns its manifest. Every input is read and checked before the tokenizer loads."""
    from unlearn.config import ModelConfig
    from unlearn.data.completions import (
        WhitespaceWords,
        check_lengths,
        check_out,
        read_documents,
        write_completion_folder,
    )
    from unlearn.models.loading import load_tokenizer

    check_lengths(prefix_tokens, continuation_tokens, stride)
    check_out(out)
    sets = {"forget": read_documents(forget, "--forget")}
    for name, path in (("retain", retain), ("holdout", holdout)):
        if path:
            sets[name] = read_documents(path, f"--{name}")
    extra = read_documents(general, "--general") if general else None
    tok = WhitespaceWords() if tokenizer == "words" else load_tokenizer(ModelConfig(path=tokenizer, gguf_file=gguf_file))
    name = tokenizer + (f"#{gguf_file}" if gguf_file else "")
    return write_completion_folder(out, sets, tok, name, prefix_tokens, continuation_tokens, stride, extra)


def augment(forget: str, out: str, generator: str = "offline", generic: str | None = None, generic_ratio: float = 1.0,
            cache: str | None = None, seed: int = 0, kind: str = "relearn", prompts: str | None = None,
            verifier: str | None = None) -> dict[str, Any]:
    """`unlearn augment`: generated targets for a forget file (JSON lines at `out`, a summary beside it);
    returns the summary."""
    from unlearn.generate.augment import augment_file

    return augment_file(forget, out, generator, generic, generic_ratio, cache, seed, kind, prompts, verifier)


def calibrate(run: str | Path, original: str | None = None, metric: str = "auto", target: float = 0.95,
              tol: float = 0.02, overrides: list[str] | None = None) -> dict[str, Any]:
    """`unlearn calibrate RUN`: the largest mixing alpha whose retain `metric` stays at `target` x the
    original's, and the forget metrics there; writes RUN/calibration.json."""
    from unlearn.evidence.compare import calibrate_run

    return calibrate_run(run, original, metric, target, tol, overrides)


def compare(runs: list[str], metric: str = "auto", target: float = 0.95, tol: float = 0.02,
            rank_by: str = "forget_rougeL_recall", overrides: list[str] | None = None) -> list[dict[str, Any]]:
    """`unlearn compare RUN...`: every run calibrated alike, best first by `rank_by`."""
    from unlearn.evidence.compare import compare as compare_runs

    return compare_runs(runs, metric, target, tol, rank_by, overrides)


def probe(run: str | Path, original: str | None = None, probes: list[str] | None = None,
          metric: str = "rougeL_recall", relearn_steps: int = 10, relearn_lr: float | None = None,
          jailbreaks: str | None = None, control: str | None = None, overrides: list[str] | None = None) -> dict[str, Any]:
    """`unlearn probe RUN`: the robustness probes; writes RUN/robustness.json."""
    from unlearn.evidence.robustness import probe_run

    return probe_run(run, original, probes, metric, relearn_steps, relearn_lr, jailbreaks, control, overrides)


def sequence(cfg: RunConfig, requests: list[str], out: str | Path | None = None) -> dict[str, Any]:
    """`unlearn sequence`: each request unlearned on the previous request's model; writes OUT/sequence.json."""
    from unlearn.evidence.sequence import sequential

    return sequential(cfg, requests, out or cfg.out)


def audit(run: str | Path, original: str | None = None, retain_eval: str | None = None,
          thresholds: str | None = None, overrides: list[str] | None = None) -> dict[str, Any]:
    """`unlearn audit RUN`: the deletion certificate; writes RUN/audit.json and RUN/audit.html."""
    from unlearn.evidence.audit import audit_run

    return audit_run(run, original, retain_eval, thresholds, overrides)


def report(runs: list[str], out: str | Path = "report.html", original: str | None = None,
           retrained: str | None = None, sequence: str | None = None) -> tuple[Path, Path]:
    """`unlearn report RUN...`: one self-contained HTML report of the runs (with the original and the
    retrained model's evaluations when given, and a sequence's curves) and its Markdown twin; returns
    the two paths."""
    from unlearn.core.files import read_json
    from unlearn.report.build import build_report, write_report
    from unlearn.report.entries import load_entry

    entries = [*(load_entry(f, role) for f, role in ((original, "original"), (retrained, "retrained")) if f),
               *(load_entry(r) for r in runs)]
    chosen = read_json(Path(sequence) / "sequence.json", "run `unlearn sequence` again") if sequence else None
    return write_report(build_report(entries, chosen), out)


def plan(model: str, method: str = "NPO_GDR", **options: Any) -> dict[str, Any]:
    """The estimated peak memory per device of unlearning `model` with `method` (unlearn.engine.plan): the
    parts in bytes, their total, and the text `unlearn plan` prints. Only the model's config is read."""
    import torch

    from unlearn.engine.plan import PlanRequest, estimate, plan_text

    result = estimate(PlanRequest(model=model, method=method, **options))
    return {"parameters": result.parameters, "trainable": result.trainable, "reference": result.reference,
            "parts": result.parts, "total": result.total,
            "text": plan_text(result, on_cpu=not torch.cuda.is_available() and result.request.gpus == 1)}


def ask(models: list[str], cfg: RunConfig | None = None, questions: list[str] = (), questions_file: str | None = None,
        split: str | None = None, out: str | Path | None = None) -> list[dict[str, Any]]:
    """`unlearn ask`: each model (a folder, PATH#FILE.gguf or a run folder) answers each question greedily,
    prompted as evaluation prompts; returns one row a question with `answers` {model: text} (and the
    reference `answer` from a data split). Writes the rows as JSON lines to `out` when given."""
    from unlearn.config import load_config
    from unlearn.core.atomic import json_line, write_text
    from unlearn.eval.answers import answers, check_models, question_records

    cfg = cfg or load_config()
    records = question_records(cfg, list(questions), questions_file, split)
    check_models(cfg, models)  # every model checked before the first one loads
    rows = answers(cfg, models, records)
    if out is not None:
        write_text(Path(out), "".join(json_line(row) + "\n" for row in rows))
    return rows
