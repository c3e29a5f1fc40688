"""`unlearn sweep GRID`: a YAML grid of models × benchmarks × methods × seeds run to one leaderboard.

grid.py reads and checks the grid (every cell's config before any work); runner.py prepares each
(model, benchmark) pair once (data, starting model, retain and target models), runs every cell and
calibrates it, reusing whatever is finished; board.py gathers a pair's numbers over seeds; claims.py
states the seeds' findings as tests on them; leaderboard.py writes the HTML, Markdown and CSV files.

The Python API is `unlearn.sweep.run_sweep` (`unlearn.sweep` is a module of the package, so it is not
exported from `unlearn`, as `unlearn.demo.demo` is not).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from unlearn.core.errors import ConfigError


def run_sweep(grid: str | Path, overrides: list[str] = (), out: str | Path | None = None,
              say: Callable[[str], None] = print, leaderboard_only: bool = False) -> dict[str, Any]:
    """Run (or resume, or widen) the grid of a YAML file with `key=value` overrides (e.g. seeds=[0]) into
    `out` (default: the grid's own); write OUT/sweep.json and the leaderboard files beside it. Returns
    sweep.json's content with "files" (the leaderboard's paths) and "claims" (the verdicts, a line each)
    added. `leaderboard_only`: run nothing; write the leaderboard again from OUT/sweep.json and the
    folders it names, read under OUT wherever the sweep ran (a committed copy such as
    docs/results/tofu_smollm2 re-renders without the models or the data)."""
    from unlearn.sweep.leaderboard import write_leaderboard

    if leaderboard_only:
        from unlearn.sweep.grid import grid_out
        from unlearn.sweep.runner import read_state

        if overrides:
            raise ConfigError(f"--leaderboard-only runs nothing, so grid overrides ({overrides[0]}) would change "
                              "nothing; leave them out")
        folder = Path(out) if out is not None else grid_out(grid)
        state = read_state(folder)
        files, claims = write_leaderboard(state, folder)
        return {**state, "files": [str(f) for f in files], "claims": claims}
    from unlearn.sweep.grid import load_grid
    from unlearn.sweep.runner import run_grid

    loaded = load_grid(grid, list(overrides), None if out is None else str(out))
    state = run_grid(loaded, say)
    files, claims = write_leaderboard(state, loaded.out)
    return {**state, "files": [str(f) for f in files], "claims": claims}


__all__ = ["run_sweep"]
