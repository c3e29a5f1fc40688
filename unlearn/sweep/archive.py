"""A sweep cell kept without its weights (`keep_weights: false` in the grid).

Once a cell is evaluated and calibrated, the leaderboard needs only its small files (metrics.json,
cost.json, fingerprint.json, run.json, calibration.json). A grid of 23 cells on a 135M model otherwise
keeps about 12 GB of merged weights, and a sweep moved to another machine (its out folder copied
without the weights) could not prove what its cells were. So the weights and checkpoints are deleted
and archived.json records what they were: the sha256 of the cell's weights and of the starting model's,
and the calibration. An archived cell is reused only while

- the config fingerprint the engine would record for it now is the one in its fingerprint.json (the
  grid's settings, the data, the method), and
- the starting model's weights are the ones it was unlearned from (a target fine-tuned again on
  another machine may come out different: then the cell is not the grid's, and says so).

Anything else is a one-line error naming the folder and the fix (delete it to run the cell again),
never a stale result.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from unlearn.config import RunConfig
from unlearn.core.errors import ConfigError

ARCHIVE_FILE = "archived.json"
HEAVY = ("model", "checkpoints")
"""The parts of a run folder an archived cell no longer holds."""


def archive_cell(folder: Path, start_weights: dict[str, str], calibration: dict[str, Any] | None,
                 calibrate: dict[str, Any] | None) -> None:
    """Record the cell's weights and its starting model's (sha256 by file), then delete the weights.
    archived.json is written first, so a sweep killed in between finds it and finishes the deletion."""
    from unlearn.core.atomic import write_json

    state = json.loads((folder / "train_state.json").read_text())
    write_json(folder / ARCHIVE_FILE, {"weights": state.get("weights"), "start_weights": start_weights,
                                       "fingerprint_hash": state.get("fingerprint_hash"),
                                       "calibration": calibration, "calibrate": calibrate})
    _drop_heavy(folder)


def archived_cell(folder: Path, cfg: RunConfig,
                  start_weights: Callable[[], dict[str, str]]) -> dict[str, Any] | None:
    """archived.json of a cell that is this config's, unlearned from the starting weights `start_weights()`
    gives (asked only when there is an archived cell: hashing a model takes seconds); None when the folder
    holds no archived cell; a ConfigError naming the folder when it holds one of something else."""
    from unlearn.engine.before import planned_fingerprint

    path = folder / ARCHIVE_FILE
    if not path.is_file():
        return None
    fix = f"delete {folder} to run the cell again"
    try:
        record = json.loads(path.read_text())
        stored = json.loads((folder / "fingerprint.json").read_text())
    except (OSError, ValueError) as err:
        raise ConfigError(f"{folder} holds an archived cell that cannot be read ({err}); {fix}") from None
    if stored.get("hash") != record.get("fingerprint_hash") or \
            stored.get("hash") != planned_fingerprint(cfg).get("hash"):
        raise ConfigError(f"{folder} holds an archived cell of other settings than the grid's (its "
                          f"fingerprint.json differs from this cell's config); {fix}")
    now = start_weights()
    if record.get("start_weights") != now:
        raise ConfigError(f"{folder} was unlearned from other weights of its starting model than the ones "
                          f"there now (sha256 {_short(record.get('start_weights'))}, now {_short(now)}: "
                          f"the target was trained again and came out different); {fix}")
    _drop_heavy(folder)  # a sweep killed after writing archived.json left some behind
    return record


def _drop_heavy(folder: Path) -> None:
    for name in HEAVY:
        shutil.rmtree(folder / name, ignore_errors=True)


def _short(hashes: Any) -> str:
    if not isinstance(hashes, dict) or not hashes:
        return "none"
    return ", ".join(f"{name} {value[:12]}" for name, value in sorted(hashes.items()))
