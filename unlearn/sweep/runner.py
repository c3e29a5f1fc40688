"""Running a grid: each (model, benchmark) pair prepared once, then every cell, each calibrated (and, with
`keep_weights: false`, archived without its weights: unlearn.sweep.archive) as soon as it is trained.

What is finished is reused by the machinery that made it, never by a guess of the sweep's: a run folder
by its fingerprint and sealed weights (unlearn.engine), an evaluation by its settings and the stamp of
the model it scored, a calibration by its request key and the weights' stamp (unlearn.evidence.compare).
So an interrupted sweep resumes where it stopped (an unfinished run from its newest checkpoint), a grid
widened by a method or a seed runs only the new cells, and a cell whose settings changed in the grid is
a one-line error naming its folder instead of a stale result.

A cell that fails (a diverged run, say) is recorded and the sweep goes on; running the sweep again
retries it. An archived cell is reused only while its fingerprint and its starting model's weights are the
grid's (a one-line error naming its folder otherwise).
"""

from __future__ import annotations

import json
import platform
import resource
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from unlearn.config import RunConfig, deep_merge, load_config, set_values
from unlearn.core.errors import ConfigError, UnlearnError
from unlearn.core.files import files_stamp
from unlearn.sweep.grid import SUBSETS, Cell, Grid, cell_data, world_folder
from unlearn.sweep.leaderboard import typed_command

STATE_FILE = "sweep.json"
RETAIN_SCORER = "retain"
EVAL_STAMP = "evaluated.json"
CALIBRATION_FAILED = "calibration_failed.json"
SUBSET_STAMP = ".made_from.json"
"""Beside a subset's folder (OUT/benchmarks/NAME.made_from.json): the options it was cut with."""


@dataclass
class Pair:
    """What every cell of one (model, benchmark) pair starts from."""
    start: dict[str, Any]
    """The model section unlearning starts from (the fine-tuned target, or the given model)."""
    original: Path
    """The folder of the starting model's evaluation (the leaderboard's `target` row)."""
    retain: Path | None
    """The retain run (never saw the forget split): every evaluation's reference for forget quality."""
    retain_eval: Path | None
    """The retain model evaluated against itself (the leaderboard's `retain` row)."""
    retain_model: str | None = None
    _start_weights: dict[str, str] | None = None

    def start_weights(self) -> dict[str, str]:
        """The sha256 of each weights file of the starting model (hashed once): what an archived cell
        records it was unlearned from."""
        if self._start_weights is None:
            from unlearn.engine.integrity import weights_hashes

            self._start_weights = weights_hashes(self.start["path"])
        return self._start_weights


def run_grid(grid: Grid, say: Callable[[str], None] = print) -> dict[str, Any]:
    """Every cell of the grid, reusing what is finished; returns (and writes to OUT/sweep.json) what each
    cell gave: {"cells": [{model, benchmark, method, seed, folder, status, error?, calibration?}], ...}."""
    from unlearn.core.atomic import write_json
    from unlearn.core.progress import Progress

    began, cpu_before = time.time(), _cpu_seconds()
    grid.out.mkdir(parents=True, exist_ok=True)
    before = _previous_sessions(grid.out / STATE_FILE)
    pairs: dict[tuple[str, str], Pair] = {}
    records: list[dict[str, Any]] = []
    run_now = 0

    def save() -> dict[str, Any]:
        """sweep.json as it stands: written after every pair and cell, so a killed sweep keeps its cost."""
        state = _state(grid, pairs, records, began, cpu_before, run_now, before)
        write_json(grid.out / STATE_FILE, state)
        return state

    for pair in grid.groups():
        pairs[pair] = prepare_pair(grid, *pair, say)
        save()
    cells = grid.cells()
    finished = [c for c in cells if _looks_finished(grid.cell_folder(c))]
    say(f"sweep: {len(cells)} cells, {len(finished)} finished before ({grid.out})")
    with Progress(len(cells), "sweep", every_s=0.0, initial=len(finished), unit="cell") as progress:
        for cell in cells:
            records.append(_finish_cell(grid, cell, pairs[cell.group], say))
            if cell not in finished:
                run_now += 1
                progress.update(1, last=f"{cell.method} seed {cell.seed}")
                save()
    return save()


