"""Example answers side by side (from samples.jsonl), and where every entry came from (run.json)."""

from __future__ import annotations

import json

from unlearn.report.document import Section, Table
from unlearn.report.entries import Entry

QUESTIONS = {"forget": 3, "retain": 2}
"""How many questions of the first set of each role: enough to see forgetting and collapse, few enough
to read."""
ANSWER_CHARS = 200


def examples_section(entries: list[Entry]) -> Section | None:
    """The first questions of each set, each model's answer to them. Answers are matched by sample id
    (by question for older files), never by position, so models evaluated on other slices line up."""
    tables = []
    roles = {name: role for e in entries for name, role in e.roles.items()}
    for role, count in QUESTIONS.items():
        # the first set of the role (forget10, verbmem_forget, ...); a set named for it in older files
        split = next((name for name, r in roles.items() if r == role), role)
        by_model = {e.name: {s.get("id", s.get("question")): s for s in e.samples if s.get("set") == split}
                    for e in entries if e.samples}
        first = next((rows for rows in by_model.values() if rows), {})
        for key, sample in list(first.items())[:count]:
            rows = [[name, (rows[key].get("generation", "")[:ANSWER_CHARS] or "(empty)") if key in rows
                     else "(not evaluated)"] for name, rows in by_model.items()]
            asked = sample.get("question", sample.get("text", ""))
            question = f"**{split}:** {asked} (true answer: {sample.get('answer', '')})"
            tables.append(Table(["model", "answer"], rows, question, text_columns=2))
    if not tables:
        return None
    return Section("examples", "Example answers, before and after",
                   ["Greedy answers of every model to the first questions of the forget and retain sets."],
                   tables=tables)


def provenance_section(entries: list[Entry]) -> Section:
    """What ran, with which library versions, on which data; the full config folded away in the HTML."""
    rows, details = [], []
    for e in entries:
        info = e.extra.get("run", {})
        rows.append([e.name, str(e.folder), info.get("command", "no run.json: an evaluation folder")])
        if info:
            versions = ", ".join(f"{k} {v}" for k, v in info.get("versions", {}).items())
            hashes = "\n".join(f"{k}: {v}" for k, v in info.get("data_hashes", {}).items())
            details.append((f"{e.name} ({e.folder})",
                            f"{versions}\n\n{hashes}\n\n{json.dumps(info.get('config', {}), indent=1)}"))
    return Section("provenance", "Provenance", tables=[Table(["model", "folder", "command"], rows, text_columns=3)],
                   details=details)
