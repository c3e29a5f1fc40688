"""Typed configuration: dataclasses, YAML files and `key.sub=value` overrides.

A run is described by one :class:`RunConfig`. `load_config(yaml_path, overrides)` reads a YAML file
(optional), applies overrides such as `train.lr=1e-4` or `method.name=NPO_GDR`, and checks every key:
an unknown key is a :class:`ConfigError` that lists the valid keys at that level.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from unlearn.core.errors import ConfigError, UnlearnError
from unlearn.core.ranges import check_ranges, param

TRACKERS = ("tensorboard", "wandb", "mlflow", "comet_ml", "aim", "clearml", "dvclive", "swanlab", "trackio")
"""Accelerate's experiment trackers (train.report_to)."""
CANONICAL_FIELDS = ("question", "answer", "paraphrased_answer", "perturbed_answer", "paraphrased_question", "text",
                    "choices", "label")
"""The fields of a record that data.columns may map a column to."""

ATTENTION = ("sdpa", "eager", "flex_attention", "flash_attention_2", "flash_attention_3")
"""transformers' attention implementations (model.attn_implementation)."""


@dataclass
class ModelConfig:
    path: str = ""
    """Folder or hub name of a Hugging Face causal LM."""
    tokenizer: str | None = None
    """Tokenizer folder or hub name; defaults to `path`."""
    gguf_file: str | None = None
    """GGUF file inside `path` to load (transformers' `gguf_file=`)."""
    dtype: str = param("float32", choices=("float32", "bfloat16", "float16"))
    """float32, bfloat16 or float16."""
    trust_remote_code: bool = False
    """Run code shipped with the model. Off unless you trust the model's source."""
    attn_implementation: str | None = param(None, choices=ATTENTION)
    """transformers' attention: sdpa, eager, flex_attention, or flash_attention_2/3 (CUDA and the flash-attn
    package); null = transformers' choice (sdpa where the model supports it)."""
    load_in_4bit: bool | None = None
    """Load the base weights 4-bit quantised (bitsandbytes NF4, bfloat16 compute) for LoRA training: CUDA only,
    needs lora.r > 0 and lora.save=adapter (a quantised base cannot take the merged weights)."""
    load_in_8bit: bool | None = None
    """The same, 8-bit (bitsandbytes LLM.int8)."""


@dataclass
class DataConfig:
    benchmark: str = "synthetic"
    """synthetic (a folder made by `unlearn world`), tofu (a local folder or `locuslab/TOFU`), muse,
    knowundo, wmdp, harm (harmful prompts to unlearn, ordinary ones to keep), completion (a text cut into
    prefix/continuation pairs by `unlearn completions`), or custom (your own forget.* and retain.* files
    with question and answer fields)."""
    path: str = ""
    """Folder of the benchmark's files."""
    forget_split: str = "forget10"
    """The split to forget, with an optional slice: forget10, forget05[:50%], forget (custom)."""
    retain_split: str | None = None
    """Retain split; default: the one paired with forget_split (forget10 -> retain90)."""
    train_splits: list[str] = field(default_factory=list)
    """Splits to fine-tune on (`unlearn finetune`); empty = the benchmark's default (all trainable data)."""
    template: str = "Question: {question}\nAnswer: "
    """Prompt template for base models; `{question}` is replaced."""
    chat_template: bool | None = None
    """Use the tokenizer's chat template: None = when the tokenizer has one."""
    max_length: int = param(512, at_least=2, why="a sample needs a prompt token and a target token")
    """Prompt + answer tokens longer than this (or than the model's context) are cut from the answer's end
    (a prompt alone that long keeps its end and one answer token); a warning counts the samples cut."""
    text_chunks: bool = True
    """Plain-text training corpora (MUSE's raw/ files, text records of your own): the documents joined by a
    blank line, tokenised as one stream and cut into blocks of data.max_length tokens, each opened by the
    tokenizer's bos and the last filled from the start, as MUSE's training does; false: one sample per
    document, cut at data.max_length."""
    overlap: str = param("warn", choices=("warn", "error", "ignore"))
    """Forget questions also in the retain split, and questions repeated within a training stream: warn
    (a warning with the count), error (stop before any model loads) or ignore."""
    refusals: str | None = None
    """File of refusal answers (one a line) for IDK; default: the built-in list."""
    alternatives: str | None = None
    """File of a generated refusal per forget question (`unlearn augment --kind alternatives`) for
    IdkDPO, IDK and the other refusal methods; default: refusals drawn from data.refusals."""
    redraw: bool = False
    """Draw each forget question's refusal (IDK, DPO, FLAT) and random answer (Mismatch, LLMU) anew every
    epoch, as the reference framework draws a refusal at every access; default: drawn once for the run."""
    mismatch_answers: int | None = param(None, at_least=1)
    """Random answers K to each forget question in every step of the mismatch term (Mismatch, LLMU): the
    authors of LLMU average K = 5; default (unset) 1: one, drawn once, or every epoch with data.redraw."""
    targets: str | None = None
    """TRU's reasoning refusals (question, answer; `unlearn augment --kind reasoning`); default: made from
    the forget split with the offline generator (cached)."""
    augmented: str | None = None
    """ReLearn's augmented forget set (`unlearn augment --out FILE`); default: made from the forget split
    with the offline generator (cached)."""
    columns: dict[str, str] = field(default_factory=dict)
    """Your files' column names for the canonical fields, e.g. {question: prompt, answer: response};
    canonical fields: question, answer, paraphrased_answer, perturbed_answer, text, choices, label."""


