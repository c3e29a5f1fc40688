"""Prefix/continuation pairs cut from documents by token counts: the completion records of the copyright
setting ("LLM Unlearning via Loss Adjustment with Only Forget Data", Wang et al., 2025, gives the model
200-token prefixes of Harry Potter and scores its completions against the true continuations).

A document is tokenised once (no special tokens); windows of `prefix_tokens + continuation_tokens`
tokens are taken every `stride` tokens (default: the window, so windows do not overlap), and each
window's two parts are decoded back to text: the prefix as the record's `question`, the continuation as
its `answer` (kind "completion", scored raw). A document shorter than one window gives no pair; the
counts say how many. The tokenizer is passed in (anything with `encode(text, add_special_tokens=False)`
and `decode(ids)`), so this layer loads no model.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable


@dataclass(frozen=True)
class CutCounts:
    documents: int
    pairs: int
    too_short: int
    """Documents shorter than one window (no pair)."""


class WhitespaceWords:
    """A "tokenizer" of whitespace-separated words, for cutting as FLAT's Harry Potter files were cut (200
    words, not model tokens): `--tokenizer words`. Decoding joins the words with single spaces."""

    def __init__(self) -> None:
        self.words: list[str] = []
        self.ids: dict[str, int] = {}

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        out = []
        for word in text.split():
            if word not in self.ids:
                self.ids[word] = len(self.words)
                self.words.append(word)
            out.append(self.ids[word])
        return out

    def decode(self, ids: list[int]) -> str:
        return " ".join(self.words[i] for i in ids)


def check_lengths(prefix_tokens: int, continuation_tokens: int, stride: int | None) -> None:
    for name, value in (("prefix_tokens", prefix_tokens), ("continuation_tokens", continuation_tokens)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive whole number of tokens, got {value!r}")
    if stride is not None and (not isinstance(stride, int) or stride < 1):
        raise ValueError(f"stride must be a positive whole number of tokens (or unset: the window), got {stride!r}")


def cut_document(ids: list[int], prefix_tokens: int, continuation_tokens: int,
                 stride: int | None = None) -> list[tuple[int, list[int], list[int]]]:
    """(start, prefix ids, continuation ids) windows of one tokenised document, in order."""
    check_lengths(prefix_tokens, continuation_tokens, stride)
    window = prefix_tokens + continuation_tokens
    return [(start, ids[start:start + prefix_tokens], ids[start + prefix_tokens:start + window])
            for start in range(0, len(ids) - window + 1, stride or window)]


def cut_completions(documents: Iterable[str], tokenizer: Any, prefix_tokens: int = 200,
                    continuation_tokens: int = 200, stride: int | None = None) -> tuple[list[dict[str, Any]], CutCounts]:
    """Completion records ({question: prefix text, answer: continuation text, document, start}) of every
    document, and the counts; `start` is the prefix's first token in its document."""
    check_lengths(prefix_tokens, continuation_tokens, stride)
    records: list[dict[str, Any]] = []
    n_docs = too_short = 0
    for d, text in enumerate(documents):
        n_docs += 1
        windows = cut_document(list(tokenizer.encode(text, add_special_tokens=False)), prefix_tokens,
                               continuation_tokens, stride)
        too_short += not windows
        records.extend({"question": tokenizer.decode(prefix), "answer": tokenizer.decode(cont), "document": d,
                        "start": start} for start, prefix, cont in windows)
    return records, CutCounts(n_docs, len(records), too_short)


SOURCES = ("forget", "retain", "holdout")
"""The document sets a completion folder cuts: forget (to unlearn), retain (to keep, trained on), holdout
(never trained on)."""


def read_documents(path: str | Path, option: str) -> list[str]:
    """A .txt file is one document; a folder gives one document per .txt file in it (sorted by name)."""
    from unlearn.core.errors import DataError
    from unlearn.data.formats import read_utf8

    p = Path(path)
    files = sorted(f for f in p.glob("*.txt") if f.is_file()) if p.is_dir() else [p]
    if p.is_dir() and not files:
        raise DataError(f"{option} {str(p)!r} holds no .txt files; put one document per .txt file in it")
    if not p.exists():
        raise DataError(f"{option} {str(p)!r} does not exist; give a .txt file or a folder of them")
    if p.is_file() and p.suffix.lower() != ".txt":
        raise DataError(f"{option} {str(p)!r} is not a .txt file; give plain text (a .txt file or a folder of them)")
    documents = [read_utf8(f).strip() for f in files]
    if not any(documents):
        raise DataError(f"{option} {str(p)!r} holds no text; put the document's text in it")
    return [d for d in documents if d]


def check_out(out: str | Path) -> None:
    """--out may be new, empty, or an earlier completions folder (replaced whole); anything else is kept."""
    from unlearn.core.errors import DataError

    p = Path(out)
    if p.exists() and not p.is_dir():
        raise DataError(f"--out {str(p)!r} is a file; give a folder for the completion pairs")
    if p.is_dir() and any(p.iterdir()) and not (p / "completions.json").is_file():
        raise DataError(f"--out {str(p)!r} already holds other files; give a new or empty folder (an earlier "
                        "`unlearn completions` folder is replaced)")


def write_completion_folder(out: str | Path, documents: dict[str, list[str]], tokenizer: Any, tokenizer_name: str,
                            prefix_tokens: int, continuation_tokens: int, stride: int | None = None,
                            general: list[str] | None = None) -> dict[str, Any]:
    """The folder `data.benchmark=completion` reads: SET.jsonl ({prompt, continuation, document, start}:
    what training and evaluation read) and documents/SET.txt (the source documents, a blank line between
    them) for each set of `documents`, general.txt when given, and completions.json (the manifest:
    tokenizer, lengths, counts). Written to a temporary sibling and moved into place whole."""
    from unlearn.core.atomic import commit_folder, temp_sibling, write_json
    from unlearn.core.errors import DataError

    check_lengths(prefix_tokens, continuation_tokens, stride)
    check_out(out)
    tmp = temp_sibling(out)
    shutil.rmtree(tmp, ignore_errors=True)  # left by a killed run
    (tmp / "documents").mkdir(parents=True)
    counts: dict[str, dict[str, int]] = {}
    for name, docs in documents.items():
        records, cut = cut_completions(docs, tokenizer, prefix_tokens, continuation_tokens, stride)
        if not records:
            raise DataError(f"the {name} documents give no prefix/continuation pair of {prefix_tokens} + "
                            f"{continuation_tokens} tokens (every one is shorter); lower --prefix-tokens or "
                            "--continuation-tokens, or give longer documents")
        (tmp / "documents" / f"{name}.txt").write_text("\n\n".join(docs) + "\n")
        with open(tmp / f"{name}.jsonl", "w") as f:
            for r in records:
                f.write(json.dumps({"prompt": r["question"], "continuation": r["answer"], "document": r["document"],
                                    "start": r["start"]}) + "\n")
        counts[name] = {"documents": cut.documents, "pairs": cut.pairs, "too_short": cut.too_short}
    if general:
        (tmp / "general.txt").write_text("\n\n".join(general) + "\n")
    manifest = {"tokenizer": tokenizer_name, "prefix_tokens": prefix_tokens, "continuation_tokens": continuation_tokens,
                "stride": stride or prefix_tokens + continuation_tokens, "sets": counts,
                "general_documents": len(general or [])}
    write_json(tmp / "completions.json", manifest)
    commit_folder(tmp, out)
    return manifest
