"""`unlearn calibrate RUN` and `unlearn compare RUN...` on run folders.

`calibrate` writes RUN/calibration.json. `compare` reuses a run's calibration.json when it answers the
same request (the whole config with overrides, the original model, metric, target, tolerance and the
reference evaluation's files) from the same weights (names, sizes and times of the model files), and
calibrates the run again otherwise; then it ranks the runs by a forget metric at equal retention."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from unlearn.core.errors import ConfigError
from unlearn.core.files import files_stamp
from unlearn.core.formatting import fmt, markdown_table
from unlearn.evidence.runs import run_config


def _request_key(cfg: Any, original: str, metric: str, ratio: float, tolerance: float) -> str:
    """What a calibration depends on besides the weights: the whole config (overrides included), the
    original model, the request, and the reference evaluation's files."""
    from unlearn.config import to_dict
    from unlearn.core.cache import digest

    reference = files_stamp(cfg.eval.retain_reference) if cfg.eval.retain_reference else None
    return digest({"config": to_dict(cfg), "original": str(original), "metric": metric, "ratio": ratio,
                   "tolerance": tolerance, "reference": reference})


def calibrate_run(run: str | Path, original: str | None = None, metric: str = "auto", ratio: float = 0.95,
                  tolerance: float = 0.02, overrides: list[str] | None = None) -> dict[str, Any]:
    """Calibrate one run against the model it started from (its model.path, or `original`)."""
    from unlearn.core.atomic import write_json
    from unlearn.evidence.calibrate import calibrate

    run = Path(run)
    cfg = run_config(run, overrides or [])
    original = original or cfg.model.path
    result = calibrate(cfg, original, str(run / "model"), metric, ratio, tolerance).to_dict()
    result.update(run=str(run), original_model=str(original), stamp={"model": files_stamp(run / "model"),
                                                                    "original": files_stamp(original)},
                  request_key=_request_key(cfg, original, metric, ratio, tolerance))
    write_json(run / "calibration.json", result)
    return result


def request_stamp(run: Path, metric: str, ratio: float, tolerance: float, overrides: list[str]) -> dict[str, Any]:
    """What a calibration of RUN would answer: the request key and the stamps of both models' weights (a
    caller that keeps a failed calibration's message reuses it only while these are the same)."""
    cfg = run_config(run, overrides)
    return {"request_key": _request_key(cfg, cfg.model.path, metric, ratio, tolerance),
            "stamp": {"model": files_stamp(run / "model"), "original": files_stamp(cfg.model.path)}}


def cached_calibration(run: Path, metric: str, ratio: float, tolerance: float,
                       overrides: list[str]) -> dict[str, Any] | None:
    """RUN/calibration.json when it answers this request (config, overrides, reference) for these
    weights, else None."""
    path = run / "calibration.json"
    if not path.is_file():
        return None
    try:
        old = json.loads(path.read_text())
    except ValueError:
        return None  # cut short or edited: calibrate again (and overwrite it)
    cfg = run_config(run, overrides)
    same = old.get("request_key") == _request_key(cfg, old.get("original_model", ""), metric, ratio, tolerance)
    fresh = {"model": files_stamp(run / "model"), "original": files_stamp(old["original_model"])}
    return old if same and old.get("stamp") == fresh else None


def compare(runs: list[str], metric: str = "auto", ratio: float = 0.95, tolerance: float = 0.02,
            rank_by: str = "forget_rougeL_recall", overrides: list[str] | None = None) -> list[dict[str, Any]]:
    """Each run calibrated at the same target, best first by `rank_by` at its calibrated alpha."""
    from unlearn.evidence.calibrate import check_request

    check_request(ratio, tolerance)
    check_rank_by(Path(runs[0]), rank_by, overrides or [])  # a typo costs nothing: checked before calibrating
    results = []
    for run in runs:
        results.append(cached_calibration(Path(run), metric, ratio, tolerance, overrides or [])
                       or calibrate_run(run, None, metric, ratio, tolerance, overrides))
    missing = [r["run"] for r in results if r["forget"].get(rank_by) is None]
    if missing:
        raise ConfigError(f"--rank-by {rank_by!r} was not computed for {missing[0]}; valid: "
                          f"{', '.join(k for k, v in results[0]['forget'].items() if v is not None)} "
                          "(forget_quality needs eval.retain_reference=FOLDER)")
    higher = results[0]["higher_is_better"][rank_by]
    return sorted(results, key=lambda r: r["forget"][rank_by], reverse=higher)


def check_rank_by(run: Path, rank_by: str, overrides: list[str]) -> None:
    """--rank-by names a forget-set number the calibration measures (run folder config, no model loaded)."""
    from unlearn.data.benchmarks import benchmark_from_config
    from unlearn.eval.registry import result_key
    from unlearn.evidence.calibrate import forget_request

    cfg = run_config(run, overrides)
    forget = next(s.name for s in benchmark_from_config(cfg.data).eval_specs() if s.role == "forget")
    from unlearn.eval.metrics import DERIVED

    valid = [m if m in DERIVED else result_key(forget, m) for m in forget_request(True)]
    if rank_by not in valid:
        raise ConfigError(f"--rank-by {rank_by!r} is not measured at the calibrated alpha; valid: {', '.join(valid)} "
                          "(forget_quality needs eval.retain_reference=FOLDER)")


def compare_table(results: list[dict[str, Any]], rank_by: str) -> str:
    keys = list(dict.fromkeys(k for r in results for k in r["forget"]))
    head = (f"Calibrated to {results[0]['ratio']:.0%} of the original's {results[0]['metric']} "
            f"(tolerance {results[0]['tolerance']}); ranked by {rank_by} "
            f"({'higher' if results[0]['higher_is_better'][rank_by] else 'lower'} is better).")
    rows = [[i, r["run"], f"{r['alpha']:.3f}", fmt(r["value"]), *(fmt(r["forget"].get(k)) for k in keys)]
            for i, r in enumerate(results, 1)]
    return head + "\n\n" + markdown_table(["rank", "run", "alpha", results[0]["metric"], *keys], rows,
                                           "rl" + "r" * (2 + len(keys)))
