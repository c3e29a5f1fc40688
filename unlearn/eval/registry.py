"""What a metric is: what it needs, which data it applies to, how it aggregates, which way is better.

A `Metric` maps the per-sample outputs of an evaluation's shared passes (`SampleView`) to one value per
sample; its aggregate is the dataset's number. A `Derived` metric combines other metrics' results
(forget quality from truth ratios, PrivLeak from an AUC, model utility from nine numbers) and names
exactly the metrics it reads as its inputs: asking for it computes them. A `Suite` is a named list of
metrics, or a model-level check that another layer registers (the robustness probes). The evaluator
(`unlearn.eval.evaluator`) reads `needs` to decide which passes to run: one teacher-forced pass and one
generation pass per dataset serve every metric that asks for them.

The definitions live in `unlearn.eval.metrics`, one module per family; importing that package fills
these registries, so every consumer takes METRICS and DERIVED from there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from unlearn.core.registry import Registry

NEED_PASS = {
    "token_logps": "teacher_forced",     # per-token log-probs (and their sum / mean / lowest-k reductions)
    "dist_stats": "teacher_forced",      # full-distribution statistics (Min-K%++'s mean and variance)
    "argmax": "teacher_forced",          # argmax agreement with the target token
    "generation": "generation",          # greedy generation from the prompt
    "gradient": "gradient",              # per-sample gradient norm (one backward per sample)
    "prefix_generation": "prefix_generation",  # greedy generations from the prompt + k target tokens
    "reference_model": "reference",      # another model's per-token log-probs on the same sequences
    "scorer_model": "scorer",            # a fixed scorer model's log-probs of the generations
    "relearn_parts": "external",         # entity extractor, sentence embedder, NLI model
    "judge": "external",                 # a generator that rates fluency and relevance
}


@dataclass(frozen=True)
class Direction:
    """Which way is better: "higher", "lower", or "target" (closest to `target` is best)."""

    kind: str
    target: float | None = None

    def label(self) -> str:
        return f"closest to {self.target:g}" if self.kind == "target" else f"{self.kind} is better"

    def higher_is_better(self) -> bool | None:
        return {"higher": True, "lower": False}.get(self.kind)


HIGHER, LOWER = Direction("higher"), Direction("lower")

TOKEN_KINDS = ("qa", "completion", "text")
"""Record kinds whose answer (or text) is scored token by token: metrics of the scored sequence apply to all."""


def closest_to(value: float) -> Direction:
    return Direction("target", float(value))


def forget_lower(role: str) -> Direction:
    """Knowledge metrics: on the forget set lower is better, elsewhere higher."""
    return LOWER if role == "forget" else HIGHER


@dataclass
class SampleView:
    """Everything the passes produced for one record of one dataset."""

    index: int
    record: dict[str, Any]
    role: str
    kind: str
    sequences: dict[str, dict[str, list]] = field(default_factory=dict)
    """Teacher-forced statistics per scored sequence: "answer", "paraphrased", "perturbed/0", "choice/0", ..."""
    generation: str | None = None
    grad_norm: float | None = None
    reference: dict[str, list] | None = None
    """The reference model's statistics on the "answer" sequence."""
    scorer: dict[str, list] | None = None
    """The scorer model's statistics on the generation."""
    prefix_es: float | None = None
    """Extraction strength by greedy generation (binary search over the prefix length)."""
    cut_target: str | None = None
    """A completion record's true continuation cut to its first eval.verbmem_tokens tokens (VerbMem)."""

    def seqs(self, prefix: str) -> list[dict[str, list]]:
        keys = sorted((k for k in self.sequences if k.startswith(prefix + "/")), key=lambda k: int(k.split("/")[1]))
        return [self.sequences[k] for k in keys]

    def answer_stat(self, stat: str, ctx: Any = None) -> list:
        """A per-token statistic of the answer sequence; with eval.end_token=dropped (`ctx.end_token`) its
        last target token (the end token) is left out, as open-unlearning's per-token helpers do."""
        values = self.sequences["answer"][stat]
        return values[:-1] if getattr(ctx, "end_token", "scored") == "dropped" and len(values) > 1 else values

    @property
    def target_text(self) -> str:
        """The text whose tokens are scored as the answer: the answer, or the text of a text record."""
        return str(self.record.get("answer", self.record.get("text", "")))


Compute = Callable[[Sequence[SampleView], Any], list]


