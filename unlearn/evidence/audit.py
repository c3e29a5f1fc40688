"""`unlearn audit RUN`: a deletion certificate for one unlearning run.

It records what was to be forgotten (the forget split, its record count and a hash of its records),
the unlearned model's hash, and a list of checks, each with its value, its threshold and a reason when
it fails. The thresholds are configurable (`--thresholds FILE.yaml`); the defaults and why:

- forget_rouge_ratio 0.5: forget ROUGE-L at most half the original model's. Without a retrained model
  to compare with, this is the least the request asks: most forgotten answers no longer come back.
- forget_rouge_margin 0.1: with the retain model's evaluation (`--retain-eval`), forget ROUGE-L at most
  0.1 above the retained model's. A model that never saw the data still shares some words with the
  answers (ROUGE-L around 0.15-0.2 on the synthetic world), so "near the retrained model" is the target.
- forget_quality_min 0.05: TOFU's forget quality (a KS-test p-value against the retain model) at or above
  0.05, i.e. the truth-ratio distributions are not told apart at the 5% level.
- mia_auc_band 0.1: each membership attack's AUC (forget vs holdout) within 0.5 +- 0.1. An attacker
  barely tells forgotten members from people never trained on.
- extraction_max 0.2: extraction strength on the forget set at most 0.2 (at most a fifth of an answer
  follows from a prefix by greedy decoding).
- returned_max 0.2: after each robustness probe (precision, int8, jailbreak, paraphrase), at most 20% of
  the removed knowledge comes back.
- retain_rouge_ratio 0.8: retain ROUGE-L at least 80% of the original's; unlearning must not have broken
  the model.

A check whose inputs are missing (no holdout set, no retain evaluation) is "skipped", with the reason.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from unlearn.config import RunConfig
from unlearn.core.errors import ConfigError
from unlearn.core.formatting import fmt
from unlearn.eval.metrics import METRICS, label_of
from unlearn.eval.results import read_metrics
from unlearn.evidence.robustness import PROBES as ROBUSTNESS_PROBES
from unlearn.evidence.runs import run_config

THRESHOLDS = {"forget_rouge_ratio": 0.5, "forget_rouge_margin": 0.1, "forget_quality_min": 0.05,
              "mia_auc_band": 0.1, "extraction_max": 0.2, "returned_max": 0.2, "retain_rouge_ratio": 0.8}
THRESHOLD_MAX = {k: 0.5 if k == "mia_auc_band" else 1.0 for k in THRESHOLDS}
"""Every threshold is a fraction (an AUC band at most 0.5 wide on each side of 0.5)."""
PROBES = tuple(p for p in ROBUSTNESS_PROBES if p != "relearn")
"""Every robustness probe but the relearning attack, which trains (the audit only measures)."""


@dataclass
class Check:
    name: str
    status: str
    """passed, failed or skipped."""
    value: float | None
    threshold: str
    reason: str = ""


def load_thresholds(path: str | None) -> dict[str, float]:
    import yaml

    if not path:
        return dict(THRESHOLDS)
    try:
        given = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        raise ConfigError(f"thresholds file {path} cannot be read ({err.__class__.__name__}); give a YAML mapping") \
            from None
    unknown = sorted(set(given) - set(THRESHOLDS)) if isinstance(given, dict) else ["(not a mapping)"]
    if unknown:
        raise ConfigError(f"thresholds file {path}: unknown key {unknown[0]!r}; valid: {', '.join(THRESHOLDS)}")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in given.values()):
        raise ConfigError(f"thresholds file {path}: every threshold must be a number")
    for key, value in given.items():
        top = THRESHOLD_MAX[key]
        if not 0 <= value <= top:
            hint = f"; write {value:g}% as {value / 100:g}" if 1 < value <= 100 else ""
            raise ConfigError(f"thresholds file {path}: {key} {value:g} is not a fraction in [0, {top:g}]{hint}")
    return {**THRESHOLDS, **{k: float(v) for k, v in given.items()}}


def _check(name: str, value: float | None, ok: bool | None, threshold: str, why: str) -> Check:
    if value is None or ok is None:
        return Check(name, "skipped", value, threshold, why)
    return Check(name, "passed" if ok else "failed", value, threshold, "" if ok else why)


def checks(run: dict[str, float | None], original: dict[str, float | None], retain: dict[str, float | None] | None,
           returned: dict[str, float | None], t: dict[str, float]) -> list[Check]:
    """Every check from the metrics of the run, the original model and (if given) the retain model."""
    rouge, orig_rouge = run.get("forget_rougeL_recall"), original.get("forget_rougeL_recall")
    rouge_l = label_of("rougeL_recall")
    out = [_check(f"forget {rouge_l} vs the original", rouge,
                  None if rouge is None or orig_rouge is None else rouge <= t["forget_rouge_ratio"] * orig_rouge,
                  f"<= {t['forget_rouge_ratio']} x original ({fmt(orig_rouge)})",
                  f"forget {rouge_l} {fmt(rouge)} is above {t['forget_rouge_ratio']} x the original's: the "
                  "forgotten answers still come back")]
    retain_rouge = (retain or {}).get("forget_rougeL_recall")
    out.append(_check(f"forget {rouge_l} vs the retrained model", rouge,
                      None if retain_rouge is None or rouge is None else rouge <= retain_rouge + t["forget_rouge_margin"],
                      f"<= retain model ({fmt(retain_rouge)}) + {t['forget_rouge_margin']}",
                      "no retain evaluation (--retain-eval FOLDER)" if retain_rouge is None else
                      f"forget {rouge_l} {fmt(rouge)} is further above the retrained model's than the margin"))
    fq = run.get("forget_quality")
    out.append(_check(label_of("forget_quality"), fq, None if fq is None else fq >= t["forget_quality_min"],
                      f">= {t['forget_quality_min']}", "no retain evaluation (--retain-eval FOLDER)" if fq is None else
                      f"forget quality {fq:.3g}: the truth ratios differ from the retrained model's"))
    summaries = {m.summarised_by for _, m in METRICS.items() if m.summarised_by}  # each attack's AUC
    aucs = {k: v for k, v in run.items() if k in summaries and v is not None}
    worst = max(aucs.values(), key=lambda a: abs(a - 0.5)) if aucs else None
    out.append(_check("membership inference AUC", worst, None if worst is None else abs(worst - 0.5) <= t["mia_auc_band"],
                      f"within 0.5 +- {t['mia_auc_band']} (worst of {len(aucs)} attacks)",
                      "no holdout set to compare the forget set with" if worst is None else
                      f"an attack tells forgotten members from non-members (AUC {worst:.3f})"))
    es = run.get("forget_extraction_strength")
    out.append(_check(label_of("extraction_strength"), es, None if es is None else es <= t["extraction_max"],
                      f"<= {t['extraction_max']}", f"extraction strength {fmt(es)}: prefixes still pull out "
                      "the forgotten answers"))
    back = {k: v for k, v in returned.items() if v is not None}
    most = max(back.values()) if back else None
    out.append(_check("robustness probes", most, None if most is None else most <= t["returned_max"],
                      f"returned <= {t['returned_max']} after {', '.join(back) or 'no probe with a measurable return'}",
                      f"{', '.join(returned)} ran, but nothing was removed, so no return can be measured" if most is None
                      else
                      f"{max(back, key=back.get)} brings back {most:.0%} of the removed knowledge"))
    kept, orig_kept = run.get("retain_rougeL_recall"), original.get("retain_rougeL_recall")
    out.append(_check(f"retain {rouge_l} kept", kept,
                      None if kept is None or orig_kept is None else kept >= t["retain_rouge_ratio"] * orig_kept,
                      f">= {t['retain_rouge_ratio']} x original ({fmt(orig_kept)})",
                      f"retain {rouge_l} fell to {fmt(kept)}: unlearning damaged what should stay"))
    return out


def _files_hash(folder: Path) -> str:
    """sha256 over the names and bytes of the folder's safetensors files, read in chunks."""
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        raise ConfigError(f"{folder} holds no safetensors weights; audit a run whose model/ was saved by unlearn")
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode())
        with f.open("rb") as stream:
            for chunk in iter(lambda: stream.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def audit(cfg: RunConfig, run: Path, original: str, retain_eval: str | None = None,
          thresholds: dict[str, float] | None = None) -> dict[str, Any]:
    """The certificate of one run (module docstring)."""
    from unlearn.data.benchmarks import benchmark_from_config
    from unlearn.eval.command import evaluate
    from unlearn.evidence.robustness import probe
    from unlearn.models.loading import saved_model_config

    t = thresholds or dict(THRESHOLDS)
    bench = benchmark_from_config(cfg.data)
    forget = bench.load(bench.forget_split)  # the split the run forgot (custom data: "forget")
    weights = _files_hash(run / "model")  # no weights: an error before any evaluation
    eval_cfg = replace(cfg, model=saved_model_config(cfg, str(run / "model")),
                       eval=replace(cfg.eval, suites=["tofu", "privacy"], metrics=[], splits=[],
                                    retain_reference=retain_eval, retain_model=None))
    run_metrics = evaluate(eval_cfg, str(run / "model"), out=run / "audit_eval")["metrics"]
    orig_cfg = replace(cfg, eval=replace(eval_cfg.eval, suites=["tofu"], retain_reference=None))
    orig_metrics = evaluate(orig_cfg, original, out=run / "audit_eval_original")["metrics"]
    retain = read_metrics(Path(retain_eval) / "metrics.json", "evaluate the retain model there again")["metrics"] \
        if retain_eval else None
    returned = {r.probe: r.returned for r in probe(cfg, original, str(run / "model"), PROBES)}
    found = checks(run_metrics, orig_metrics, retain, returned, t)
    records = json.dumps(forget, sort_keys=True, ensure_ascii=False).encode()
    return {
        "request": {"forget_split": bench.forget_split, "benchmark": cfg.data.benchmark, "data": cfg.data.path,
                    "records": len(forget), "records_sha256": hashlib.sha256(records).hexdigest()},
        "model": {"path": str(run / "model"), "safetensors_sha256": weights,
                  "method": cfg.method.name, "original": str(original)},
        "thresholds": t,
        "checks": [asdict(c) for c in found],
        "summary": {s: sum(1 for c in found if c.status == s) for s in ("passed", "failed", "skipped")},
    }


def audit_html(cert: dict[str, Any]) -> str:
    """A self-contained HTML page of the certificate."""
    from html import escape

    colour = {"passed": "#1a7f37", "failed": "#cf222e", "skipped": "#6e7781"}

    def row(c: dict[str, Any]) -> str:
        value = "" if c["value"] is None else f"{c['value']:.4g}"
        return (f"<tr><td>{escape(c['name'])}</td><td style='color:{colour[c['status']]};font-weight:bold'>"
                f"{c['status']}</td><td>{value}</td><td>{escape(c['threshold'])}</td><td>{escape(c['reason'])}</td></tr>")

    rows = "".join(row(c) for c in cert["checks"])
    req, model, s = cert["request"], cert["model"], cert["summary"]
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>Deletion audit</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}td,th{{border:1px solid #ccc;padding:4px 8px}}
table{{border-collapse:collapse}}code{{font-size:90%}}</style></head><body>
<h1>Deletion audit: {s['passed']} passed, {s['failed']} failed, {s['skipped']} skipped</h1>
<p>Forget request: <code>{escape(req['forget_split'])}</code> of <code>{escape(req['data'])}</code>
({req['records']} records, sha256 <code>{req['records_sha256'][:16]}…</code>).</p>
<p>Model: <code>{escape(model['path'])}</code> ({escape(model['method'])}), weights sha256
<code>{model['safetensors_sha256'][:16]}…</code>; original <code>{escape(model['original'])}</code>.</p>
<table><tr><th>check</th><th>status</th><th>value</th><th>threshold</th><th>reason</th></tr>{rows}</table>
</body></html>"""


def audit_run(run: str | Path, original: str | None = None, retain_eval: str | None = None,
              thresholds: str | None = None, overrides: list[str] | None = None) -> dict[str, Any]:
    """`unlearn audit RUN`: RUN/audit.json and RUN/audit.html."""
    from unlearn.core.atomic import write_json, write_text

    run = Path(run)
    limits = load_thresholds(thresholds)
    if retain_eval and not (Path(retain_eval) / "metrics.json").is_file():
        raise ConfigError(f"--retain-eval {retain_eval}: no metrics.json there; give the --out folder of "
                          "`unlearn eval RETAIN_MODEL`")
    cfg = run_config(run, overrides or [])
    cert = audit(cfg, run, original or cfg.model.path, retain_eval, limits)
    write_json(run / "audit.json", cert)
    write_text(run / "audit.html", audit_html(cert))
    return cert
