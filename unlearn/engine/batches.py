"""Deterministic global batches, split over micro-batches and processes.

A step's global batch of a stream is positions [step * G, (step + 1) * G) of an endless sequence of
seeded permutations (G = per-device batch x processes x accumulation steps). Micro-batch m of
process r takes the slice (m * world + r) of it, so batch 8 on one process, 4 x 2 accumulation steps
and 2 processes x 4 all see the same global batch; a resumed run sees exactly the batches an
uninterrupted run would. Derived streams use their source's sampler, so their rows line up.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from functools import lru_cache

import torch


class StreamSampler:
    """Sample position p maps to permutation p // n of the stream (seeded by seed, stream name and
    cycle), at offset p % n, so batches stay full across epoch ends."""

    def __init__(self, n: int, batch_size: int, seed: int, name: str):
        self.n, self.batch_size = n, batch_size
        self.salt = zlib.crc32(name.encode()) ^ (seed * 1_000_003)

    @lru_cache(maxsize=4)
    def _perm(self, cycle: int) -> list[int]:
        g = torch.Generator().manual_seed(self.salt + cycle)
        return torch.randperm(self.n, generator=g).tolist()

    def _positions(self, start: int, count: int) -> list[int]:
        return [self._perm(p // self.n)[p % self.n] for p in range(start, start + count)]

    def indices(self, step: int, micro: int, rank: int, layout: "BatchLayout") -> list[int]:
        """This process's micro-batch."""
        start = step * self.batch_size * layout.slices + (micro * layout.world + rank) * self.batch_size
        return self._positions(start, self.batch_size)

    def global_indices(self, step: int, layout: "BatchLayout") -> list[int]:
        """Every sample of the step's global batch (all micro-batches of all processes)."""
        per_step = self.batch_size * layout.slices
        return self._positions(step * per_step, per_step)


@dataclass(frozen=True)
class BatchLayout:
    world: int
    accum: int

    @property
    def slices(self) -> int:
        return self.world * self.accum


def global_unit_count(unit: str, indices: list[int], target_counts: list[int], skip: int = 0) -> int:
    """Units a term's loss is averaged over in one global batch: target tokens (less the first `skip`
    of each sample, for a term that leaves them out) or sequences."""
    if unit == "sequence":
        return len(indices)
    if unit == "token":
        return sum(max(0, target_counts[i] - skip) for i in indices)
    raise ValueError(f"unknown loss unit {unit!r}")
