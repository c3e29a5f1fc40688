"""The synthetic benchmark: the folder `unlearn world` writes (:mod:`unlearn.data.world`).

It is in the layout of TOFU ("TOFU: A Task of Fictitious Unlearning for LLMs", Maini et al., 2024):
forgetXX / retainYY files of question-answer records of made-up people, `retain_perturbed` with a
paraphrased answer and a list of perturbed (wrong) answers, two general-knowledge sets
(general_places, general_things) in the role of TOFU's real authors and world facts, and holdoutXX
sets of people never trained on. The target model is fine-tuned on `full` (every trainable person)
and the general sets; `world.json` is the world's manifest, not an evaluation set.
"""

from __future__ import annotations

from dataclasses import dataclass

from unlearn.data.benchmarks.base import BENCHMARKS, Benchmark, SetSpec, holdout_spec


@BENCHMARKS.register("synthetic")
@dataclass
class SyntheticBenchmark(Benchmark):
    name = "synthetic"
    general_splits: tuple[str, ...] = ("general_places", "general_things")

    def _missing_folder_message(self) -> str:
        return (
            f"benchmark folder {self.path!r} does not exist; make one with "
            f"`unlearn world --out {self.path}` or set data.path"
        )

    def train_splits(self) -> list[str]:
        return ["full", *self.general_splits]

    def eval_specs(self) -> list[SetSpec]:
        return [*super().eval_specs(), *holdout_spec(self)]

    def extra_eval_specs(self) -> list[SetSpec]:
        return [s for s in super().extra_eval_specs() if s.name != "world"]  # world.json: the manifest
