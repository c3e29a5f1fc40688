"""Calibration by model mixing (SPEC 6): compare unlearning methods at equal retention.

theta(alpha) = (1 - alpha) theta_original + alpha theta_unlearned moves smoothly from the original model
(alpha 0) to the unlearned one (alpha 1). For each method, bisection finds the largest alpha whose
retain metric stays at or above a target (default 95% of the original's); the forget metrics are then
measured at that alpha. Methods compared there differ only in what they removed, not in how much
utility they gave up ("Towards Effective Evaluations and Comparison for LLM Unlearning Methods",
Wang et al., ICLR 2025; seed 001, "MU Evaluations: Calibrations").

Each bisection step evaluates only what the retain metric needs: one per-sample metric on one set
(`retain_rougeL_recall`), or the three TOFU metrics on the retain and general sets for
`model_utility`.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import torch

from unlearn.config import RunConfig
from unlearn.core.device import device
from unlearn.core.errors import ConfigError
from unlearn.models.loading import saved_model_config

FORGET_SUITE = "tofu"
"""The suite whose forget-set metrics are measured at the calibrated alpha."""


@dataclass
class Step:
    alpha: float
    value: float


@dataclass
class Calibration:
    metric: str
    ratio: float
    tolerance: float
    original: float
    """The retain metric of the original model (alpha 0)."""
    target: float
    alpha: float
    """The largest alpha found whose retain metric is at or above the target."""
    value: float
    """The retain metric at alpha."""
    steps: list[Step] = field(default_factory=list)
    forget: dict[str, float | None] = field(default_factory=dict)
    """Forget metrics of the mixed model at alpha."""
    higher_is_better: dict[str, bool] = field(default_factory=dict)
    """The direction of each forget metric."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def mix_state(original: dict[str, torch.Tensor], unlearned: dict[str, torch.Tensor],
              alpha: float) -> dict[str, torch.Tensor]:
    """(1 - alpha) * original + alpha * unlearned for every floating-point tensor (computed in float32,
    stored in the unlearned tensor's dtype); other tensors are the unlearned model's."""
    if original.keys() != unlearned.keys():
        extra = sorted(original.keys() ^ unlearned.keys())[:3]
        raise ConfigError(f"the original and the unlearned model have different parameters (e.g. {extra}); "
                          "calibrate a run against the model it started from")
    mixed = {}
    for name, u in unlearned.items():
        o = original[name]
        if o.shape != u.shape:
            raise ConfigError(f"parameter {name} has shape {tuple(o.shape)} in the original model and "
                              f"{tuple(u.shape)} in the unlearned one; calibrate against the model it started from")
        mixed[name] = ((1 - alpha) * o.float() + alpha * u.float()).to(u.dtype) if u.is_floating_point() else u
    return mixed


MIN_TOLERANCE = 1e-6
"""The smallest tolerance on alpha: each step halves [0, 1], so 1e-6 takes 20 evaluations; far below it
the interval stops shrinking at float resolution and the search would never end."""


def check_request(ratio: float, tolerance: float) -> None:
    """A target ratio in (0, 1] and a tolerance on alpha the bisection can reach (before any model loads)."""
    if not 0 < ratio <= 1:
        raise ConfigError(f"calibration target ratio {ratio:g} must be in (0, 1] (a share of the original's score)")
    if not MIN_TOLERANCE <= tolerance < 1:
        raise ConfigError(f"calibration tolerance {tolerance:g} must be in [{MIN_TOLERANCE:g}, 1): it is the width "
                          "of the last alpha interval, and alpha lies in [0, 1]")


def bisect(evaluate: Callable[[float], float], target: float, tolerance: float) -> tuple[float, float, list[Step]]:
    """The largest alpha in [0, 1] (to within `tolerance`) with evaluate(alpha) >= target, assuming the
    metric falls as alpha grows; its value; and every step. alpha 1 is tried first; alpha 0 is trusted to
    meet the target (the caller checks it)."""
    steps = [Step(1.0, evaluate(1.0))]
    if steps[0].value >= target:
        return 1.0, steps[0].value, steps
    lo, hi, lo_value = 0.0, 1.0, None
    while hi - lo > max(tolerance, MIN_TOLERANCE / 2):
        mid = (lo + hi) / 2
        steps.append(Step(mid, evaluate(mid)))
        if steps[-1].value >= target:
            lo, lo_value = mid, steps[-1].value
        else:
            hi = mid
    if lo_value is None:  # no step met the target: alpha 0, the original model
        lo_value = evaluate(0.0)
        steps.append(Step(0.0, lo_value))
    return lo, lo_value, steps