def prepare_pair(grid: Grid, model: str, benchmark: str, say: Callable[[str], None]) -> Pair:
    """The data (a synthetic world is made once), the starting model (a tiny model built, or a GGUF
    file converted to safetensors once), the retain and target models fine-tuned, and their evaluations."""
    from unlearn import api

    prepare_data(grid, benchmark)
    folder = grid.group_folder(model, benchmark)
    start = _starting_model(grid, model, benchmark, folder)
    data = cell_data(grid, benchmark)
    evaluation = {"eval": grid.eval_section(model, benchmark)}
    if not grid.finetunes(model):
        original = folder / "target"
        _evaluate_once(load_config(base=deep_merge(data, {**evaluation, "model": start, "out": str(original)})),
                       original, say, f"evaluating {model} on {benchmark}")
        return Pair(start, original, None, None)
    tune = deep_merge(deep_merge(data, _scorer(evaluation, None)), grid.finetune_sections(model, benchmark))
    say(f"{model} × {benchmark}: the retain model (everything but the forget split) ...")
    retain = api.finetune(load_config(base=deep_merge(tune, {"model": start, "out": str(folder / "retain")})),
                          retain_only=True)
    with_reference = deep_merge(tune, _scorer({"eval": {**evaluation["eval"], "retain_reference": str(folder / "retain")}},
                                              retain["model_dir"]))
    retain_eval = folder / "retain_eval"
    _evaluate_once(load_config(base=deep_merge(with_reference, {"model": {"path": retain["model_dir"]},
                                                                "out": str(retain_eval)})),
                   retain_eval, say, "evaluating the retain model against itself")
    say(f"{model} × {benchmark}: the target model (everything) ...")
    target = api.finetune(load_config(base=deep_merge(with_reference, {"model": start,
                                                                       "out": str(folder / "target")})))
    return Pair({"path": target["model_dir"]}, folder / "target", folder / "retain", retain_eval,
                str(retain["model_dir"]))


def _scorer(sections: dict[str, Any], retain_model: str | None) -> dict[str, Any]:
    """eval.scorer_model `retain` names the pair's retain model (the demo's fluency scorer); before that
    model exists (its own first evaluation), the evaluated model scores itself."""
    if sections.get("eval", {}).get("scorer_model") != RETAIN_SCORER:
        return sections
    return deep_merge(sections, {"eval": {"scorer_model": retain_model}})


def prepare_data(grid: Grid, benchmark: str) -> None:
    """Write a benchmark the sweep makes (a synthetic world, a TOFU or KnowUnDo subset) unless it is there
    (a subset is cut again when its options change)."""
    from unlearn import api
    from unlearn.core.atomic import write_json

    entry, folder = grid.benchmarks[benchmark], world_folder(grid, benchmark)
    if "world" in entry and not (folder / "world.json").is_file():
        api.world(folder, **(entry["world"] or {}))
    for kind, subset in SUBSETS.items():
        if kind in entry:
            options = dict(entry[kind])
            # The options as the grid gives them, beside the folder (a file in it would be read as data).
            stamp, made_from = {kind: options}, folder.with_name(folder.name + SUBSET_STAMP)
            if not (folder / "subset.json").is_file() or not made_from.is_file() \
                    or json.loads(made_from.read_text()) != stamp:
                subset.write_to(folder, options)
                write_json(made_from, stamp)


def _starting_model(grid: Grid, model: str, benchmark: str, folder: Path) -> dict[str, Any]:
    from unlearn import api

    entry = grid.models[model]
    if "tiny" in entry:
        init = folder / "init"
        if not (init / "config.json").is_file():
            size = dict(entry["tiny"] or {})
            if "world" in grid.benchmarks[benchmark]:
                api.build_tiny_model(world_folder(grid, benchmark), init, **size)
            else:
                data = cell_data(grid, benchmark)["data"]
                api.build_tiny_model(out=init, data=data["path"], benchmark=data.get("benchmark"), **size)
        return {"path": str(init)}
    given = dict(entry["model"])
    if not given.get("gguf_file"):
        return given
    base = grid.out / "models" / model / "base"  # converted once: loading a GGUF file takes a minute
    if not (base / "config.json").is_file():
        from unlearn.config import ModelConfig, from_dict
        from unlearn.models import load_model, load_tokenizer
        from unlearn.models.loading import save_model

        cfg = from_dict(ModelConfig, given, "models." + model + ".model")
        save_model(load_model(cfg), load_tokenizer(cfg), base)
    return {**{k: v for k, v in given.items() if k not in ("gguf_file", "tokenizer")}, "path": str(base)}


