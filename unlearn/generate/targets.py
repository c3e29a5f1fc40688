"""Generated targets other than ReLearn's (SPEC 4.1), made by the same backends and passed through the
same privacy verification as ReLearn's answers (at most `max_rounds` rounds; what still leaks is
dropped and counted):

- ``alternatives``: a refusal written for each forget question, naming what kind of detail was asked:
  IdkDPO's preferred answer and IDK's target (``data.alternatives``). TOFU's IdkDPO draws from a fixed
  list of refusals ("TOFU: A Task of Fictitious Unlearning for LLMs", Maini et al., 2024); a generated
  one is specific to its question.
- ``reasoning``: a short chain of reasoning that ends in an explained refusal, TRU's target
  (``data.targets``; "Explainable LLM Unlearning through Reasoning", Liao et al., 2025).
"""

from __future__ import annotations

from typing import Any, Sequence

from unlearn.generate.relearn_pipeline import CHUNK, AugmentConfig, call_counts, load_prompts, verified_answers

KINDS = {"alternatives": "refusal", "reasoning": "reasoning_refusal"}


def generate_targets(records: Sequence[dict[str, Any]], generator: Any, kind: str,
                     cfg: AugmentConfig | None = None, progress: Any = None) -> tuple[list[dict], dict[str, Any]]:
    """One verified target per forget record (rows with provenance) and a summary."""
    cfg = cfg or AugmentConfig()
    prompts = load_prompts(cfg.prompts)
    task = KINDS[kind]
    rows: list[dict[str, Any]] = []
    dropped = 0
    for start in range(0, len(records), CHUNK):
        chunk = records[start:start + CHUNK]
        pairs = [(str(r["question"]), str(r["answer"])) for r in chunk]
        for (question, _), (answer, rounds) in zip(pairs, verified_answers(generator, task, pairs, cfg, prompts)):
            if answer is None:
                dropped += 1
                continue
            rows.append({"question": question, "answer": answer, "kind": kind, "source_question": question,
                         "rounds": rounds, "generator": generator.name})
        if progress is not None:
            progress.update(len(chunk))
    summary = {"forget_records": len(records), "dropped_after_rounds": dropped, "rows": {kind: len(rows)},
               **call_counts(generator, cfg)}
    return rows, summary