@dataclass
class TrainConfig:
    lr: float = param(1e-5, above=0, why="at 0 nothing is learnt, below 0 it trains backwards")
    """AdamW's learning rate (peak, after warm-up)."""
    epochs: float = param(5.0, above=0)
    """Passes over the forget (or training) stream; may be fractional."""
    max_steps: int | None = param(None, at_least=1)
    """Stop after this many optimizer steps (overrides `epochs`)."""
    batch_size: int = param(8, at_least=1)
    """Per-device batch size of the forget (or training) stream."""
    retain_batch_size: int | None = param(None, at_least=1)
    """Batch size of the retain stream; default `batch_size`."""
    grad_accum: int = param(1, at_least=1)
    """Micro-batches accumulated per optimizer step."""
    weight_decay: float = param(0.01, at_least=0)
    """AdamW's decoupled weight decay."""
    warmup_steps: int | None = param(None, at_least=0)
    """Linear warm-up steps; default `warmup_ratio` of the steps."""
    warmup_ratio: float = param(0.0, at_least=0, below=1)
    """Share of the steps spent warming up (when warmup_steps is unset)."""
    scheduler: str = "linear"
    """Any name transformers' `get_scheduler` knows: linear, cosine, constant, constant_with_warmup, ..."""
    max_grad_norm: float | None = param(1.0, above=0, why="null turns clipping off")
    """Clip the gradient's global norm to this; null = no clipping."""
    seed: int = param(0, at_least=0)
    """Seeds data order, dropout and every drawn target."""
    save_every: int = param(0, at_least=0)
    """Save a checkpoint every N optimizer steps (0 = only at the end)."""
    keep_checkpoints: int = param(1, at_least=1)
    """Newest checkpoints kept while training."""
    log_every: int = param(1, at_least=1)
    """Write a log.jsonl line every N optimizer steps."""
    progress_every: float = param(30.0, at_least=0)
    """Seconds between progress lines when the output is not a terminal (a bar is drawn on one)."""
    shard: str | None = param(None, choices=("fsdp2",))
    """fsdp2: shard the model, its gradients and optimizer state over the processes of a torchrun launch
    (PyTorch's FSDP2, one unit per decoder layer; unlearn.engine.sharding). null = each process holds the
    whole model (DDP under several processes)."""
    gradient_checkpointing: bool | None = None
    """Recompute each decoder layer's activations in the backward pass instead of keeping them: less memory
    (benchmarks/checkpointing.py), about a third more compute; the same loss and gradient."""
    mixed_precision: str | None = param(None, choices=("bf16", "fp16"))
    """Compute in bf16 (or fp16, CUDA only) under autocast while the weights and the optimizer stay float32
    (model.dtype=float32): unlike model.dtype=bfloat16, which trains bfloat16 weights with no float32 copy."""
    report_to: list[str] = param(default_factory=list, choices=TRACKERS)
    """Experiment trackers, through Accelerate: tensorboard (written to the run folder's trackers/), wandb,
    mlflow, ...; each gets the losses, every term, the gradient norm, the learning rate, the evaluation
    during training and the run's time. Empty = none."""