def _evaluate_once(cfg: RunConfig, out: Path, say: Callable[[str], None], what: str) -> None:
    """Evaluate cfg.model into `out` unless it already holds this evaluation of these weights."""
    from unlearn import api
    from unlearn.core.atomic import write_json
    from unlearn.core.cache import digest

    stamp = {"eval": digest(set_values(cfg.eval)), "data": digest(set_values(cfg.data)), "model": cfg.model.path,
             "weights": files_stamp(cfg.model.path)}
    path = out / EVAL_STAMP
    if path.is_file() and (out / "metrics.json").is_file() and json.loads(path.read_text()) == stamp:
        return
    say(what + " ...")
    api.evaluate(cfg, out=str(out))
    write_json(path, stamp)


def _looks_finished(folder: Path) -> bool:
    """For the progress line only: a finished run with its metrics (reuse itself is the engine's call)."""
    from unlearn.sweep.archive import ARCHIVE_FILE

    if (folder / ARCHIVE_FILE).is_file():
        return True
    state = folder / "train_state.json"
    try:
        return (folder / "metrics.json").is_file() and json.loads(state.read_text()).get("completed") is True
    except (OSError, ValueError):
        return False


def _finish_cell(grid: Grid, cell: Cell, pair: Pair, say: Callable[[str], None]) -> dict[str, Any]:
    """One cell trained (or reused), calibrated when the grid asks, and archived when it keeps no weights."""
    from unlearn import api
    from unlearn.sweep.archive import archive_cell, archived_cell

    folder = grid.cell_folder(cell)
    record: dict[str, Any] = {"model": cell.model, "benchmark": cell.benchmark, "method": cell.method,
                              "seed": cell.seed, "folder": str(folder)}
    sections = deep_merge(cell_data(grid, cell.benchmark), grid.unlearn_sections(cell))
    sections = deep_merge(sections, {"model": pair.start})
    if pair.retain is not None:
        sections = deep_merge(sections, {"eval": {"retain_reference": str(pair.retain)}})
    try:
        cfg = load_config(base=_scorer(sections, pair.retain_model))
        kept = archived_cell(folder, cfg, pair.start_weights)
        if kept is not None:
            record["status"] = "ok"
            if grid.calibrate is not None:
                record["calibration"] = _archived_calibration(grid, folder, kept)
            return record
        api.unlearn(cfg)
        record["status"] = "ok"
    except UnlearnError as err:
        # One failed cell (a diverged run, say) must not throw away the others; the next sweep retries it.
        say(f"  {cell.label()} failed: {err}")
        record.update(status="failed", error=str(err))
        return record
    if grid.calibrate is not None:
        record["calibration"] = _calibration(grid, folder, say)
    if not grid.keep_weights and "error" not in record.get("calibration", {}):
        archive_cell(folder, pair.start_weights(), record.get("calibration"), _calibrate_settings(grid))
    return record


def _calibrate_settings(grid: Grid) -> dict[str, Any] | None:
    """The grid's calibration request with its defaults filled in (None: the grid calibrates nothing)."""
    if grid.calibrate is None:
        return None
    return {"metric": "auto", "target": 0.95, "tol": 0.02, **grid.calibrate}


def _archived_calibration(grid: Grid, folder: Path, kept: dict[str, Any]) -> dict[str, Any]:
    """An archived cell's calibration while the grid asks for the same one; a cell archived without it has
    no weights left to calibrate, which the leaderboard says."""
    if kept.get("calibrate") == _calibrate_settings(grid) and kept.get("calibration") is not None:
        return kept["calibration"]
    return {"error": f"archived (keep_weights: false) with calibration {kept.get('calibrate')}, not the grid's "
                     f"{_calibrate_settings(grid)}; delete {folder} to run and calibrate it again"}