def calibration_metric(metric: str, bench: Any) -> str:
    """`auto`: the held-out utility when the data has sets no method trains on (holdout, general), so a
    method cannot buy its calibration by damaging them while keeping the retain set it trains on; else
    model utility. Any other name as given."""
    from unlearn.eval.metrics import DERIVED

    if metric != "auto":
        return metric
    held_out = DERIVED.get("held_out_utility").roles
    return "held_out_utility" if any(s.role in held_out for s in bench.eval_specs()) else "model_utility"


def retain_request(metric: str, bench: Any) -> tuple[list[str], list[str]]:
    """(eval.metrics, eval.splits) that compute `metric`: a derived metric such as model_utility (on the
    sets whose roles it reads), or DATASET_METRIC such as retain_rougeL_recall."""
    from unlearn.eval.metrics import DERIVED, METRICS

    specs = bench.eval_specs()
    if metric in DERIVED and DERIVED.get(metric).roles and "forget" not in DERIVED.get(metric).roles:
        return [metric], [s.name for s in specs if s.role in DERIVED.get(metric).roles]
    for spec in specs:
        name = metric.removeprefix(spec.name + "_")
        if metric.startswith(spec.name + "_") and name in METRICS and spec.role != "forget":
            if not METRICS.get(name).direction(spec.role).higher_is_better():
                raise ConfigError(f"calibration metric {metric!r}: lower is better there; calibration holds a "
                                  "metric that falls as alpha grows (e.g. retain_rougeL_recall, model_utility)")
            return [name], [spec.name]
    valid = ", ".join(f"{s.name}_<metric>" for s in specs if s.role != "forget")
    raise ConfigError(f"calibration metric {metric!r} is not auto, held_out_utility, model_utility or one of {valid} "
                      "(e.g. retain_rougeL_recall)")


_ORIGINALS: dict[tuple, dict[str, torch.Tensor]] = {}
_ORIGINAL_SCORES: dict[str, dict[str, Any]] = {}
"""The original model's evaluation (alpha 0) per request: every run calibrated against one original in a
process (`unlearn compare`, a sweep) scores the original once."""


def original_state(model_cfg: Any) -> dict[str, torch.Tensor]:
    """The original model's weights on CPU, loaded once per process for every run that started from it
    (`compare` calibrates many runs of one original; loading a GGUF file takes most of a minute). Only the
    last original is kept; a file changed on disk is loaded again."""
    from unlearn.models import load_model

    path = Path(model_cfg.path)
    stamp = max((f.stat().st_mtime_ns for f in path.iterdir()), default=0) if path.is_dir() else 0
    key = (str(path), model_cfg.gguf_file, model_cfg.dtype, stamp)
    if key not in _ORIGINALS:
        _ORIGINALS.clear()
        _ORIGINAL_SCORES.clear()
        _ORIGINALS[key] = {k: v.detach().to("cpu") for k, v in load_model(model_cfg).state_dict().items()}
    return _ORIGINALS[key]