@dataclass
class MethodConfig:
    name: str = "NPO_GDR"
    """A preset name (`unlearn methods` lists them), optionally with transforms (`NPO+GRU`), or
    `custom` with `forget` / `retain` set."""
    forget: str | None = None
    """custom only: the forget term."""
    retain: str | None = None
    """custom only: the retain term."""
    gamma: float | None = None
    """Multiplies the weights of the forget terms (default 1); at least 0 unless allow_negative_weights."""
    alpha: float | None = None
    """Multiplies the weights of the retain terms (default 1); at least 0 unless allow_negative_weights."""
    allow_negative_weights: bool = False
    """Accept a negative gamma, alpha or method.weights value (a negative forget weight trains towards
    the forget set)."""
    weights: dict[str, Any] = field(default_factory=dict)
    """One term's weight by its key, e.g. `method.weights.ga=0.5` (replaces the preset's); at least 0 unless
    allow_negative_weights."""
    params: dict[str, Any] = field(default_factory=dict)
    """Parameters per term or transform key, e.g. `method.params.npo.beta=0.2`, `method.params.gru.gamma=0.9`."""
    transforms: list[str] = field(default_factory=list)
    """Gradient transforms added to the preset, e.g. [gru] (same as the name suffix +GRU)."""
    reference: str = param("auto", choices=("auto", "copy", "cached", "adapter"))
    """Reference model: auto, copy (a frozen copy), cached (log-probs computed once) or adapter (LoRA
    with the adapter disabled; the default under LoRA)."""


@dataclass
class LoraConfig:
    r: int = param(0, at_least=0)
    """LoRA rank; 0 = train the full weights. ReLearn's setting: r 32, alpha 32, dropout 0.05."""
    alpha: float = param(32.0, above=0)
    """LoRA scaling numerator (lora_alpha)."""
    dropout: float = param(0.05, at_least=0, below=1)
    """Dropout on the adapter's input during training (off in the adapter-disabled reference)."""
    target_modules: list[str] = field(default_factory=lambda: ["all-linear"])
    """Modules that get adapters; `all-linear` = every linear layer but the output head."""
    save: str = param("merged", choices=("merged", "adapter"))
    """merged (a plain model that from_pretrained loads) or adapter (the adapter only, for peft)."""


