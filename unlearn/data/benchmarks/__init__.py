"""Benchmark adapters: which files hold which split, and what each evaluation set is for.

Every adapter reads its files into the canonical records of :mod:`unlearn.data.adapters`; the trainer
reads splits with :meth:`Benchmark.load` and the evaluator sets with :meth:`Benchmark.eval_data`.
One module per adapter, each registered in :data:`BENCHMARKS` under its name:

* synthetic and tofu (:mod:`.synthetic`, :mod:`.tofu`) read the TOFU layout ("TOFU: A Task of
  Fictitious Unlearning for LLMs", Maini et al., 2024): forgetXX / retainYY files of question-answer
  records, `*_perturbed` evaluation sets with a paraphrased answer and a list of perturbed (wrong)
  answers. The synthetic world (`unlearn world`) is written in that layout, with two
  general-knowledge sets in the role of TOFU's real authors and world facts, and holdout people
  never trained on.
* muse (:mod:`.muse`): a folder in the layout of MUSE ("MUSE: Machine Unlearning Six-Way Evaluation
  for Language Models", Shi et al., 2024).
* knowundo (:mod:`.knowundo`): KnowUnDo ("To Forget or Not? Towards Practical Knowledge Unlearning
  for Large Language Models", Tian et al., 2024).
* wmdp (:mod:`.wmdp`): multiple-choice sets in the format of WMDP ("The WMDP Benchmark: Measuring
  and Reducing Malicious Use With Unlearning", Li et al., 2024).
* harm (:mod:`.harm`): harmful prompts with harmful responses to unlearn, ordinary prompts to keep,
  and unseen harmful prompts for the harmful rate ("Large Language Model Unlearning", Yao et al., 2024).
* completion (:mod:`.completion`): a text cut into prefix/continuation pairs by `unlearn completions`,
  for copyrighted text ("LLM Unlearning via Loss Adjustment with Only Forget Data", Wang et al., 2025).
* custom (:mod:`.custom`): your own files, with your own column names (`data.columns`).

What they share -- the :class:`Benchmark` base class, the registry, :func:`load_benchmark` and
:func:`benchmark_from_config` -- lives in :mod:`.base`. Importing this package imports every adapter
module, so all of them are registered before any is looked up.

Split names may carry a slice everywhere a split is named: `forget10[:50%]`, `retain[100:200]`.
"""

from __future__ import annotations

from unlearn.data.benchmarks.base import (
    BENCHMARKS,
    QA_FIELDS,
    Benchmark,
    SetSpec,
    benchmark_from_config,
    load_benchmark,
    role_of,
)
from unlearn.data.benchmarks.synthetic import SyntheticBenchmark
from unlearn.data.benchmarks.tofu import TOFU_HUB_CONFIGS, TOFU_HUB_OPTIONAL, TofuBenchmark, download_tofu
from unlearn.data.benchmarks.custom import CustomBenchmark
from unlearn.data.benchmarks.muse import MuseBenchmark
from unlearn.data.benchmarks.knowundo import KnowUnDoBenchmark
from unlearn.data.benchmarks.wmdp import WmdpBenchmark
from unlearn.data.benchmarks.harm import HarmBenchmark
from unlearn.data.benchmarks.completion import CompletionBenchmark

__all__ = [
    "BENCHMARKS",
    "QA_FIELDS",
    "TOFU_HUB_CONFIGS",
    "TOFU_HUB_OPTIONAL",
    "Benchmark",
    "CompletionBenchmark",
    "CustomBenchmark",
    "HarmBenchmark",
    "KnowUnDoBenchmark",
    "MuseBenchmark",
    "SetSpec",
    "SyntheticBenchmark",
    "TofuBenchmark",
    "WmdpBenchmark",
    "benchmark_from_config",
    "download_tofu",
    "load_benchmark",
    "role_of",
]
