"""One optimizer step: forward passes, the method's loss, backward per gradient group, transforms.

Normalisation (the old `num_items_in_batch` bug, fixed): each term returns the sum of its loss over
its units in a micro-batch; it is divided by the number of units in the *global* batch (all
micro-batches of all processes, known in advance from the deterministic sampler). Accelerate divides
the backward loss by the accumulation steps and DDP averages gradients over processes, so the loss
handed to backward is multiplied by both: the applied gradient is then exactly that of the global
mean, however the global batch is split.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from unlearn.core.batching import IGNORE_INDEX, collate
from unlearn.core.cost import CostMeter
from unlearn.core.errors import TrainingDiverged
from unlearn.engine.batches import BatchLayout, StreamSampler, global_unit_count
from unlearn.engine.forward import forward_with_hidden
from unlearn.engine.reference import Reference
from unlearn.engine.sharding import local_norm
from unlearn.engine.streams import sampling_source
from unlearn.losses.logprobs import token_logps_from_logits
from unlearn.methods.base import Method, Needs, Outputs, TokenLoss, WeightedTerm, weighted_loss


def forward_streams(model: torch.nn.Module, batches: dict[str, dict[str, torch.Tensor]], needs: dict[str, Needs],
                    reference: Reference | None) -> dict[str, Outputs]:
    """The Outputs of every stream from ONE forward pass of the model over their batches stacked (right-padded
    to the longest; padding changes no real position's output under a causal mask), each stream's part cut
    back to its own length, so its values are those of a pass of its own. One pass instead of one per stream
    saves the per-call overhead and runs larger matrix products. Reference passes stay one per stream (a
    cached reference looks its rows up by stream)."""
    streams = list(batches)
    joint = batches[streams[0]] if len(streams) == 1 else collate_padded([batches[s] for s in streams])
    layers = tuple(sorted({layer for s in streams for layer in needs[s].hidden_layers}))
    result, hidden = forward_with_hidden(model, joint, layers)
    outs, first = {}, 0
    for s in streams:
        batch = batches[s]
        rows, length = slice(first, first + batch["input_ids"].shape[0]), batch["input_ids"].shape[1]
        first = rows.stop
        logits = result.logits[rows, :length]
        token_logps, target_mask = token_logps_from_logits(logits, batch["labels"])
        target_ids = batch["labels"][:, 1:].masked_fill(~target_mask, 0)
        out = Outputs(token_logps=token_logps, target_mask=target_mask, target_ids=target_ids, index=batch["index"])
        if needs[s].logits:
            out.logits = logits[:, :-1, :]
        out.hidden = {layer: hidden[layer][rows, :length] for layer in needs[s].hidden_layers}
        if needs[s].reference:
            assert reference is not None, "a term needs the reference model but the method has none"
            for name, value in reference.outputs(s, batch, needs[s]).items():
                setattr(out, name, value)
        outs[s] = out
    return outs


def collate_padded(batches: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Batches stacked along the batch dimension, each right-padded to the longest (pad ids are never read:
    the attention mask is 0 and the label IGNORE_INDEX there)."""
    width = max(b["input_ids"].shape[1] for b in batches)

    def padded(key: str, fill: int) -> torch.Tensor:
        return torch.cat([torch.nn.functional.pad(b[key], (0, width - b[key].shape[1]), value=fill)
                          for b in batches])

    return {"input_ids": padded("input_ids", 0), "attention_mask": padded("attention_mask", 0),
            "labels": padded("labels", IGNORE_INDEX)}


def finite_everywhere(accelerator: Any, value: torch.Tensor) -> bool:
    flag = torch.tensor([1.0 if bool(torch.isfinite(value).all()) else 0.0], device=accelerator.device)
    if accelerator.num_processes > 1:
        flag = accelerator.reduce(flag, reduction="sum") / accelerator.num_processes
    return bool(flag.item() == 1.0)


@dataclass
class StepData:
    """The encoded streams and how their batches are drawn."""

    encoded: dict[str, list[dict[str, list[int]]]]
    target_counts: dict[str, list[int]]
    samplers: dict[str, StreamSampler]
    layout: BatchLayout
    pad_id: int

    def sampler(self, stream: str) -> StreamSampler:
        return self.samplers[sampling_source(stream)]

    def rows(self, stream: str, indices: list[int]) -> list[int]:
        """The stream's rows for the sampler's draws: the same rows, or, for an aligned stream with K rows per
        row of its source (LLMU's K random answers to each forget question, data.mismatch_answers), the K
        consecutive rows of each drawn source row."""
        per = len(self.encoded[stream]) // self.sampler(stream).n
        return indices if per == 1 else [i * per + j for i in indices for j in range(per)]

    def batch(self, stream: str, step: int, micro: int, rank: int, device: Any) -> dict[str, torch.Tensor]:
        idx = self.rows(stream, self.sampler(stream).indices(step, micro, rank, self.layout))
        batch = collate([self.encoded[stream][i] for i in idx], self.pad_id)
        batch["index"] = torch.tensor(idx)
        return {k: v.to(device) for k, v in batch.items()}

    def unit_count(self, term: WeightedTerm, step: int) -> int:
        stream = term.term.streams[0]
        indices = self.rows(stream, self.sampler(stream).global_indices(step, self.layout))
        skip = term.term.skipped_tokens() if isinstance(term.term, TokenLoss) else 0
        return max(1, global_unit_count(term.term.unit, indices, self.target_counts[stream], skip))


class StepRunner:
    """Runs optimizer steps of one method on one prepared model."""

    def __init__(self, accelerator: Any, model: torch.nn.Module, method: Method, data: StepData,
                 reference: Reference | None, trainable: list[torch.nn.Parameter], max_grad_norm: float | None,
                 meter: CostMeter | None = None):
        self.acc, self.model, self.method, self.data = accelerator, model, method, data
        self.reference, self.trainable, self.max_grad_norm = reference, trainable, max_grad_norm
        self.meter = meter or CostMeter()

    def _group_loss(self, group: str, step: int, micro: int, counts: dict[str, int],
                    logged: dict[str, torch.Tensor]) -> torch.Tensor:
        terms = self.method.group_terms(group)
        streams = list(dict.fromkeys(s for t in terms for s in t.term.streams))
        batches = {s: self.data.batch(s, step, micro, self.acc.process_index, self.acc.device) for s in streams}
        needs = {s: self.method.needs(s, terms) for s in streams}
        outs = forward_streams(self.model, batches, needs, self.reference)
        self.meter.count_forward("+".join(streams), {s: int(b["attention_mask"].sum()) for s, b in batches.items()},
                                 [s for s in streams if needs[s].reference and self.reference.runs_model])
        total, parts = weighted_loss(terms, outs, counts)
        for key, part in parts.items():
            logged[key] = logged.get(key, 0.0) + part.detach().float()
        return total

    def _backward(self, loss: torch.Tensor, step: int) -> None:
        if not finite_everywhere(self.acc, loss):
            raise TrainingDiverged(f"the loss became {float(loss.detach())} at step {step + 1}")
        # Undo Accelerate's division by the accumulation steps and DDP's mean over processes.
        self.acc.backward(loss * self.data.layout.slices)

    def run(self, step: int) -> dict[str, float]:
        """Forward, backward and gradient transforms of one step; the caller clips and steps."""
        groups = self.method.groups
        separate = bool(self.method.transforms)  # a transform sees each group's gradient on its own
        counts = {t.key: self.data.unit_count(t, step) for t in self.method.terms}
        logged: dict[str, torch.Tensor] = {}
        buffers: dict[str, list[torch.Tensor | None]] = {g: [None] * len(self.trainable) for g in groups}
        for micro in range(self.data.layout.accum):
            with self.acc.accumulate(self.model):
                for group in groups:
                    if separate:  # this group's gradient so far goes back in, to be added to
                        for p, g in zip(self.trainable, buffers[group]):
                            p.grad = g
                    self._backward(self._group_loss(group, step, micro, counts, logged), step)
                    self.meter.count_backward(group)
                    if separate:
                        buffers[group] = [p.grad for p in self.trainable]
                        for p in self.trainable:
                            p.grad = None
        stats: dict[str, float] = {}
        if separate:
            grads = {g: [b if b is not None else torch.zeros_like(p) for b, p in zip(buffers[g], self.trainable)]
                     for g in groups}
            for transform in self.method.transforms:
                applied = transform.apply(grads, step)
                stats.update(transform.last_stats)
            for p, g in zip(self.trainable, applied):
                p.grad = g
        return {**self._reduce_logged(logged), **stats}

    def _reduce_logged(self, logged: dict[str, torch.Tensor]) -> dict[str, float]:
        """Each term's global mean (summed over processes) and the weighted total."""
        keys = [t.key for t in self.method.terms]
        values = torch.stack([torch.as_tensor(logged.get(k, 0.0), device=self.acc.device).float() for k in keys])
        if self.acc.num_processes > 1:
            values = self.acc.reduce(values, reduction="sum")
        means = dict(zip(keys, values.tolist()))
        out = {"loss": sum(t.weight * means[t.key] for t in self.method.terms)}
        out.update({f"{t.role}_{t.key}": means[t.key] for t in self.method.terms})
        return out

    def grad_norm(self) -> float | None:
        """Clip (when train.max_grad_norm is set) and return the total gradient norm (None under
        DeepSpeed, which clips inside its engine)."""
        limit = self.max_grad_norm if self.max_grad_norm else float("inf")
        norm = self.acc.clip_grad_norm_(self.trainable, limit)
        return None if norm is None else local_norm(norm)