@dataclass
class EvalConfig:
    enabled: bool = True
    """Evaluate the model at the end of `unlearn finetune` / `unlearn unlearn`."""
    suites: list[str] = field(default_factory=lambda: ["auto"])
    """Metric suites: tofu, muse, privacy, relearn, general, harm, copyright, robustness (`unlearn eval
    --suite tofu,privacy`); auto = the benchmark's own (tofu for synthetic, tofu and custom data; tofu and
    relearn for knowundo; muse for muse; general for wmdp; harm for harm; copyright for completion)."""
    metrics: list[str] = field(default_factory=list)
    """Extra metrics by name, e.g. mia_gradnorm, extraction_strength_generated (`unlearn metrics` lists them)."""
    batch_size: int = param(32, at_least=1)
    """Samples per evaluation batch (at most)."""
    batch_tokens: int | None = param(None, at_least=1)
    """Tokens per teacher-forced batch (rows x the longest row, at most): short samples then go in larger
    batches, long ones in smaller; null = eval.batch_size rows whatever their length."""
    max_new_tokens: int = param(200, at_least=1)
    """Length limit of each generated answer (TOFU: 200)."""
    verbmem_tokens: int = param(128, at_least=1)
    """VerbMem: tokens generated after each text prefix, and tokens of the true continuation it is scored
    against (MUSE: 128 and 128)."""
    knowmem_tokens: int = param(32, at_least=1)
    """KnowMem: tokens generated for each answer (MUSE: 32)."""
    end_token: str = param("scored", choices=("scored", "dropped"))
    """The answer's end token in exact memorisation, extraction strength and the Min-K% / Min-K%++
    attacks: scored (this tool, SPEC 2) or dropped (open-unlearning's per-token helpers drop the last
    target token)."""
    splits: list[str] = field(default_factory=list)
    """Evaluation sets, with optional slices (forget[:50%], retain[100:200]); empty = the benchmark's default."""
    cache: bool = True
    """Cache per-sample pass outputs, keyed by the model's weights, the pass settings and the sample."""
    cache_dir: str | None = None
    """Where the cache lives; default $UNLEARN_CACHE/eval (~/.cache/unlearn/eval)."""
    retain_model: str | None = None
    """The model trained without the forget set (forget quality, PrivLeak): evaluated on the same samples."""
    retain_reference: str | None = None
    """Instead of retain_model: the folder of its earlier evaluation (metrics.json and samples.jsonl)."""
    reference_model: str | None = None
    """Reference model of the reference membership attack (privacy suite)."""
    scorer_model: str | None = None
    """Fixed model that scores the perplexity of generations (relearn suite); not the judged model.
    PATH, or PATH#FILE.gguf for a GGUF file inside PATH."""
    embedder: str | None = None
    """Sentence-embedding model for KFR/KRR entity matching; default the packaged all-MiniLM-L6-v2 if installed."""
    nli_model: str | None = None
    """NLI model (path or hub name) for KFR/KRR; without one KFR/KRR say they were computed without NLI."""
    entity_model: str | None = None
    """A model that lists the entities of KFR/KRR answers with ReLearn's prompt (a generator spec like
    judge_model); default: the offline rule-based extractor."""
    harness_tasks: list[str] = field(default_factory=list)
    """lm-evaluation-harness tasks (e.g. mmlu, gsm8k; needs unlearnkit[harness] and the task data locally)."""
    harness_include: str | None = None
    """Folder of your own lm-evaluation-harness task YAMLs (e.g. reading local JSON files)."""
    harness_limit: int | None = param(None, at_least=1)
    """At most this many examples per harness task."""
    original_model: str | None = None
    """The model before unlearning (PATH or PATH#FILE.gguf; `unlearn unlearn` sets it to model.path): every
    evaluation reports each set's score kept against it (collateral damage), and the robustness suite how
    much of its knowledge returns."""
    judge_model: str | None = None
    """A model that rates fluency and relevance 1-5 (metrics fluency, relevance): a generator spec,
    hf:PATH, hf:PATH#FILE.gguf or http://HOST:PORT/v1#MODEL, or a plain model folder."""
    every_steps: int | None = param(None, at_least=1)
    """During training: evaluate every N optimizer steps and write curve.jsonl in the run folder."""
    during_metrics: list[str] = field(default_factory=list)
    """During training: metrics to compute (default: the tofu suite's forget/retain numbers)."""
    keep_best: str | None = None
    """During training: keep the checkpoint of the first evaluation meeting a rule, e.g.
    'forget_rougeL_recall<=0.2' or 'forget_knowmem<=retain' (the retain model's value), in best/."""


@dataclass
class RunConfig:
    out: str = "runs/run"
    """Folder of the run: config, log, checkpoints, model, metrics."""
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    method: MethodConfig = field(default_factory=MethodConfig)
    lora: LoraConfig = field(default_factory=LoraConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)


# ----------------------------------------------------------------------------------------------
# Building configs from dictionaries


