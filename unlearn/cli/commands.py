"""What each `unlearn` subcommand does with its parsed arguments: one small function per command, in the
table COMMANDS, each calling one function of the Python API (`unlearn.api`) and printing its result."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any, Callable

from unlearn.core.device import is_main_process
from unlearn.core.errors import ConfigError, UnlearnError
from unlearn.core.formatting import fmt


def _config(args: argparse.Namespace, extra: list[str] = ()) -> Any:
    from unlearn.config import load_config

    return load_config(args.config, [*args.overrides, *extra])


def _split(text: str | None) -> list[str] | None:
    """A comma-separated option as a list (None when not given)."""
    return [part.strip() for part in text.split(",") if part.strip()] if text else None


def _print_metrics(metrics: dict[str, Any] | None) -> None:
    values = (metrics or {}).get("metrics")
    if values:
        width = max(len(k) for k in values)
        for k, v in values.items():
            print(f"  {k:<{width}}  {fmt(v, 4)}")
    notes = (metrics or {}).get("notes") or {}
    if notes:  # what a number lacks (KFR without an NLI model) or how it was made
        print("notes:")
        for k, note in notes.items():
            print(f"  {k}: {note}")
    if (metrics or {}).get("collateral"):
        from unlearn.eval.collateral import collateral_lines

        print(f"against the original ({metrics['collateral']['original_model']}), each set's score kept:")
        print("\n".join(collateral_lines(metrics["collateral"])))


def _print_run(result: dict[str, Any]) -> None:
    if is_main_process():
        print(f"model saved to {result['model_dir']}")
        _print_metrics(result.get("metrics"))


def demo(args: argparse.Namespace) -> None:
    from unlearn.demo import demo as run_demo

    run_demo(args.out, quick=args.quick, methods=_split(args.methods), seed=args.seed, generator=args.generator,
             scorer=args.scorer, verifier=args.verifier)


def world(args: argparse.Namespace) -> None:
    from unlearn import api

    try:
        manifest = api.world(args.out, args.seed, args.people, args.general, args.perturbed)
    except ValueError as err:  # the API names its arguments; the user typed options
        options = {"n_people": "--people", "n_general": "--general", "n_perturbed": "--perturbed", "seed": "--seed"}
        raise UnlearnError(re.sub(r"\b(n_people|n_general|n_perturbed|seed)\b", lambda m: options[m.group(1)],
                                  str(err))) from None
    print(f"wrote {args.out}: " + ", ".join(f"{k} {v}" for k, v in manifest["splits"].items()))


def tiny_model(args: argparse.Namespace) -> None:
    from unlearn import api

    path = api.build_tiny_model(args.world, args.out, data=args.data, benchmark=args.benchmark, seed=args.seed,
                                vocab_size=args.vocab_size, hidden_size=args.hidden_size, layers=args.layers,
                                max_positions=args.max_positions)
    print(f"wrote {path}")


def finetune(args: argparse.Namespace) -> None:
    from unlearn import api

    _print_run(api.finetune(_config(args), retain_only=args.retain_only))


def unlearn(args: argparse.Namespace) -> None:
    from unlearn import api

    _print_run(api.unlearn(_config(args)))


def _eval_overrides(args: argparse.Namespace) -> list[str]:
    """The `unlearn eval` options as config overrides (they win over --config and key=value)."""
    pairs = {"eval.suites": args.suite, "eval.metrics": args.metrics, "data.path": args.data,
             "data.benchmark": args.benchmark, "eval.splits": args.splits, "eval.retain_model": args.retain_model,
             "eval.retain_reference": args.retain_eval, "out": args.out}
    out = [f"{key}={value}" for key, value in pairs.items() if value is not None]  # lists: comma-separated
    if args.no_cache:
        out.append("eval.cache=false")
    return out


def evaluate(args: argparse.Namespace) -> None:
    from unlearn import api

    if args.model and "=" in args.model:  # no model given: the first word is a key=value override
        args.overrides, args.model = [args.model, *args.overrides], None
    cfg = _config(args, _eval_overrides(args))
    metrics = api.evaluate(cfg, model_path=args.model or args.model_opt)
    print(f"wrote {cfg.out}/metrics.json and samples.jsonl")
    _print_metrics(metrics)


def ask(args: argparse.Namespace) -> None:
    from unlearn import api
    from unlearn.config import load_config
    from unlearn.eval.answers import answers_text

    overrides = [i for i in args.items if "=" in i]
    models = [i for i in args.items if "=" not in i]
    pairs = {"data.path": args.data, "data.benchmark": args.benchmark, "eval.max_new_tokens": args.max_new_tokens}
    cfg = load_config(args.config, [*overrides, *(f"{k}={v}" for k, v in pairs.items() if v is not None)])
    rows = api.ask(models, cfg, args.question, args.questions, args.split, args.out)
    print(answers_text(rows))
    if args.out:
        print(f"wrote {args.out}")


def augment(args: argparse.Namespace) -> None:
    from unlearn import api

    summary = api.augment(args.forget, args.out, args.generator, args.generic, args.generic_ratio, args.cache,
                          args.seed, args.kind, args.prompts, args.verifier)
    print(f"wrote {args.out} ({', '.join(f'{k} {v}' for k, v in summary['rows'].items())}; "
          f"{summary['dropped_after_rounds']} dropped after verification) and {args.out}.summary.json")


def completions(args: argparse.Namespace) -> None:
    from unlearn import api

    try:
        manifest = api.completions(args.forget, args.out, args.tokenizer, args.retain, args.holdout, args.general,
                                   args.gguf_file, args.prefix_tokens, args.continuation_tokens, args.stride)
    except ValueError as err:  # the API names its arguments; the user typed options
        raise UnlearnError(re.sub(r"\b(prefix_tokens|continuation_tokens|stride)\b",
                                  lambda m: "--" + m.group(1).replace("_", "-"), str(err))) from None
    print(f"wrote {args.out}: " + ", ".join(f"{k} {v['pairs']} pairs from {v['documents']} documents"
                                            for k, v in manifest["sets"].items()))


def calibrate(args: argparse.Namespace) -> None:
    from unlearn import api

    overrides = [i for i in args.items if "=" in i]
    if len(overrides) < len(args.items):
        extra = next(i for i in args.items if "=" not in i)
        raise ConfigError(f"unlearn calibrate takes one run ({args.run}), then key=value overrides; got "
                          f"{extra!r} too: use `unlearn compare RUN RUN ...` for several runs")
    result = api.calibrate(args.run, args.original, args.metric, args.target, args.tol, overrides)
    print(f"alpha {result['alpha']:.3f}: {args.metric} {result['value']:.4f} (target {result['target']:.4f}, "
          f"original {result['original']:.4f}); wrote {args.run}/calibration.json")
    print(json.dumps(result["forget"], indent=2))


def compare(args: argparse.Namespace) -> None:
    from unlearn import api
    from unlearn.evidence.compare import compare_table

    runs = [i for i in args.items if "=" not in i]
    ranked = api.compare(runs, args.metric, args.target, args.tol, args.rank_by, [i for i in args.items if "=" in i])
    print(compare_table(ranked, args.rank_by))


def probe(args: argparse.Namespace) -> None:
    from unlearn import api
    from unlearn.evidence.robustness import probe_table

    result = api.probe(args.run, args.original, _split(args.probes), args.metric, args.relearn_steps,
                       args.relearn_lr, args.jailbreaks, args.control, args.items)
    print(probe_table(result))
    print(f"wrote {args.run}/robustness.json")


def sequence(args: argparse.Namespace) -> None:
    from unlearn import api
    from unlearn.evidence.sequence import METRICS, sequence_table

    if args.metric not in METRICS:
        raise ConfigError(f"unlearn sequence --metric {args.metric!r}: valid: {', '.join(METRICS)}")
    cfg = _config(args)
    result = api.sequence(cfg, _split(args.requests) or [], cfg.out)
    print(sequence_table(result, args.metric))
    print(f"wrote {cfg.out}/sequence.json")


def audit(args: argparse.Namespace) -> None:
    from unlearn import api

    cert = api.audit(args.run, args.original, args.retain_eval, args.thresholds, args.items)
    for c in cert["checks"]:
        print(f"{c['status']:>7}  {c['name']}: {c['value'] if c['value'] is None else round(c['value'], 4)} "
              f"({c['threshold']}){'  ' + c['reason'] if c['reason'] else ''}")
    print(f"{cert['summary']}; wrote {args.run}/audit.json and audit.html")


def report(args: argparse.Namespace) -> None:
    from unlearn import api

    if args.sequence and not (Path(args.sequence) / "sequence.json").is_file():
        raise ConfigError(f"--sequence {args.sequence}: no sequence.json there; give the out= folder of "
                          "`unlearn sequence`")
    html, md = api.report(args.runs, args.out, args.original, args.retrained, args.sequence)
    print(f"wrote {html} and {md}")


def sweep(args: argparse.Namespace) -> None:
    from unlearn.sweep import run_sweep

    state = run_sweep(args.grid, args.items, args.out, leaderboard_only=args.leaderboard_only)
    print(state["claims"])
    print("wrote " + ", ".join(state["files"]))


def plan(args: argparse.Namespace) -> None:
    from unlearn import api

    print(api.plan(args.model, args.method, gguf_file=args.gguf_file, lora_r=args.lora_r, gpus=args.gpus,
                   shard=args.shard, batch_size=args.batch_size, length=args.length, dtype=args.dtype,
                   mixed_precision=args.mixed_precision, gradient_checkpointing=args.gradient_checkpointing,
                   trust_remote_code=args.trust_remote_code)["text"])


def config(args: argparse.Namespace) -> None:
    from unlearn.config_help import describe_config, show_config

    print(show_config(_config(args)) if args.show else describe_config())


def metrics(args: argparse.Namespace) -> None:
    from unlearn.eval.describe import describe_metrics

    print(describe_metrics())


def methods(args: argparse.Namespace) -> None:
    from unlearn.methods import describe_method, describe_methods
    from unlearn.methods.describe import methods_table

    if args.markdown:
        print(methods_table())
    else:
        print(describe_method(args.name) if args.name else describe_methods())


COMMANDS: dict[str, Callable[[argparse.Namespace], None]] = {
    "demo": demo, "world": world, "tiny-model": tiny_model, "finetune": finetune, "unlearn": unlearn,
    "eval": evaluate, "ask": ask, "augment": augment, "completions": completions, "calibrate": calibrate, "compare": compare, "probe": probe,
    "sequence": sequence, "audit": audit, "report": report, "metrics": metrics, "config": config,
    "methods": methods, "sweep": sweep, "plan": plan,
}
