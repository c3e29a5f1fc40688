"""The tofu benchmark: TOFU ("TOFU: A Task of Fictitious Unlearning for LLMs", Maini et al., 2024).

A local folder in TOFU's layout: forgetXX / retainYY files of question-answer records,
`*_perturbed` evaluation sets with a paraphrased answer and a list of perturbed (wrong) answers
(retain_perturbed, real_authors_perturbed, world_facts_perturbed), holdoutXX when the folder has
them, and `idontknow.jsonl` (refusal sentences). `data.path=locuslab/TOFU` (a hub name) first writes
the hub dataset into a cache folder in that layout with :func:`download_tofu` (needs network).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from unlearn.core.errors import DataError
from unlearn.core.files import text_lines
from unlearn.data.benchmarks.base import BENCHMARKS, Benchmark, SetSpec, holdout_spec


@BENCHMARKS.register("tofu")
@dataclass
class TofuBenchmark(Benchmark):
    """TOFU from a local folder (see shared/data/tofu). `data.path=locuslab/TOFU` reads the hub
    dataset into a cache folder first (needs network). `idontknow.jsonl` holds plain lines (refusals),
    read by :meth:`refusals`."""

    name = "tofu"
    general_splits: tuple[str, ...] = ("real_authors_perturbed", "world_facts_perturbed")

    def __post_init__(self) -> None:
        if not Path(self.path).is_dir() and "/" in self.path and not self.path.startswith((".", "/")):
            self.path = str(download_tofu(self.path))
        super().__post_init__()

    def train_splits(self) -> list[str]:
        pct = int(self.forget_name.removeprefix("forget"))
        return [self.forget_split, f"retain{100 - pct:02d}"]

    def retain_train_splits(self) -> list[str]:
        # TOFU's real authors / world facts come from pre-training, not from fine-tuning.
        return [self.retain_split]

    def eval_specs(self) -> list[SetSpec]:
        return [*super().eval_specs(), *holdout_spec(self)]

    def extra_eval_specs(self) -> list[SetSpec]:
        return [s for s in super().extra_eval_specs() if s.name != "idontknow"]

    def read_rows(self, path: Path) -> list[dict[str, Any]]:
        if path.stem == "idontknow":
            return [{"text": line} for line in self.refusals()]
        return super().read_rows(path)

    def split_kind(self, split: str, first_row: dict[str, Any], source: str) -> str:
        return "text" if split == "idontknow" else "qa"

    def refusals(self) -> list[str]:
        """TOFU's refusal answers (idontknow.jsonl: one sentence a line, not JSON)."""
        path = self.files.get("idontknow")
        if path is None:
            raise DataError(f"{self.path} has no idontknow.jsonl; add one (a refusal sentence a line)")
        return text_lines(path)


TOFU_HUB_CONFIGS = {
    "forget01": "forget01_perturbed",
    "forget05": "forget05_perturbed",
    "forget10": "forget10_perturbed",
    "retain90": "retain90",
    "retain95": "retain95",
    "retain99": "retain99",
    "retain_perturbed": "retain_perturbed",
    "real_authors_perturbed": "real_authors_perturbed",
    "world_facts_perturbed": "world_facts_perturbed",
}
# Newer versions of the hub dataset also hold authors never trained on (the holdout evaluation set);
# fetched when present.
TOFU_HUB_OPTIONAL = ("holdout01", "holdout05", "holdout10")


def download_tofu(repo: str, cache: str | Path | None = None) -> Path:
    """Write the hub dataset's configs as JSON files in the TOFU folder layout."""
    import json

    from unlearn.core.files import cache_dir

    folder = Path(cache or cache_dir() / repo.replace("/", "__"))
    if (folder / "forget10.json").is_file():
        return folder
    from unlearn.core.atomic import atomic_folder, disk_errors

    try:
        import datasets

        tables = {split: datasets.load_dataset(repo, config, split="train").to_list()
                  for split, config in TOFU_HUB_CONFIGS.items()}
        for split in TOFU_HUB_OPTIONAL:
            try:
                tables[split] = datasets.load_dataset(repo, split, split="train").to_list()
            except Exception:  # noqa: BLE001 - an older hub version without holdout sets
                pass
    except Exception as err:  # noqa: BLE001 - offline, unknown repo, ...
        raise DataError(
            f"cannot load TOFU from the hub ({repo!r}): {type(err).__name__}: {str(err).splitlines()[0]}; "
            "without network, set data.path to a local TOFU folder"
        ) from None
    # Written to a temporary folder and renamed: an interrupted download never looks complete.
    with disk_errors(f"the TOFU download to {folder}"), atomic_folder(folder) as tmp:
        for split, rows in tables.items():
            (tmp / f"{split}.json").write_text(json.dumps(rows, ensure_ascii=False))
    return folder