def _calibration(grid: Grid, folder: Path, say: Callable[[str], None]) -> dict[str, Any]:
    """The run calibrated as `unlearn compare` does it (reused when already made for this request). A
    calibration that failed is kept with its request, and not tried again while that is the same."""
    from unlearn.core.atomic import write_json
    from unlearn.evidence.compare import cached_calibration, calibrate_run, request_stamp

    settings = _calibrate_settings(grid) or {}
    request = (settings["metric"], float(settings["target"]), float(settings["tol"]))
    failed, stamp = folder / CALIBRATION_FAILED, None
    try:
        stamp = request_stamp(folder, *request, [])
        if failed.is_file() and json.loads(failed.read_text()).get("request") == stamp:
            return {"error": json.loads(failed.read_text())["error"]}
        found = cached_calibration(folder, *request, []) or calibrate_run(folder, None, *request, [])
    except UnlearnError as err:
        say(f"  calibrating {folder} failed: {err}")
        if stamp is not None:
            write_json(failed, {"request": stamp, "error": str(err)})
        return {"error": str(err)}
    failed.unlink(missing_ok=True)
    return {k: found.get(k) for k in ("alpha", "metric", "value", "forget", "ratio", "tolerance", "higher_is_better")}


def read_state(out: Path) -> dict[str, Any]:
    """OUT/sweep.json with every folder it names read under OUT, wherever the sweep wrote them (a sweep
    moved to another machine, or its committed copy without weights): the folders under the out folder
    it recorded are taken at the same place under `out`."""
    from unlearn.core.files import read_json

    path = Path(out) / STATE_FILE
    if not path.is_file():
        raise ConfigError(f"{path} does not exist; give the --out folder of a sweep (or run the sweep first)")
    state = read_json(path, "run the sweep again to write it")
    if not isinstance(state, dict) or not all(isinstance(state.get(k), t) for k, t in
                                              (("grid", dict), ("pairs", dict), ("cells", list))) \
            or not all(isinstance(x, dict) for x in [*state["pairs"].values(), *state["cells"]]):
        raise ConfigError(f"{path} is not a sweep's record (no grid, pairs and cells); give the --out folder of a "
                          "sweep")
    recorded = Path(str(state["grid"].get("out", out)))

    def moved(folder: Any) -> Any:
        if folder is None:
            return None
        try:
            return str(Path(out) / Path(folder).relative_to(recorded))
        except ValueError:
            return folder  # outside the sweep's folder: read where it is

    state["grid"] = {**state["grid"], "out": str(out)}
    state["pairs"] = {name: {**pair, **{k: moved(pair.get(k)) for k in ("original", "retain", "retain_eval")}}
                      for name, pair in state["pairs"].items()}
    state["cells"] = [{**cell, "folder": moved(cell.get("folder"))} for cell in state["cells"]]
    return state


def _processor() -> str:
    """The CPU's model name where the system gives it (Linux: /proc/cpuinfo), else the architecture."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and ":" in line:
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _previous_sessions(path: Path) -> list[dict[str, Any]]:
    """The sessions an earlier run of this sweep recorded in sweep.json (none when there is none)."""
    try:
        return list(json.loads(path.read_text()).get("sessions", [])) if path.is_file() else []
    except (OSError, ValueError):
        return []


def _state(grid: Grid, pairs: dict[tuple[str, str], Pair], records: list[dict[str, Any]], began: float,
           cpu_before: float, run_now: int, before: list[dict[str, Any]]) -> dict[str, Any]:
    """sweep.json: the grid as run, each pair's reference folders, each cell, and this session's cost
    after those of the sessions before (an interrupted sweep keeps what it spent)."""
    import os

    import torch

    sessions = [*before, {"ended": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "wall_seconds": round(time.time() - began, 1),
                          "cpu_seconds": round(_cpu_seconds() - cpu_before, 1), "cells_run": run_now,
                          "command": typed_command(sys.argv)}]
    return {
        "grid": {"source": grid.source, "out": str(grid.out), "models": grid.models, "benchmarks": grid.benchmarks,
                 "finetune": grid.finetune, "settings": grid.settings, "methods": grid.methods, "seeds": grid.seeds,
                 "overrides": grid.overrides, "calibrate": grid.calibrate, "rank_by": grid.rank_by,
                 "claims": grid.claims, "keep_weights": grid.keep_weights},
        "pairs": {f"{m}/{b}": {"original": str(p.original), "retain": str(p.retain) if p.retain else None,
                               "retain_eval": str(p.retain_eval) if p.retain_eval else None, "start": p.start}
                  for (m, b), p in pairs.items()},
        "cells": records,
        "machine": {"platform": platform.platform(), "processor": _processor(),
                    "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                    "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None},
        "sessions": sessions,
        "total_cpu_seconds": round(sum(s["cpu_seconds"] for s in sessions), 1),
        "total_wall_seconds": round(sum(s["wall_seconds"] for s in sessions), 1),
    }