def mean_of(values: Sequence[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return sum(kept) / len(kept) if kept else None


@dataclass(frozen=True)
class Metric:
    name: str
    description: str
    needs: frozenset[str]
    kinds: tuple[str, ...]
    compute: Compute
    """(views of one dataset, evaluation context) -> one value per view (None where undefined)."""
    direction: Callable[[str], Direction] = forget_lower
    """Direction on a dataset of the given role."""
    roles: tuple[str, ...] | None = None
    sequences: tuple[str, ...] = ("answer",)
    """Teacher-forced sequences it reads when the records have them: answer, paraphrased, perturbed, choice."""
    requires_alternatives: bool = False
    """Only on datasets whose records carry a paraphrased answer and perturbed answers."""
    aggregate: Callable[[Sequence[Any]], float | None] | None = mean_of
    """None: per-sample values only (e.g. raw truth ratios, MIA scores), no dataset number."""
    paper: str = ""
    version: int = 1
    label: str = ""
    """Short name for tables and reports ("ROUGE-L"); the name when empty."""
    summarised_by: str | None = None
    """The derived metric that turns these per-sample scores into a number (a membership score's AUC);
    asking for the metric computes it too."""
    generation_tokens: str | None = None
    """The evaluation setting that sets its generations' length (MUSE: VerbMem "verbmem_tokens", KnowMem
    "knowmem_tokens"); None: eval.max_new_tokens. A set that several such metrics read uses the first's."""
    knowledge: int | None = None
    """On the forget set, +1: a higher value means more of the knowledge is there (ROUGE-L, prob); -1: less
    (the forget truth ratio, KFR); None: not a measure of knowledge (fluency, membership scores). Default:
    +1 for metrics whose direction is `forget_lower`."""

    def knowledge_sign(self) -> int | None:
        """+1, -1 or None (see `knowledge`): how the robustness probes read a value as knowledge."""
        if self.knowledge is not None:
            return self.knowledge
        return 1 if self.direction is forget_lower else None

    def applies(self, kind: str, role: str, alternatives: bool) -> bool:
        if kind not in self.kinds or (self.roles is not None and role not in self.roles):
            return False
        return alternatives or not self.requires_alternatives

    def passes(self) -> set[str]:
        return {NEED_PASS[n] for n in self.needs}


@dataclass(frozen=True)
class Derived:
    """A metric computed from other metrics' results (`inputs`), possibly across datasets and models."""

    name: str
    description: str
    inputs: tuple[str, ...]
    compute: Callable[[Any], dict[str, tuple[float | None, Direction]]]
    """(results) -> {result key: (value, direction)}."""
    paper: str = ""
    roles: tuple[str, ...] = ()
    """The roles of the datasets whose results it reads (model utility: retain and general sets)."""
    compares_reference: bool = False
    """It compares with the retain model's evaluation, which must then cover the same samples."""
    label: str = ""
    """Short name for tables and reports; the name when empty."""
    direction: Direction | None = None
    """Which way is better for its main result, when fixed (model utility: higher)."""


def result_key(dataset: str, metric: str) -> str:
    """Name of a dataset's aggregate: "<dataset>_<metric>", or the dataset's name alone when it already
    says the metric (MUSE's verbmem_forget with VerbMem)."""
    return dataset if dataset.startswith(metric + "_") else f"{dataset}_{metric}"


@dataclass(frozen=True)
class Suite:
    """A named evaluation: metrics and derived metrics computed on every dataset they apply to, or a
    model-level check (`on_model(cfg, model_path)` -> {key: (value, direction, note)}) run after them,
    registered by the layer that owns it (`unlearn.evidence.suites` registers the robustness probes)."""

    name: str
    description: str
    metrics: tuple[str, ...] = ()
    derived: tuple[str, ...] = ()
    with_reference_model: tuple[str, ...] = ()
    """Metrics it adds when eval.reference_model names a reference model (the reference attack)."""
    with_judge: tuple[str, ...] = ()
    """Metrics it adds when eval.judge_model names a judge (the harm suite's judged rates)."""
    on_model: Callable[..., dict[str, tuple[float | None, Direction, str | None]]] | None = None
    needs_original: bool = False
    """on_model compares with the model before unlearning (eval.original_model)."""


METRICS: Registry[Metric] = Registry("metric")
DERIVED: Registry[Derived] = Registry("derived metric")
SUITES: Registry[Suite] = Registry("suite")


def metric(m: Metric) -> Metric:
    METRICS.add(m.name, m)
    return m


def derived(d: Derived) -> Derived:
    DERIVED.add(d.name, d)
    return d


def suite(s: Suite) -> Suite:
    SUITES.add(s.name, s)
    return s


def label_of(name: str) -> str:
    """A metric's or derived metric's short label for tables ("ROUGE-L"), or the name itself. Read once
    the definitions are loaded: import it from unlearn.eval.metrics, which loads them."""
    if name in METRICS:
        return METRICS.get(name).label or name
    if name in DERIVED:
        return DERIVED.get(name).label or name
    return name
