"""`unlearn ask`: what models answer, side by side, before reading any metric.

Each model (a model folder, `PATH#FILE.gguf`, or a run folder, whose `model/` is used) answers every
question greedily, with the prompt built as evaluation builds it (the chat template when the tokenizer
has one, else data.template) and generation stopped at its end tokens. Questions come from the command
line, a file (one question a line, or a data file with a question field), or a data set's split.
Models are loaded one at a time.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from unlearn.config import RunConfig
from unlearn.core.errors import ConfigError, DataError


def question_records(cfg: RunConfig, questions: list[str] = (), file: str | None = None,
                     split: str | None = None) -> list[dict[str, Any]]:
    """The questions to ask, as records with a `question` (and the reference `answer` when a data set
    gives one). Checked before any model loads."""
    records = [{"question": q} for q in questions if q.strip()]
    if file:
        records += _from_file(file)
    if split:
        from unlearn.data.benchmarks import benchmark_from_config

        bench = benchmark_from_config(cfg.data)
        for data in bench.eval_data([split]):
            if data.kind not in ("qa", "completion"):
                raise ConfigError(f"--split {split}: its records are {data.kind} records, not questions; "
                                  "name a question/answer split (e.g. forget10, retain90)")
            records += [{"question": str(r["question"]), "answer": str(r["answer"]),
                         **({"raw": True} if data.kind == "completion" else {}),
                         **({"context": r["context"]} if r.get("context") else {})} for r in data.records]
    if not records:
        raise ConfigError("nothing to ask: give questions (--question TEXT, repeatable), --questions FILE or "
                          "--split NAME with data.path")
    return records


def _from_file(file: str) -> list[dict[str, Any]]:
    from unlearn.core.files import text_lines
    from unlearn.data.formats import SUFFIXES, read_records, require_fields

    path = Path(file)
    if not path.is_file():
        raise DataError(f"--questions {file}: no such file; give a text file with one question a line, or a "
                        "data file with a question field")
    if path.suffix in SUFFIXES and path.suffix != ".txt":
        rows = read_records(path, "--questions")
        require_fields(rows, ("question",), path)
        return [{"question": str(r["question"]), **({"answer": str(r["answer"])} if "answer" in r else {})}
                for r in rows]
    return [{"question": line} for line in text_lines(path)]


def model_label(spec: str) -> str:
    """The name a model's answers go under: its run folder's name, else its folder's name; a sweep's
    seed folder (runs/.../LLMU/seed0) goes under its method with the seed ("LLMU seed0")."""
    from unlearn.models.loading import model_spec

    path = Path(model_spec(spec)[0])
    if path.name == "model" and (path.parent / "config.yaml").is_file():
        path = path.parent
    return f"{path.parent.name} {path.name}" if re.fullmatch(r"seed\d+", path.name) else path.name


def model_folder(spec: str) -> str:
    """A run folder means its saved model (RUN/model); anything else is used as given."""
    from unlearn.models.loading import model_spec

    path, gguf = model_spec(spec)
    if (Path(path) / "model").is_dir() and (Path(path) / "config.yaml").is_file():
        return str(Path(path) / "model")
    return spec if gguf is None else f"{path}#{gguf}"


def check_models(cfg: RunConfig, specs: list[str]) -> list[str]:
    """Each model's folder (a run folder's model/), checked before any is loaded."""
    from unlearn.models.loading import check_model_files, model_spec

    if not specs:
        raise ConfigError("name at least one model: a model folder, PATH#FILE.gguf or a run folder")
    folders = [model_folder(s) for s in specs]
    for folder in folders:
        path, gguf = model_spec(folder)
        check_model_files(replace(cfg.model, path=path, tokenizer=None, gguf_file=gguf))
    return folders


def answers(cfg: RunConfig, specs: list[str], records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every record with `answers`: {model label: its greedy answer}, models in the given order."""
    from unlearn.core.device import device
    from unlearn.data.tokenize import PromptFormatter
    from unlearn.models import load_model, load_tokenizer
    from unlearn.models.generation import generate_texts
    from unlearn.models.loading import model_spec

    rows = [{**r, "answers": {}} for r in records]
    labels = _unique([model_label(s) for s in specs])
    for spec, folder, label in zip(specs, check_models(cfg, specs), labels):
        path, gguf = model_spec(folder)
        model_cfg = replace(cfg.model, path=path, tokenizer=None, gguf_file=gguf)
        tokenizer, model = load_tokenizer(model_cfg), load_model(model_cfg).eval().to(device())
        formatter = PromptFormatter(tokenizer, cfg.data.template, cfg.data.chat_template)
        # as evaluation prompts them: a text prefix raw, a question in the template (after its context)
        prompts = [formatter.prompt_ids_raw(r["question"]) if r.get("raw") else
                   formatter.prompt_ids(r["question"], r.get("context", "")) for r in records]
        texts = generate_texts(model, tokenizer, prompts, cfg.eval.batch_size, cfg.eval.max_new_tokens,
                               [formatter.end_token_id])
        for row, text in zip(rows, texts):
            row["answers"][label] = text
        del model
    return rows


def _unique(labels: list[str]) -> list[str]:
    """Labels made unique in order (a, a -> a, a#2)."""
    out: list[str] = []
    for label in labels:
        n, candidate = 1, label
        while candidate in out:
            n += 1
            candidate = f"{label}#{n}"
        out.append(candidate)
    return out


def answers_text(rows: list[dict[str, Any]], width: int = 100) -> str:
    """Each question, its reference answer when known, then every model's answer on its own line."""
    lines = []
    for i, row in enumerate(rows, 1):
        lines.append(f"Q{i}: {row['question']}")
        if "answer" in row:
            lines.append(f"  {'(reference)':<14} {_one_line(row['answer'], width)}")
        for label, text in row["answers"].items():
            lines.append(f"  {label[:14]:<14} {_one_line(text, width) or '(empty)'}")
        lines.append("")
    return "\n".join(lines).rstrip("\n")


def _one_line(text: str, width: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[:width - 1] + "…"
