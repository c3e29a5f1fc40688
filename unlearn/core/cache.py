"""An evaluation cache that cannot go stale.

What a pass computed for one sample is stored under a key made of everything it depends on:
- the fingerprint of the model's weights (a hash of every tensor's name, dtype, shape and bytes; so a
  retrained model, one changed weight, or the same weights in bfloat16 is another model),
- the pass's definition and settings (its version, max_new_tokens, the stop ids, ...),
- the sample's own tokens (which cover the data file's content, the prompt template and the tokenizer).
Metrics are pure functions of these cached outputs and are recomputed on every evaluation, so a changed
metric definition is never served an old value; parts that run another model (a scorer, an NLI model)
key their cache by that model's fingerprint and their own definition too.

Rows are appended to a JSON-lines file after every batch: an evaluation killed halfway resumes
where it stopped, and a torn last line (a kill mid-write) is ignored.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Iterable

import torch


def digest(obj: Any) -> str:
    """A stable hex digest of a JSON-serialisable object."""
    return hashlib.blake2b(json.dumps(obj, sort_keys=True, ensure_ascii=False).encode(), digest_size=16).hexdigest()


def model_fingerprint(model: torch.nn.Module) -> str:
    """Hash of every tensor of the model's state dict (names, dtypes, shapes and bytes). A quantised
    model's entries (quantised tensors with their scales, packed tuples, dtypes) are hashed too."""
    h = hashlib.blake2b(digest_size=16)
    for name, value in model.state_dict().items():
        _hash_entry(h, name, value)
    return h.hexdigest()


def _hash_entry(h: Any, name: str, value: Any) -> None:
    if isinstance(value, (tuple, list)):
        for i, item in enumerate(value):
            _hash_entry(h, f"{name}.{i}", item)
    elif isinstance(value, torch.Tensor):
        t = value.detach()
        if t.is_quantized:
            scale = t.q_per_channel_scales().tolist() if t.qscheme() in (torch.per_channel_affine,
                                                                          torch.per_channel_symmetric) else t.q_scale()
            h.update(f"{name}|{t.dtype}|{scale}|".encode())
            t = t.int_repr()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.contiguous().cpu().reshape(-1).view(torch.uint8).numpy().tobytes())
    else:
        h.update(f"{name}|{value!r}|".encode())


class PassCache:
    """Per-sample results of one pass of one model under fixed settings, keyed by sample id.

    `folder=None` disables caching (nothing is read or written); `writer=False` reads the file but keeps new
    results in memory (the processes of a launch other than the main one: the file is written once)."""

    def __init__(self, folder: str | Path | None, namespace: dict[str, Any], writer: bool = True):
        self.namespace, self.writer = namespace, writer
        self.path = None if folder is None else Path(folder) / f"{digest(namespace)}.jsonl"
        self.rows: dict[str, Any] = {}
        if self.path is not None and self.path.is_file():
            self.rows = _read_rows(self.path)

    def get(self, sample_id: str) -> Any:
        return self.rows.get(sample_id)

    def __contains__(self, sample_id: str) -> bool:
        return sample_id in self.rows

    def add(self, items: Iterable[tuple[str, Any]]) -> None:
        """Store results and append them to disk at once (flushed, so a kill loses at most this batch)."""
        items = [(k, v) for k, v in items if k not in self.rows]
        if not items:
            return
        self.rows.update(items)
        if self.path is None or not self.writer:
            return
        from unlearn.core.atomic import disk_errors

        with disk_errors(f"the evaluation cache {self.path.parent}"):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            header = not self.path.exists()
            torn = not header and _ends_torn(self.path)
            with open(self.path, "a", encoding="utf-8") as f:
                if torn:  # end a line a kill left unfinished, so the new rows parse
                    f.write("\n")
                if header:
                    f.write(json.dumps({"namespace": self.namespace}, ensure_ascii=False) + "\n")
                f.write("".join(json.dumps({"id": k, "value": v}, ensure_ascii=False) + "\n" for k, v in items))
                f.flush()
                os.fsync(f.fileno())


def _read_rows(path: Path) -> dict[str, Any]:
    from unlearn.core.files import parse_json_lines

    # a line torn by a kill is left out, and its sample recomputed
    entries = parse_json_lines(path.read_text(encoding="utf-8"), path, "", skip_invalid=True)
    return {e["id"]: e["value"] for e in entries if isinstance(e, dict) and "id" in e and "value" in e}


def _ends_torn(path: Path) -> bool:
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        if f.tell() == 0:
            return False
        f.seek(-1, os.SEEK_END)
        return f.read(1) != b"\n"
