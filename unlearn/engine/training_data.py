"""The training data of one run: each stream's records encoded, the samplers that draw their batches,
and the number of steps they make. A refreshed stream (e.g. BS_S's own answers) is encoded again in
place, so the step runner, which holds the same dicts, draws from the new version."""

from __future__ import annotations

import math
from typing import Any

from unlearn.config import TrainConfig
from unlearn.core.batching import IGNORE_INDEX
from unlearn.core.errors import ConfigError, UnlearnError
from unlearn.data.tokenize import PromptFormatter
from unlearn.engine.batches import BatchLayout, StreamSampler
from unlearn.engine.step import StepData
from unlearn.engine.streams import sampling_source
from unlearn.models.loading import ContextLimit


class TrainingData:
    """Built once the tokenizer is known and before the model is prepared: the reference caches its
    log-probs from `encoded`, and the scheduler needs `total_steps`."""

    def __init__(self, streams: list[str], records: dict[str, list[dict[str, Any]]], formatter: PromptFormatter,
                 limit: ContextLimit, train: TrainConfig, num_processes: int, pad_id: int, is_main: bool,
                 text_chunks: bool = True):
        self.formatter, self.limit, self.is_main, self.text_chunks = formatter, limit, is_main, text_chunks
        # Per stream: the records, their encoding, and each encoded record's number of target tokens.
        self.records: dict[str, list[dict[str, Any]]] = {}
        self.encoded: dict[str, list[dict[str, list[int]]]] = {}
        self.target_counts: dict[str, list[int]] = {}
        self.refreshed: dict[str, int] = {}  # the version of each refreshed stream encoded now
        for stream in streams:
            self.encode(stream, records[stream])
        primary = sampling_source(streams[0])
        samplers = _samplers(streams, self.encoded, train, primary)
        layout = BatchLayout(num_processes, train.grad_accum)
        self.n_primary = samplers[primary].n
        self.per_step = train.batch_size * layout.slices  # samples of the primary stream per optimizer step
        self.total_steps = train.max_steps if train.max_steps else math.ceil(train.epochs * self.n_primary
                                                                              / self.per_step)
        if self.total_steps < 1:
            raise ConfigError("training would run 0 steps; raise train.epochs or train.max_steps")
        self.batches = StepData(self.encoded, self.target_counts, samplers, layout, pad_id)

    def encode(self, stream: str, records: list[dict[str, Any]], report_cuts: bool = True) -> None:
        self.records[stream] = records
        before = len(self.formatter.cut_lengths)
        if self.text_chunks and records and all(r.get("raw") and not r["question"] for r in records):
            self.encoded[stream] = text_chunks(self.formatter.tokenizer, [r["answer"] for r in records],
                                               self.limit.tokens)
            report_cuts = False  # chunks are cut on purpose
        else:
            self.encoded[stream] = [self.formatter.encode_record(r, self.limit.tokens) for r in records]
        self.target_counts[stream] = [sum(1 for x in e["labels"][1:] if x != IGNORE_INDEX) for e in self.encoded[stream]]
        if report_cuts and self.is_main:
            self.limit.report(self.formatter.cut_lengths[before:], len(records), f"the {stream} data")

    def refresh(self, stream: str, records: list[dict[str, Any]], version: int) -> None:
        """Encode version `version` of a refreshed stream in place of the one before (reported once,
        when the run started)."""
        self.encode(stream, records, report_cuts=False)
        self.refreshed[stream] = version


def text_chunks(tokenizer: Any, documents: list[str], max_length: int) -> list[dict[str, list[int]]]:
    """A plain-text corpus as MUSE's training reads it ("MUSE: Machine Unlearning Six-Way Evaluation for
    Language Models", Shi et al., 2024; its DefaultDataset): the documents joined by a blank line and
    tokenised as one stream, cut into blocks of max_length - 1 tokens each opened by the tokenizer's bos
    (max_length tokens when it has none), the last block filled with the stream's first tokens. Every
    token after the bos is a target; no end token is added."""
    ids = tokenizer("\n\n".join(documents), add_special_tokens=False)["input_ids"]
    bos = tokenizer.bos_token_id
    size = max_length - 1 if bos is not None else max_length
    if size < 1 or not ids:
        return []
    blocks = [ids[i:i + size] for i in range(0, len(ids), size)]
    if len(blocks[-1]) < size:
        blocks[-1] = (blocks[-1] + ids * (size // len(ids) + 1))[:size]
    head = [bos] if bos is not None else []
    return [{"input_ids": head + b, "labels": [IGNORE_INDEX] * len(head) + b} for b in blocks]


def _samplers(streams: list[str], encoded: dict[str, list[dict[str, list[int]]]], train: TrainConfig,
              primary: str) -> dict[str, StreamSampler]:
    """One sampler per sampling source: streams aligned with another (same source) share its draws."""
    samplers: dict[str, StreamSampler] = {}
    for stream in streams:
        source = sampling_source(stream)
        if source not in samplers:
            size = train.batch_size if source == primary else (train.retain_batch_size or train.batch_size)
            samplers[source] = StreamSampler(len(encoded[stream]), size, train.seed, source)
        elif len(encoded[stream]) % samplers[source].n or not encoded[stream]:
            raise UnlearnError(f"stream {stream} has {len(encoded[stream])} samples but its source "
                               f"{source} has {samplers[source].n}; an aligned stream has K rows for each of its "
                               "source's rows")
    return samplers
