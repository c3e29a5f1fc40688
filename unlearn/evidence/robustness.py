"""Robustness probes (SPEC 7; seeds 000 and 001): does forgotten knowledge come back?

Each probe changes the unlearned model or the forget prompts, and measures a forget metric (default
ROUGE-L recall of the greedy answers; higher = more knowledge) on the probed model. `returned` =
(probed - unlearned) / (original - unlearned), with the original and the unlearned model measured on
the plain forget set (on the measured half for relearn): 0 means nothing came back, 1 means the probe
undid the unlearning. The share reads the metric in its own direction (`Metric.knowledge_sign`): for
the forget truth ratio or KFR, where a higher value means less knowledge, original 0.05, unlearned 0.95
and probed 0.50 return 0.5. It is None when the unlearning had removed nothing to return; a metric that
does not measure knowledge (fluency, membership scores) is refused.

- bfloat16, float16: the weights cast to another precision;
- int8: dynamic 8-bit quantisation of every linear layer (torch.ao, CPU);
- jailbreak: role-play and instruction-override wrappers around each forget question
  (jailbreaks.yaml, editable); the value is the highest over the wrappers;
- paraphrase: each forget question reworded by template ("Could you tell me ...?") and made informal
  with a typo (the offline generator's variants); the higher of the two;
- relearn: k fine-tuning steps on the first half of the forget set, measured on the second half
  ("a few fine-tuning steps on part of the forget set, then measuring the rest"). With a control model
  (the retain model, which never saw the forget set) attacked alike, the control's gain is what the
  attack teaches by itself (e.g. the answers' format), to be set against the unlearned model's.
"""

from __future__ import annotations

import copy
import math
import warnings
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from unlearn.config import RunConfig
from unlearn.core.errors import ConfigError
from unlearn.core.formatting import fmt, markdown_table
from unlearn.evidence.runs import run_config

PROBES = ("bfloat16", "float16", "int8", "jailbreak", "paraphrase", "relearn")