def _field_types(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _coerce(value: Any, annotation: Any, where: str) -> Any:
    """Check (and gently convert) a value against a type annotation."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(annotation)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _coerce(value, option, where)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(errors[0] if errors else f"{where}: bad value {value!r}")
    if dataclasses.is_dataclass(annotation):
        if isinstance(annotation, type) and isinstance(value, annotation):
            return value
        if not isinstance(value, dict):
            raise ConfigError(f"{where} must be a mapping of its keys, got {value!r}")
        return from_dict(annotation, value, where)
    if origin is list:
        (item_type,) = typing.get_args(annotation)
        if isinstance(value, str):
            value = [v for v in value.split(",") if v]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where} must be a list, got {value!r}")
        return [_coerce(v, item_type, where) for v in value]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where} must be a mapping, got {value!r}")
        return dict(value)
    if annotation is Any:
        return value
    if annotation is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where} must be true or false, got {value!r}")
    if annotation is float:
        number = None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            number = float(value)
        elif isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                pass
        if number is None:
            raise ConfigError(f"{where} must be a number, got {value!r}")
        if not math.isfinite(number):
            raise ConfigError(f"{where} must be a finite number, got {value!r}")
        return number
    if annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ConfigError(f"{where} must be an integer, got {value!r}")
    if annotation is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
        raise ConfigError(f"{where} must be a string, got {value!r}")
    return value


def from_dict(cls: type, data: dict[str, Any], where: str = "config") -> Any:
    """Build dataclass `cls` from a dictionary, rejecting unknown keys."""
    types_ = _field_types(cls)
    unknown = sorted(set(data) - set(types_))
    if unknown:
        prefix = "" if where == "config" else where + "."
        raise ConfigError(
            f"unknown config key '{prefix}{unknown[0]}'; valid keys here: {', '.join(types_)}"
        )
    kwargs = {}
    for name, value in data.items():
        sub = name if where == "config" else f"{where}.{name}"
        kwargs[name] = _coerce(value, types_[name], sub)
    built = cls(**kwargs)
    check_ranges(built, "" if where == "config" else where)
    return built


def to_dict(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config)


def set_values(config: Any) -> dict[str, Any]:
    """A config (or its dict) without its unset (None) options, at every level: what to compare when asking
    whether a result was made with the same settings, so that an option a newer version adds (unset by
    default) does not make every earlier result look stale."""
    data = to_dict(config) if dataclasses.is_dataclass(config) else config
    return {k: set_values(v) if isinstance(v, dict) else v for k, v in data.items() if v is not None}


def _shell_escapes(text: str) -> str:
    """\\n and \\t typed in a shell (e.g. a template "Question: {question}\\nAnswer: ") mean a
    newline and a tab."""
    return text.replace("\\n", "\n").replace("\\t", "\t")


def parse_override(text: str) -> tuple[list[str], Any]:
    """`train.lr=1e-4` -> (["train", "lr"], 0.0001). Values are read as YAML scalars; text that YAML
    reads as a mapping or fails on (a template such as "Question: {question}") is kept as typed."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} must look like key.sub=value (e.g. train.lr=1e-4)")
    key, raw = text.split("=", 1)
    keys = [k for k in key.strip().split(".") if k]
    if not keys:
        raise ConfigError(f"override {text!r} has an empty key")
    quoted = raw.strip().startswith(("'", '"'))
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    if isinstance(value, (dict, list)) and not raw.strip().startswith(("{", "[")):
        value = raw
    if isinstance(value, dict) and value and all(v is None for v in value.values()):
        value = raw  # "{question}" reads as the YAML mapping {question: null}: it is a template
    if isinstance(value, str) and not quoted:
        value = _shell_escapes(raw)  # as typed: YAML would strip a template's trailing space
    # YAML reads 1e-4 as a string; numbers written like that are meant as numbers.
    if isinstance(value, str):
        try:
            value = float(value) if any(c in value.lower() for c in ".e") else value
        except ValueError:
            pass
    return keys, value


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    for text in overrides:
        keys, value = parse_override(text)
        node = data
        for k in keys[:-1]:
            node = node.setdefault(k, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {text!r}: {k!r} is not a section")
        node[keys[-1]] = value
    return data


def load_config(
    path: str | Path | None = None,
    overrides: list[str] | None = None,
    base: dict[str, Any] | None = None,
) -> RunConfig:
    """Build a RunConfig from `base` (a dict), then a YAML file, then overrides, in that order."""
    data: dict[str, Any] = deep_merge({}, base or {})
    if path is not None:
        data = deep_merge(data, read_yaml_mapping(path, "config file", "", "a mapping of sections, e.g. "
                                                  "'train: {lr: 1e-4}' (see `unlearn config`)"))
    data = apply_overrides(data, overrides or [])
    return validate(from_dict(RunConfig, data))


def read_yaml_mapping(path: str | Path, what: str, missing_hint: str, mapping_hint: str) -> dict[str, Any]:
    """A YAML file that must hold a mapping (a config file, a sweep grid); every problem one ConfigError
    that names `what` and the file: missing (then `missing_hint`), unreadable, not YAML, or not a mapping
    (`mapping_hint` says what it must hold)."""
    from unlearn.core.files import read_utf8

    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{what} {str(p)!r} does not exist{missing_hint}")
    try:
        loaded = yaml.safe_load(read_utf8(p)) or {}
    except UnlearnError as err:
        raise ConfigError(f"{what} {err}") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{what} {str(p)!r} is not valid YAML ({yaml_problem(err)}); fix the file") from None
    if not isinstance(loaded, dict):
        raise ConfigError(f"{what} {str(p)!r} must hold {mapping_hint}")
    return loaded


def validate(cfg: RunConfig) -> RunConfig:
    """Check what types alone cannot: every declared range, the prompt template's placeholders, the
    column names and the output folder. Raises a one-line ConfigError; returns `cfg`."""
    check_ranges(cfg)
    check_template(cfg.data.template)
    for key, column in cfg.data.columns.items():
        if key not in CANONICAL_FIELDS:
            raise ConfigError(f"data.columns.{key}: {key!r} is not a field; map your column to one of "
                              f"{', '.join(CANONICAL_FIELDS)}, e.g. data.columns.question=YOUR_COLUMN")
        if not isinstance(column, str) or not column:
            raise ConfigError(f"data.columns.{key} must name a column of your files, got {column!r}")
    if not str(cfg.out).strip():
        raise ConfigError("out is empty; set out=FOLDER, the run's folder")
    return cfg


def check_template(template: str, key: str = "data.template") -> None:
    """A prompt template (`key` names it in messages) must contain {question} and no other placeholder
    (literal braces are written {{ and }})."""
    import string

    try:
        names = [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
    except ValueError as err:
        raise ConfigError(f"{key} {template!r} is not a valid template ({err}); write literal braces "
                          "as {{ and }}") from None
    other = [n for n in names if n != "question"]
    if other:
        raise ConfigError(f"{key} {template!r} uses {{{other[0]}}}; only {{question}} is filled in (the "
                          "answer follows the prompt); write literal braces as {{ and }}")
    if "question" not in names:
        raise ConfigError(f"{key} {template!r} must contain {{question}}, where the question goes")


def yaml_problem(err: Exception) -> str:
    """'expected the node content at line 2, column 1' from a YAML error (its str spans several lines)."""
    problem = getattr(err, "problem", None) or (str(err).splitlines() or ["unknown problem"])[0]
    mark = getattr(err, "problem_mark", None)
    return f"{problem} at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else problem


def deep_merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    out = dict(a)
    for k, v in b.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = v
    return out


@functools.lru_cache(maxsize=None)
def field_help(cls: type) -> dict[str, str]:
    """The help text of each dataclass field: the string literal written under it in the source (read
    once per class)."""
    import ast
    import inspect
    import textwrap

    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    except (OSError, TypeError):
        return {}
    body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
    out: dict[str, str] = {}
    for node, after in zip(body, body[1:]):
        if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and isinstance(after, ast.Expr)
                and isinstance(after.value, ast.Constant) and isinstance(after.value.value, str)):
            out[node.target.id] = " ".join(after.value.value.split())
    return out
