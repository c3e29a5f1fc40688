"""The `unlearn` command line: every subcommand, its options, and parsing (with key=value overrides after
the options). Configs: `--config FILE.yaml` plus any number of `key.sub=value` overrides, e.g.
`unlearn unlearn --config run.yaml method.name=NPO_GDR train.lr=1e-4`."""

from __future__ import annotations

import argparse
import typing
from typing import Any

from unlearn.core.errors import ConfigError

EPILOG = """examples:
  unlearn demo --quick --out demo_out
  unlearn world --out world && unlearn tiny-model --world world --out init
  unlearn finetune data.path=world model.path=init out=runs/target train.lr=2e-3 train.epochs=40
  unlearn unlearn data.path=world model.path=runs/target/model out=runs/npo method.name=NPO_GDR
  unlearn eval runs/npo/model --data world --suite tofu,privacy --retain-model runs/retain/model --out runs/npo-eval
  unlearn ask runs/target runs/npo runs/retain --split forget10[:3] data.path=world
  unlearn sweep configs/sweeps/synthetic.yaml 'methods=[GA,NPO]' 'seeds=[0]' --out sweep_small
  unlearn plan --model HuggingFaceTB/SmolLM2-1.7B --method NPO_KLR --lora-r 16 --gpus 4 --shard fsdp2
  unlearn metrics
  unlearn methods NPO+GRU
"""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors that say where to look (`unlearn: error: PROG: MESSAGE; see PROG
    --help`), and a config-key epilog made only when the help is printed (`config_keys`: the command
    whose keys to list; making it reads the config's source, too slow for every start)."""

    def __init__(self, *args: Any, config_keys: str | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.config_keys = config_keys

    def error(self, message: str) -> typing.NoReturn:
        self.exit(2, f"unlearn: error: {self.prog}: {message}; see `{self.prog} --help`\n")

    def format_help(self) -> str:
        if self.config_keys is not None and self.epilog is None:
            from unlearn.config_help import describe_config

            self.epilog = describe_config(self.config_keys)
        return super().format_help()


def _config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="YAML config file (sections: out, model, data, train, method, lora, eval)")
    p.add_argument("overrides", nargs="*", metavar="key.sub=value",
                   help="config overrides after the command, e.g. train.lr=1e-4 method.name=NPO_GDR; they win "
                        "over --config (the keys are listed below)")


def _config_parser(sub: Any, name: str, help_text: str, keys_for: str | None = None) -> argparse.ArgumentParser:
    """A subcommand that takes --config and key.sub=value overrides: its --help lists the config keys."""
    return sub.add_parser(name, help=help_text, description=help_text, config_keys=keys_for or name,
                          formatter_class=argparse.RawDescriptionHelpFormatter)


def _run_folder_args(p: argparse.ArgumentParser) -> None:
    """What every command on one finished run folder takes: the folder, config overrides for its
    config.yaml, and the model it started from."""
    p.add_argument("run", help="an unlearning run folder (its config.yaml names the original model)")
    p.add_argument("items", nargs="*", metavar="key.sub=value", help="config overrides, e.g. eval.batch_size=8")
    p.add_argument("--original", help="the model the run started from (default: the run's model.path)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="unlearn", description="Make a causal language model forget chosen knowledge, and measure it.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"unlearn {_version()}")
    parser.add_argument("--threads", metavar="N|auto", default=None,
                        help="CPU threads for torch, anywhere on the line (default: UNLEARN_THREADS, else an "
                             "OMP_NUM_THREADS you set, else auto: the cores the load leaves free)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("demo", help="the whole loop on the synthetic world: train, unlearn, evaluate, report")
    p.add_argument("--out", default="demo_out", help="output folder (default: demo_out)")
    p.add_argument("--quick", action="store_true", help="a smaller world and shorter training (a few minutes)")
    p.add_argument("--methods", default=None,
                   help="comma-separated presets (default: GA,NPO,GA_GDR,NPO_GDR,IDK_GDR,ReLearn)")
    p.add_argument("--generator", default="offline",
                   help="ReLearn's augmentation backend: offline (rules, the default), hf:PATH[#FILE.gguf] or "
                        "http://HOST:PORT/v1#MODEL (OpenAI-compatible; key from $OPENAI_API_KEY)")
    p.add_argument("--verifier", default="offline",
                   help="what checks ReLearn's generated answers for leaks: offline (rules, the default) or a "
                        "generator spec like --generator")
    p.add_argument("--scorer", default=None,
                   help="model whose perplexity of the generations enters the linguistic score: PATH or "
                        "PATH#FILE.gguf (default: the demo's retain model)")
    p.add_argument("--seed", type=int, default=0)

    p = sub.add_parser("world", help="generate the synthetic world (TOFU layout)")
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--people", type=int, default=40, help="trainable people (default 40)")
    p.add_argument("--general", type=int, default=20, help="general place facts and thing facts, each (default 20)")
    p.add_argument("--perturbed", type=int, default=3, help="wrong answers per fact (default 3)")

    p = sub.add_parser("tiny-model", help="train a tokenizer on a benchmark's text and save a freshly initialised "
                                          "tiny Llama")
    p.add_argument("--world", help="folder made by `unlearn world`")
    p.add_argument("--data", help="instead of --world: a benchmark folder, e.g. shared/data/tofu")
    p.add_argument("--benchmark", help="with --data: tofu, muse, knowundo, wmdp, custom or synthetic")
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--vocab-size", type=int, default=2048)
    p.add_argument("--hidden-size", type=int, default=256)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--max-positions", type=int, default=None,
                   help="longest sequence (default 256 with --world, 512 with --data)")

    p = _config_parser(sub, "finetune", "fine-tune a model on a benchmark: the target (all data) or retain model")
    p.add_argument("--retain-only", action="store_true", help="train on everything but the forget split (the retain model)")
    _config_args(p)

    p = _config_parser(sub, "unlearn", "run an unlearning method on a model, then evaluate it")
    _config_args(p)

    p = _config_parser(sub, "eval", "evaluate a model with metric suites: metrics.json and samples.jsonl")
    p.add_argument("model", nargs="?", default=None, help="model folder or hub name (default: model.path)")
    p.add_argument("--model", dest="model_opt", help=argparse.SUPPRESS)
    p.add_argument("--suite", help="comma-separated suites: tofu, muse, privacy, relearn, general, harm, "
                                   "copyright, robustness (needs eval.original_model=PATH) (default: the benchmark's own: "
                                   "tofu, muse for MUSE, general for WMDP, harm for harm, copyright for completion)")
    p.add_argument("--metrics", help="comma-separated extra metrics, e.g. mia_gradnorm (see `unlearn metrics`)")
    p.add_argument("--data", help="benchmark folder (data.path)")
    p.add_argument("--benchmark", help="synthetic, tofu, muse, knowundo, wmdp, harm, completion or custom (data.benchmark)")
    p.add_argument("--splits", help="comma-separated evaluation sets with optional slices, e.g. forget[:50%%],retain")
    p.add_argument("--retain-model", help="model trained without the forget set: forget quality and PrivLeak")
    p.add_argument("--retain-eval", help="instead of --retain-model: the folder of its earlier evaluation")
    p.add_argument("--out", help="output folder (default: out)")
    p.add_argument("--no-cache", action="store_true", help="neither read nor write the evaluation cache")
    _config_args(p)

    p = _config_parser(sub, "ask", "models answer questions side by side (greedy, prompted as in evaluation): "
                                   "see what a model knows before and after unlearning", "eval")
    p.add_argument("items", nargs="+", metavar="MODEL or key.sub=value",
                   help="model folders, PATH#FILE.gguf or run folders (their model/), then config overrides "
                        "(e.g. data.template=..., eval.max_new_tokens=64)")
    p.add_argument("--question", action="append", default=[], help="a question (repeat for more)")
    p.add_argument("--questions", help="a text file with one question a line, or a data file with a question field")
    p.add_argument("--split", help="the questions of a data set's split, with an optional slice, e.g. "
                                   "forget10[:5] (with --data or data.path)")
    p.add_argument("--data", help="benchmark folder (data.path)")
    p.add_argument("--benchmark", help="synthetic, tofu, muse, knowundo, wmdp, harm, completion or custom (data.benchmark)")
    p.add_argument("--max-new-tokens", type=int, help="answer length (eval.max_new_tokens)")
    p.add_argument("--out", help="also write the answers as JSON lines to this file")
    p.add_argument("--config", help="YAML config file (the data, template and eval sections apply)")

    p = sub.add_parser("augment", help="generated targets (JSON lines with provenance): ReLearn's augmented forget "
                                       "set (question variants, vague verified answers, sentence completions, "
                                       "generic data), or a refusal / reasoning refusal per forget question")
    p.add_argument("--forget", required=True, help="forget file with question and answer fields")
    p.add_argument("--out", required=True, help="output JSON lines file (a summary goes to OUT.summary.json)")
    from unlearn.generate.augment import KINDS

    p.add_argument("--kind", default="relearn", choices=KINDS,
                   help="relearn (default: data.augmented), alternatives (a refusal per question for IdkDPO / IDK: "
                        "data.alternatives) or reasoning (TRU's reasoning refusals: data.targets)")
    p.add_argument("--generator", default="offline", help="offline (rules, the default), hf:PATH or hf:PATH#FILE.gguf (a local causal LM) or http://HOST:PORT/v1#MODEL (OpenAI-compatible; key from $OPENAI_API_KEY)")
    p.add_argument("--verifier", help="generator that checks each answer for leaks (same specs; default: the "
                                      "--generator itself; offline = rules that look for the true answer's specifics)")
    p.add_argument("--generic", help="generic question/answer file mixed in (ReLearn: 1:1)")
    p.add_argument("--generic-ratio", type=float, default=1.0, help="generic rows per augmented row (default 1.0)")
    p.add_argument("--cache", help="generator call cache folder (default $UNLEARN_CACHE/generate)")
    p.add_argument("--prompts", help="YAML file of prompt templates (default: the package's prompts.yaml)")
    p.add_argument("--seed", type=int, default=0)

    p = sub.add_parser("completions", help="cut text (a book, articles) into prefix/continuation pairs of exact "
                                           "token counts: the folder data.benchmark=completion reads (copyright)")
    p.add_argument("--forget", required=True, help="the text to unlearn: a .txt file (one document) or a folder of them")
    p.add_argument("--retain", required=True, help="text to keep, trained on (same forms)")
    p.add_argument("--holdout", help="text never trained on, whose completions measure collateral damage")
    p.add_argument("--general", help="a general text whose perplexity measures utility (FLAT: WikiText)")
    p.add_argument("--tokenizer", required=True, help="model folder or hub name whose tokenizer counts the tokens "
                                                      "(the model you will unlearn), or `words` to count "
                                                      "whitespace words as FLAT's Harry Potter files do")
    p.add_argument("--gguf-file", help="GGUF file inside --tokenizer's folder")
    p.add_argument("--prefix-tokens", type=int, default=200, help="tokens of each prefix (default 200, FLAT's)")
    p.add_argument("--continuation-tokens", type=int, default=200, help="tokens of each true continuation (default 200)")
    p.add_argument("--stride", type=int, help="tokens between window starts (default: the window, no overlap)")
    p.add_argument("--out", required=True)

    for name, what in (("calibrate", "calibrate one run"), ("compare", "calibrate and rank runs")):
        p = _config_parser(sub, name, f"{what} by model mixing: the largest alpha of (1-alpha) original + alpha "
                                      "unlearned whose retain metric stays at the target, and the forget metrics there; "
                                      "overrides apply to the run's config.yaml")
        if name == "calibrate":
            _run_folder_args(p)
        else:
            p.add_argument("items", nargs="+", metavar="RUN or key.sub=value",
                           help="run folders, then config overrides (e.g. eval.retain_reference=FOLDER for forget "
                                "quality)")
        p.add_argument("--metric", default="auto",
                       help="metric held at the target: auto (default: held_out_utility when the data has holdout "
                            "or general sets, which no method trains on, else model_utility), held_out_utility, "
                            "model_utility or SET_METRIC, e.g. retain_rougeL_recall")
        p.add_argument("--target", type=float, default=0.95, help="share of the original's retain metric (default 0.95)")
        p.add_argument("--tol", type=float, default=0.02, help="bisection tolerance on alpha (default 0.02)")
        if name == "compare":
            p.add_argument("--rank-by", default="forget_rougeL_recall",
                           help="forget metric to rank by at the calibrated alpha (default forget_rougeL_recall)")

    p = _config_parser(sub, "probe", "robustness probes on one run: precision change, int8 quantisation, jailbreak "
                                     "wrappers, paraphrased questions, a relearning attack; how much knowledge "
                                     "returns; overrides apply to the run's config.yaml")
    _run_folder_args(p)
    p.add_argument("--probes", help="comma-separated: bfloat16, float16, int8, jailbreak, paraphrase, relearn (default: all)")
    p.add_argument("--metric", default="rougeL_recall", help="forget metric measured (default rougeL_recall; or prob)")
    p.add_argument("--relearn-steps", type=int, default=10, help="fine-tuning steps of the relearning attack (default 10)")
    p.add_argument("--relearn-lr", type=float, help="its learning rate (default: the run's train.lr)")
    p.add_argument("--jailbreaks", help="YAML of jailbreak templates with {question} (default: the package's)")
    p.add_argument("--control", help="a model that never saw the forget set (the retain model), attacked alike by "
                                     "the relearning probe")

    p = _config_parser(sub, "sequence", "sequential deletion requests: unlearn each forget set on the model the "
                                        "previous request produced; the metrics on every earlier request after each")
    p.add_argument("--requests", required=True,
                   help="comma-separated forget splits, with slices, in order, e.g. 'forget10[:5],forget10[5:10]'")
    p.add_argument("--metric", default="rougeL_recall",
                   help="metric of the printed table: rougeL_recall (default) or prob (both are in OUT/sequence.json)")
    _config_args(p)

    p = _config_parser(sub, "audit", "a deletion certificate for one run: what was to be forgotten (hashes, counts), "
                                     "checks against thresholds, the model's hash (RUN/audit.json and audit.html); "
                                     "overrides apply to the run's config.yaml")
    _run_folder_args(p)
    p.add_argument("--retain-eval", help="the --out folder of `unlearn eval` on the retain model (forget quality, "
                                         "forget ROUGE-L against the retrained model)")
    p.add_argument("--thresholds", help="YAML of thresholds overriding the defaults (see docs/evidence.md)")

    p = sub.add_parser("report", help="one self-contained HTML report (and a Markdown twin) of runs: trade-off plot, "
                                      "calibrated ranking, metric tables, robustness, examples, provenance")
    p.add_argument("runs", nargs="+", help="run or evaluation folders of unlearned models (with metrics.json)")
    p.add_argument("--out", default="report.html", help="HTML file (the Markdown goes beside it as .md)")
    p.add_argument("--original", help="folder of the original model's evaluation (e.g. the target run)")
    p.add_argument("--retrained", help="folder of the retrained model's evaluation (e.g. the retain run)")
    p.add_argument("--sequence", help="folder of `unlearn sequence` (sequence.json): its curves")

    p = sub.add_parser("sweep", help="a YAML grid of models x benchmarks x methods x seeds: every run (resumed "
                                     "where it stopped), one leaderboard (HTML, Markdown, CSV) with the seeds' "
                                     "claims checked",
                       description="Run a grid such as configs/sweeps/synthetic.yaml (its layout: docs/sweeps.md). "
                                   "Finished runs, evaluations and calibrations are reused, so running it again "
                                   "continues an interrupted sweep and a widened grid runs only its new cells.")
    p.add_argument("grid", help="YAML grid file, e.g. configs/sweeps/synthetic.yaml")
    p.add_argument("items", nargs="*", metavar="key=value",
                   help="grid overrides, e.g. seeds=[0] 'methods=[GA,NPO]' settings.train.lr=1e-4")
    p.add_argument("--out", help="output folder (default: the grid's out)")
    p.add_argument("--leaderboard-only", action="store_true",
                   help="run nothing: write the leaderboard again from OUT/sweep.json and the run folders under OUT "
                        "(no model or data needed), e.g. --out docs/results/tofu_smollm2")

    p = sub.add_parser("plan", help="estimate a run's peak memory per device from the model's config alone "
                                    "(no weights loaded)",
                       description="Estimate the peak memory per device of unlearning MODEL with METHOD: weights, "
                                   "gradients, AdamW state, the reference, activations and logits (how: "
                                   "unlearn/engine/plan.py; its error against measured peaks: docs/scale.md).")
    p.add_argument("--model", required=True, help="model folder or hub name (only its config is read)")
    p.add_argument("--gguf-file", help="GGUF file inside --model's folder")
    p.add_argument("--method", default="NPO_GDR", help="a preset (default NPO_GDR): its streams and reference")
    p.add_argument("--lora-r", type=int, default=0, help="LoRA rank (default 0: full weights)")
    p.add_argument("--gpus", type=int, default=1, help="devices (default 1)")
    p.add_argument("--shard", choices=["fsdp2"], help="fsdp2: weights, gradients and optimizer state sharded")
    p.add_argument("--batch-size", type=int, default=8, help="per device and stream (default 8)")
    p.add_argument("--length", type=int, default=256, help="tokens per sample (default 256)")
    p.add_argument("--dtype", default="float32", help="float32 (default), bfloat16 or float16")
    p.add_argument("--mixed-precision", choices=["bf16", "fp16"], help="autocast over float32 weights")
    p.add_argument("--gradient-checkpointing", action="store_true")
    p.add_argument("--trust-remote-code", action="store_true", help="models whose config ships code")

    p = sub.add_parser("metrics", help="list every metric: what it needs, where it applies, which way is better")

    p = _config_parser(sub, "config", "every config key with its type, default, range and help; with --show, the "
                                      "resolved config of a command line (YAML), without running anything", "all")
    p.add_argument("--show", action="store_true", help="print the config that --config and the overrides resolve to")
    _config_args(p)

    p = sub.add_parser("methods", help="list method presets, terms and transforms; with NAME, one preset in full")
    p.add_argument("name", nargs="?", help="a preset, e.g. NPO_KLR or NPO+GRU: its terms, streams, weights, "
                                           "parameters with defaults and help, needs and paper")
    p.add_argument("--markdown", action="store_true", help="the presets as docs/methods.md's Markdown table")
    return parser


def _version() -> str:
    from unlearn.core import __version__

    return __version__


def parse(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    if argv and argv[0].split("=")[0] == "--config":
        raise ConfigError("--config goes after the command, e.g. unlearn unlearn --config run.yaml train.lr=1e-4")
    first = next((a for a in argv if not a.startswith("-")), None)
    if first is not None and first not in commands and "=" in first:
        raise ConfigError(f"{first!r} comes before the command; write the command first and every key=value "
                          "override after it (and after --config), e.g. unlearn unlearn --config run.yaml "
                          f"{first}")
    argv, threads = _take_threads(argv)
    args, extra = parser.parse_known_args(argv)
    args.threads = threads
    # key=value overrides may follow options (`unlearn eval MODEL --suite tofu eval.batch_size=8`)
    field = "overrides" if hasattr(args, "overrides") else "items" if hasattr(args, "items") else None
    overrides = [e for e in extra if "=" in e and not e.startswith("-")]
    unknown = [e for e in extra if e not in overrides]
    if unknown:
        prog = f"unlearn {args.command}" if args.command else "unlearn"
        raise ConfigError(f"{prog}: unrecognized argument {unknown[0]!r}; see `{prog} --help` for its options")
    if overrides and not field:
        raise ConfigError(f"unlearn {args.command} takes no key=value overrides (got {overrides[0]!r}); see "
                          f"`unlearn {args.command} --help`")
    if overrides:
        setattr(args, field, [*getattr(args, field), *overrides])
    return args


def _take_threads(argv: list[str]) -> tuple[list[str], str | None]:
    """--threads N (or --threads=N) from anywhere on the line: a global option, before or after the command."""
    rest, threads = [], None
    items = iter(argv)
    for item in items:
        if item == "--threads":
            threads = next(items, None)
            if threads is None:
                raise ConfigError("--threads needs a value: a number of threads or auto")
        elif item.startswith("--threads="):
            threads = item.split("=", 1)[1]
        else:
            rest.append(item)
    return rest, threads