@dataclass
class ProbeResult:
    probe: str
    original: float
    unlearned: float
    probed: float
    returned: float | None
    detail: dict[str, float]
    answers: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """What the probed model gave on each probed set: question, true answer, generation (for metrics that
    generate) and the metric's value per question."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def returned_share(original: float, unlearned: float, probed: float, sign: int = 1) -> float | None:
    """(probed - unlearned) / (original - unlearned); None when nothing was removed. `sign` +1: higher
    values mean more knowledge (ROUGE-L); -1: fewer (truth ratio on forget, KFR)."""
    gap = original - unlearned
    return None if sign * gap <= 1e-12 else (probed - unlearned) / gap


def load_jailbreaks(path: str | None = None) -> dict[str, str]:
    import yaml

    file = Path(path) if path else Path(__file__).with_name("jailbreaks.yaml")
    try:
        templates = yaml.safe_load(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        raise ConfigError(f"jailbreak file {file} cannot be read ({err.__class__.__name__}); give a YAML "
                          "mapping of name to template with {question}") from None
    if not isinstance(templates, dict) or not all(isinstance(t, str) for t in templates.values()):
        raise ConfigError(f"jailbreak file {file}: expected a mapping of name to template text containing {{question}}")
    from unlearn.config import check_template

    for name, template in templates.items():
        check_template(template, f"jailbreak {name!r} in {file}")
    return templates


def with_questions(data: Any, questions: list[str], name: str) -> Any:
    """A copy of an evaluation set with each question replaced (answers kept; no alternatives)."""
    records = [{**r, "question": q} for r, q in zip(data.records, questions)]
    return replace(data, name=name, records=records, alternatives=False)


def halves(data: Any) -> tuple[Any, Any]:
    cut = len(data.records) // 2
    if cut == 0:
        raise ConfigError("the relearning probe needs at least 2 forget questions (one half to train on, one to measure)")
    return replace(data, records=data.records[:cut]), replace(data, records=data.records[cut:])


def quantized_int8(model: torch.nn.Module) -> torch.nn.Module:
    """Dynamic int8 quantisation of the linear layers (weights int8, activations quantised on the fly)."""
    from torch.ao.quantization import quantize_dynamic

    with warnings.catch_warnings():  # torch.ao's quantisation API is deprecated in favour of torchao
        warnings.simplefilter("ignore")
        return quantize_dynamic(copy.deepcopy(model).float().cpu(), {torch.nn.Linear}, dtype=torch.qint8)


def relearned(model: torch.nn.Module, tokenizer: Any, formatter: Any, data: Any, steps: int, lr: float,
              max_length: int, seed: int, micro_batch: int = 8) -> torch.nn.Module:
    """A copy of `model` fine-tuned for `steps` AdamW steps on the NLL of `data`'s answers: the relearning
    attack. Each step sees the whole training half, in micro-batches of `micro_batch` (gradients summed,
    weighted by their share of the target tokens)."""
    from unlearn.core.batching import IGNORE_INDEX, collate

    torch.manual_seed(seed)
    attacked = copy.deepcopy(model).float().train().requires_grad_(True)
    device = next(attacked.parameters()).device
    encoded = [formatter.encode(r["question"], r["answer"], max_length) for r in data.records]
    batches = [{k: v.to(device) for k, v in collate(encoded[i:i + micro_batch], tokenizer.pad_token_id).items()}
               for i in range(0, len(encoded), micro_batch)]
    tokens = [int((b["labels"][:, 1:] != IGNORE_INDEX).sum()) for b in batches]
    optimizer = torch.optim.AdamW(attacked.parameters(), lr=lr, weight_decay=0.0)
    for _ in range(steps):
        for batch, n in zip(batches, tokens):
            (attacked(**batch).loss * n / sum(tokens)).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return attacked.eval()


class Prober:
    """The original and the unlearned model, and a forget metric measured on either (or a changed copy)."""

    def __init__(self, cfg: RunConfig, original_path: str, unlearned_path: str, metric: str = "rougeL_recall",
                 control_path: str | None = None):
        from unlearn.data.benchmarks import benchmark_from_config
        from unlearn.data.tokenize import PromptFormatter
        from unlearn.eval.metrics import METRICS
        from unlearn.models import load_model, load_tokenizer

        sign = METRICS.get(metric).knowledge_sign()  # an unknown metric: a one-line error listing the valid ones
        if sign is None:
            knowing = ", ".join(n for n, m in METRICS.items() if m.knowledge_sign() and m.applies("qa", "forget", True))
            raise ConfigError(f"metric {metric!r} does not measure knowledge of the forget set, so no return can be "
                              f"read from it; use one that does: {knowing}")
        self.cfg, self.metric, self.sign = cfg, metric, sign
        self.bench = benchmark_from_config(cfg.data)
        forget_name = next(s.name for s in self.bench.eval_specs() if s.role == "forget")
        self.forget = self.bench.eval_data([forget_name])[0]
        from unlearn.core.device import device
        from unlearn.models.loading import saved_model_config

        unlearned_cfg = saved_model_config(cfg, unlearned_path)
        self.tokenizer = load_tokenizer(unlearned_cfg)
        self.formatter = PromptFormatter(self.tokenizer, cfg.data.template, cfg.data.chat_template)
        self.unlearned = load_model(unlearned_cfg).eval().to(device())
        self.original = load_model(replace(cfg.model, path=original_path)).eval().to(device())
        self.control = load_model(saved_model_config(cfg, control_path)).eval().to(device()) if control_path else None

    def measure(self, model: torch.nn.Module, data: Any = None, phase: str = "baseline",
                keep: dict[str, list[dict[str, Any]]] | None = None) -> float:
        """The forget metric of `model` on `data` (default the forget set); `phase` names the probe in the
        progress lines; `keep` collects the answers, by set."""
        from unlearn.eval.evaluator import evaluate_model
        from unlearn.eval.registry import result_key

        data = data or self.forget
        cfg = replace(self.cfg, eval=replace(self.cfg.eval, suites=[], metrics=[self.metric], splits=[data.name]))
        label = f"probe {phase} on {data.name}"
        metrics, samples = evaluate_model(model, self.tokenizer, cfg, self.bench, datasets=[data], label=label)
        value = metrics["metrics"].get(result_key(data.name, self.metric))
        if keep is not None:
            fields = ("question", "answer", "generation", self.metric)
            keep[data.name] = [{k: s[k] for k in fields if k in s} for s in samples]
        if value is None:
            raise ConfigError(f"metric {self.metric!r} gives no value on the forget set; use rougeL_recall or prob")
        return float(value)

    def run(self, name: str, baseline: tuple[float, float], relearn_steps: int, relearn_lr: float,
            jailbreaks: str | None) -> ProbeResult:
        original, unlearned = baseline
        detail: dict[str, float] = {}
        answers: dict[str, list[dict[str, Any]]] = {}  # what the probed model said
        if name in ("bfloat16", "float16"):
            probed = self.measure(copy.deepcopy(self.unlearned).to(getattr(torch, name)), phase=name, keep=answers)
        elif name == "int8":
            probed = self.measure(quantized_int8(self.unlearned), phase=name, keep=answers)
        elif name == "jailbreak":
            for key, template in load_jailbreaks(jailbreaks).items():
                wrapped = [template.format(question=r["question"]) for r in self.forget.records]
                jailbroken = with_questions(self.forget, wrapped, f"forget_{key}")
                detail[key] = self.measure(self.unlearned, jailbroken, phase=name, keep=answers)
            probed = self.most_knowing(detail.values())
        elif name == "paraphrase":
            from unlearn.generate.base import Request
            from unlearn.generate.offline import OfflineGenerator

            generator = OfflineGenerator()
            for task in ("rephrase", "informal"):
                asked = generator.generate([Request(task, {"question": r["question"], "answer": r["answer"]})
                                            for r in self.forget.records])
                reworded = with_questions(self.forget, asked, f"forget_{task}")
                detail[task] = self.measure(self.unlearned, reworded, phase=name, keep=answers)
            probed = self.most_knowing(detail.values())
        elif name == "relearn":
            train, held_out = halves(self.forget)
            original = self.measure(self.original, held_out, phase=name)
            unlearned = self.measure(self.unlearned, held_out, phase=name)
            attacked = relearned(self.unlearned, self.tokenizer, self.formatter, train, relearn_steps, relearn_lr,
                                 self.cfg.data.max_length, self.cfg.train.seed, self.cfg.train.batch_size)
            probed = self.measure(attacked, held_out, phase=name, keep=answers)
            detail = {"steps": relearn_steps, "lr": relearn_lr, "trained_on": len(train.records),
                      "measured_on": len(held_out.records)}
            if self.control is not None:  # a model that never knew the facts, attacked alike: what the
                # attack teaches by itself (the answers' format), not knowledge that returns
                detail["control_before"] = self.measure(self.control, held_out, phase=name)
                detail["control_after"] = self.measure(relearned(self.control, self.tokenizer, self.formatter, train,
                                                                 relearn_steps, relearn_lr, self.cfg.data.max_length,
                                                                 self.cfg.train.seed, self.cfg.train.batch_size),
                                                       held_out, phase=name)
        else:
            raise ConfigError(f"unknown robustness probe {name!r}; valid: {', '.join(PROBES)}")
        return ProbeResult(name, original, unlearned, probed, returned_share(original, unlearned, probed, self.sign),
                           detail, answers)

    def most_knowing(self, values: Any) -> float:
        """The value showing the most knowledge (the worst case over wrappers or rewordings)."""
        return max(values, key=lambda v: self.sign * v)


def probe(cfg: RunConfig, original_path: str, unlearned_path: str, probes: tuple[str, ...] = PROBES,
          metric: str = "rougeL_recall", relearn_steps: int = 10, relearn_lr: float = 1e-3,
          jailbreaks: str | None = None, control_path: str | None = None) -> list[ProbeResult]:
    """Every probe in `probes` on the unlearned model, against the original (module docstring).
    `control_path`: a model that never saw the forget set (the retain model), attacked alike by the
    relearning probe, so its gain shows what the attack teaches without any forgotten knowledge."""
    unknown = [p for p in probes if p not in PROBES]
    if unknown:
        raise ConfigError(f"unknown robustness probe {unknown[0]!r}; valid: {', '.join(PROBES)}")
    if "jailbreak" in probes:
        load_jailbreaks(jailbreaks)  # a bad file fails before any model loads
    prober = Prober(cfg, original_path, unlearned_path, metric, control_path)
    baseline = (prober.measure(prober.original), prober.measure(prober.unlearned))
    return [prober.run(name, baseline, relearn_steps, relearn_lr, jailbreaks) for name in probes]


# -- `unlearn probe RUN` ------------------------------------------------------------------------------

def probe_run(run: str | Path, original: str | None = None, probes: list[str] | None = None,
              metric: str = "rougeL_recall", relearn_steps: int = 10, relearn_lr: float | None = None,
              jailbreaks: str | None = None, control: str | None = None,
              overrides: list[str] | None = None) -> dict[str, Any]:
    """`unlearn probe RUN`: the robustness probes on one run; writes RUN/robustness.json."""
    from unlearn.core.atomic import write_json

    if relearn_steps < 1:
        raise ConfigError(f"--relearn-steps {relearn_steps} must be at least 1 (with none the attack would teach "
                          "nothing and the model would look robust)")
    if relearn_lr is not None and not (math.isfinite(relearn_lr) and relearn_lr > 0):
        raise ConfigError(f"--relearn-lr {relearn_lr} must be a number above 0")
    run = Path(run)
    cfg = run_config(run, overrides or [])
    original = original or cfg.model.path
    lr = relearn_lr if relearn_lr is not None else cfg.train.lr
    results = probe(cfg, original, str(run / "model"), tuple(probes or PROBES), metric, relearn_steps, lr,
                    jailbreaks, control)
    out = {"run": str(run), "original_model": str(original), "control_model": control, "metric": metric,
           "probes": [r.to_dict() for r in results]}
    write_json(run / "robustness.json", out)
    return out


def probe_table(result: dict[str, Any]) -> str:
    from unlearn.eval.metrics import METRICS

    more = "higher" if METRICS.get(result["metric"]).knowledge_sign() != -1 else "lower"
    head = (f"forget {result['metric']} ({more} = more knowledge); returned = (probed - unlearned) / "
            "(original - unlearned)")
    rows = [[p["probe"], fmt(p["original"]), fmt(p["unlearned"]), fmt(p["probed"]), fmt(p["returned"]),
             ", ".join(f"{k} {fmt(v) if isinstance(v, float) else v}" for k, v in p["detail"].items())]
            for p in result["probes"]]
    header = ["probe", "original", "unlearned", "probed", "returned", "detail"]
    return head + "\n\n" + markdown_table(header, rows, "lrrrrl")