class Mixer:
    """A model whose weights are set to theta(alpha) in place, and its evaluation on a chosen request.
    Memory: the working model plus the two source state dicts (on CPU)."""

    def __init__(self, cfg: RunConfig, original_path: str, unlearned_path: str):
        from unlearn.data.benchmarks import benchmark_from_config
        from unlearn.models import load_model, load_tokenizer

        self.cfg, self.bench = cfg, benchmark_from_config(cfg.data)
        self.name = Path(unlearned_path).parent.name  # the run folder, for the progress lines
        unlearned_cfg = saved_model_config(cfg, unlearned_path)
        self.tokenizer = load_tokenizer(unlearned_cfg)
        self.model = load_model(unlearned_cfg).eval()
        self.unlearned = {k: v.detach().to("cpu", copy=True) for k, v in self.model.state_dict().items()}
        self.original = original_state(replace(cfg.model, path=original_path))  # read only: shared between runs
        mix_state(self.original, self.unlearned, 0.0)  # the same parameters and shapes, or a one-line error
        self.model.to(device())
        self.folder_contents = _contents(Path(unlearned_cfg.path))

    @torch.no_grad()
    def set_alpha(self, alpha: float) -> None:
        for name, tensor in self.model.state_dict().items():  # views of the parameters: written in place
            o, u = self.original[name], self.unlearned[name]
            tensor.copy_(torch.lerp(o.float(), u.float(), alpha) if u.is_floating_point() else u)

    def evaluate(self, alpha: float, metrics: list[str], splits: list[str],
                 reference: Any = None) -> dict[str, Any]:
        from unlearn.eval.evaluator import evaluate_model

        cfg = replace(self.cfg, eval=replace(self.cfg.eval, suites=[], metrics=metrics, splits=splits))
        key = self._original_key(cfg) if alpha == 0.0 and reference is None else None
        if key in _ORIGINAL_SCORES:
            return copy.deepcopy(_ORIGINAL_SCORES[key])
        self.set_alpha(alpha)
        label = f"calibrate {self.name}, alpha {alpha:.3f}"
        result = evaluate_model(self.model, self.tokenizer, cfg, self.bench, reference, label=label)[0]
        if key is not None:
            _ORIGINAL_SCORES[key] = copy.deepcopy(result)
        return result

    def _original_key(self, cfg: RunConfig) -> str:
        """At alpha 0 the weights are the original's (lerp(o, u, 0) = o), so the evaluation depends only on
        the original, the request, the settings and the files beside the weights (tokenizer, chat template,
        generation config), which runs of one original share."""
        from unlearn.config import to_dict
        from unlearn.core.cache import digest

        model = {k: v for k, v in to_dict(cfg.model).items() if k != "path"}
        return digest([id(self.original), to_dict(cfg.eval), to_dict(cfg.data), model, self.folder_contents])


def _contents(folder: Path) -> dict[str, str]:
    """The sha256 of each file of a model folder but its weights."""
    from unlearn.data.formats import file_sha256

    weights = (".safetensors", ".bin", ".gguf", ".pt")
    return {f.name: file_sha256(f) for f in sorted(folder.iterdir())
            if f.is_file() and not f.name.endswith(weights) and not f.name.startswith(".")} if folder.is_dir() else {}


def forget_request(with_reference: bool) -> list[str]:
    """The forget metrics measured at the calibrated alpha: FORGET_SUITE's numbers on the forget set, and
    its derived forget-set metrics (forget quality) when the retain model's evaluation is given."""
    from unlearn.eval.metrics import DERIVED, METRICS
    from unlearn.eval.suites import SUITES

    chosen = SUITES.get(FORGET_SUITE)
    metrics = [m for m in chosen.metrics if METRICS.get(m).aggregate is not None and METRICS.get(m).applies("qa", "forget", True)]
    return metrics + [d for d in chosen.derived if with_reference and DERIVED.get(d).roles == ("forget",)]


def calibrate(cfg: RunConfig, original_path: str, unlearned_path: str, metric: str = "auto",
              ratio: float = 0.95, tolerance: float = 0.02) -> Calibration:
    """Calibrate one unlearned model against the model it started from (module docstring)."""
    check_request(ratio, tolerance)
    from unlearn.data.benchmarks import benchmark_from_config
    from unlearn.eval.results import ModelResults

    bench = benchmark_from_config(cfg.data)
    metric = calibration_metric(metric, bench)
    metrics, splits = retain_request(metric, bench)  # fails before any model loads
    reference = ModelResults.from_folder(cfg.eval.retain_reference) if cfg.eval.retain_reference else None
    mixer = Mixer(cfg, original_path, unlearned_path)

    def value(alpha: float) -> float:
        got = mixer.evaluate(alpha, metrics, splits)["metrics"].get(metric)
        if got is None:
            raise ConfigError(f"calibration metric {metric!r} could not be computed; see `unlearn metrics`")
        return float(got)

    original = value(0.0)
    if not original > 0:
        raise ConfigError(f"the original model scores {original:g} on {metric}, so there is nothing to keep and any "
                          "model would meet the target; choose another --metric, or check --original")
    target = ratio * original
    alpha, reached, steps = bisect(value, target, tolerance)
    forget_split = next(s.name for s in mixer.bench.eval_specs() if s.role == "forget")
    forget_metrics = forget_request(reference is not None)
    forget = mixer.evaluate(alpha, forget_metrics, [forget_split], reference)
    return Calibration(metric, ratio, tolerance, original, target, alpha, reached,
                       [Step(0.0, original), *steps], forget["metrics"], forget["higher_is_better"])
