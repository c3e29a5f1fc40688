"""The harm benchmark: unlearning harmful responses, the setting of "Large Language Model Unlearning"
(Yao et al., 2024), whose forget data are harmful prompts with harmful responses (PKU-SafeRLHF), whose
normal data keep ordinary behaviour (TruthfulQA), and whose result is the harmful rate on harmful
prompts never trained on.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from unlearn.core.errors import DataError
from unlearn.data.benchmarks.base import BENCHMARKS, Benchmark, ForgetAndRetain, SetSpec


@BENCHMARKS.register("harm")
@dataclass
class HarmBenchmark(ForgetAndRetain, Benchmark):
    """Harmful-response unlearning from one folder (JSON, JSON lines, CSV or Parquet files):

    forget.*       harmful prompts with the harmful responses to unlearn (red-team logs, PKU-SafeRLHF)
    normal.*       ordinary prompts with ordinary answers, the behaviour to keep (retain.* works too)
    unseen.*       harmful prompts never trained on, with a response (e.g. AdvBench's target), where the
                   harmful rate shows whether unlearning generalises (optional, strongly advised)
    normal_eval.*  ordinary prompts never trained on, with reference answers (optional)

    Columns `prompt` and `response` (data.columns renames them, e.g. {question: goal, answer: target}).
    Evaluation sets: forget and unseen (role forget: the harmful rate), normal (role retain) and
    normal_eval (role holdout): the refusal rate and ROUGE-L of ordinary answers. The project ships a
    small folder built from AdvBench and TruthfulQA in examples/harm/data. `data.path=PKU-Alignment/PKU-SafeRLHF`
    (a hub name, needs network) writes LLMU's data into a cache folder first (:func:`download_harm`)."""

    name = "harm"
    uses_columns: ClassVar[bool] = True
    suites: ClassVar[tuple[str, ...]] = ("harm",)
    default_columns: ClassVar[dict[str, dict[str, str]]] = {"qa": {"question": "prompt", "answer": "response"}}
    NAMES: ClassVar[dict[str, tuple[str, ...]]] = {"retain": ("normal", "retain")}

    def __post_init__(self) -> None:
        if not Path(self.path).is_dir() and "/" in self.path and not self.path.startswith((".", "/")):
            self.path = str(download_harm(self.path))
        if self.forget_name == "forget10":
            self.forget_split = "forget" + self.forget_split.removeprefix("forget10")
        super().__post_init__()
        if not any(n in self.files for n in self.NAMES["retain"]):
            raise DataError(f"{self.path} has no normal file; add normal.csv (or .json, .jsonl, .parquet) with "
                            "prompt and response columns: ordinary prompts whose answers must stay")

    def split_files(self, split: str) -> list[Path]:
        if split in self.NAMES:
            split = next(n for n in self.NAMES[split] if n in self.files)
        return super().split_files(split)

    def eval_specs(self) -> list[SetSpec]:
        specs = [SetSpec("forget", self.forget_split, "forget")]
        if "unseen" in self.files:
            specs.append(SetSpec("unseen", "unseen", "forget"))
        specs.append(SetSpec("normal", "retain", "retain"))
        if "normal_eval" in self.files:
            specs.append(SetSpec("normal_eval", "normal_eval", "holdout"))
        return specs

    def extra_eval_specs(self) -> list[SetSpec]:
        roles = {"unseen": "forget", "normal": "retain", "retain": "retain", "normal_eval": "holdout"}
        return [SetSpec(s, s, "forget" if s.startswith("forget") else roles.get(s, "general"))
                for s in sorted(self.files)]


HUB_NORMAL = "truthfulqa/truthful_qa"
HUB_ROWS = {"forget": 1000, "unseen": 500}
"""Unsafe (prompt, response) pairs taken from the hub's train split (forget) and test split (unseen)."""


def unsafe_pairs(rows: list[dict], limit: int) -> list[dict[str, str]]:
    """(prompt, response) of PKU-SafeRLHF rows whose response_i is marked unsafe (is_response_i_safe false),
    each prompt once, in the table's order, at most `limit`."""
    out, seen = [], set()
    for row in rows:
        if len(out) >= limit:
            break
        for i in (0, 1):
            if row.get(f"is_response_{i}_safe") is False and row["prompt"] not in seen:
                seen.add(row["prompt"])
                out.append({"prompt": row["prompt"], "response": row[f"response_{i}"]})
                break
    return out


def download_harm(repo: str, cache: str | Path | None = None) -> Path:
    """LLMU's setting from the hub, written in the harm layout: unsafe responses of `repo` (PKU-SafeRLHF)
    as forget (train split) and unseen (test split), TruthfulQA's questions with their best answers as
    normal and normal_eval (each half of its validation split)."""
    import json

    from unlearn.core.atomic import atomic_folder, disk_errors
    from unlearn.core.files import cache_dir

    folder = Path(cache or cache_dir() / repo.replace("/", "__"))
    if (folder / "forget.jsonl").is_file():
        return folder
    try:
        import datasets

        train = datasets.load_dataset(repo, split="train").to_list()
        test = datasets.load_dataset(repo, split="test").to_list()
        normal = datasets.load_dataset(HUB_NORMAL, "generation", split="validation").to_list()
    except Exception as err:  # noqa: BLE001 - offline, unknown repo, ...
        raise DataError(f"cannot load the harm data from the hub ({repo!r}, {HUB_NORMAL!r}): {type(err).__name__}: "
                        f"{str(err).splitlines()[0]}; without network, set data.path to a local harm folder "
                        "(examples/harm/data is one)") from None
    qa = [{"prompt": r["question"], "response": r["best_answer"]} for r in normal]
    sets = {"forget": unsafe_pairs(train, HUB_ROWS["forget"]), "unseen": unsafe_pairs(test, HUB_ROWS["unseen"]),
            "normal": qa[: len(qa) // 2], "normal_eval": qa[len(qa) // 2:]}
    with disk_errors(f"the harm download to {folder}"), atomic_folder(folder) as tmp:
        for name, rows in sets.items():
            (tmp / f"{name}.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return folder
