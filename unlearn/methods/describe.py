"""What `unlearn methods [NAME]` prints: the presets, or one preset's terms, streams, weights,
parameters (defaults and help), needs, reference strategy and paper; and docs/methods.md's table
(`unlearn methods --markdown`), from the same preset records."""

from __future__ import annotations

import dataclasses

from unlearn.config import MethodConfig, field_help
from unlearn.core.formatting import markdown_table
from unlearn.core.ranges import range_of
from unlearn.methods.base import TERMS, TRANSFORMS, Method, Needs
from unlearn.methods.presets import NAMED_TERMS, PRESETS, Doc, build_method
from unlearn.methods.reference import choose_strategy
from unlearn.methods.terms.representation import LAYER_AT_SETUP


def _needs_text(needs: Needs) -> str:
    parts = ["token log-probs"]
    if needs.logits:
        parts.append("logits")
    if needs.hidden_layers:
        parts.append(f"hidden states of layer {', '.join(map(str, needs.hidden_layers))}")
    if needs.ref_logps:
        parts.append("reference log-probs")
    if needs.ref_logits:
        parts.append("reference logits")
    if needs.ref_hidden_layers:
        parts.append(f"reference hidden states of layer {', '.join(map(str, needs.ref_hidden_layers))}")
    return ", ".join(parts)


def _params_lines(params: object, key: str) -> list[str]:
    """Each parameter's value in this preset (and the class default when the preset changes it)."""
    helps = field_help(type(params))
    lines = []
    for f in dataclasses.fields(params):
        value = getattr(params, f.name)
        facts = [] if value == f.default else [f"default {f.default!r}"]
        if range_of(f) is not None:
            facts.append(range_of(f).text())
        shown = f" ({', '.join(facts)})" if facts else ""
        lines.append(f"      method.params.{key}.{f.name} = {value!r}{shown}   {helps.get(f.name, '')}".rstrip())
    return lines or ["      (no parameters)"]


def _term_needs(term) -> str:
    text = "; ".join(f"{s}: {_needs_text(n)}" for s, n in term.needs().items())
    return text.replace(f"layer {LAYER_AT_SETUP}", "the layer chosen from the model's depth at start")


def describe_method(name: str) -> str:
    """One preset in full (name may carry transforms, e.g. NPO+GRU)."""
    method: Method = build_method(MethodConfig(name=name))
    base = PRESETS.canonical(name.split("+")[0])
    preset = PRESETS.get(base)
    shown = name if base == name.split("+")[0] else f"{name} (= {base})"
    lines = [f"{shown}: {preset.cite}", "", "Terms (method.weights.KEY sets a weight; method.gamma / method.alpha "
             "multiply forget / retain weights):"]
    for t in method.terms:
        summary, cite, formula = t.about()
        lines.append(f"  {t.key}: {t.role} term, weight {t.weight}, streams {', '.join(t.term.streams)}, "
                     f"loss averaged per {t.term.unit}")
        lines.append(f"    {summary}" + (f" [{cite}]" if cite else ""))
        if formula:
            lines.append(f"    loss: {formula}")
        lines.append(f"    needs: {_term_needs(t.term)}")
        lines.extend(_params_lines(t.term.params, t.key))
    for tr in method.transforms:
        tname = next(n for n, c in TRANSFORMS.items() if isinstance(tr, c))
        lines.append(f"  transform {tname}: {type(tr).summary} [{type(tr).cite}]")
        lines.append(f"    here: {tr.explain(method.groups)}")
        lines.extend(_params_lines(tr.params, tname))
    ref = choose_strategy("auto", method, lora=False) or "none needed"
    lines += ["", f"Reference model (method.reference=auto): {ref}; under LoRA the adapter-disabled model."]
    return "\n".join(lines + starting_point_lines(base))


def starting_point_lines(name: str) -> list[str]:
    """The measured learning-rate starting point on a small real model (benchmarks/starting_points.py),
    with every rate the search tried, or a line saying none was measured."""
    found = load_starting_points()
    entry = found.get("presets", {}).get(name)
    if entry is None:
        return ["", "Starting point on a small real model: not measured yet (benchmarks/starting_points.py)."]
    s = found["setting"]
    lines = ["", f"Starting point on a small real model ({s['model']}; LoRA {s['lora']}; {s['steps']} steps of "
             f"batch {s['batch_size']}, {s['scheduler']} lr; forgetting {s['data']}; works when {s['rule']}):"]
    if s.get("passes"):
        lines.append(f"  ({s['steps']} steps = {s['passes']} passes over its forget set: on your data keep the "
                     f"passes, train.epochs={s['passes']}, not the steps: at {s['steps']} steps a larger set sees "
                     "each question fewer times)")
    for cell in entry["tried"]:
        if "failed" in cell:
            lines.append(f"  train.lr={cell['lr']:g}: failed ({cell['failed']})")
            continue
        mark = "   <- starting point" if cell["lr"] == entry["lr"] else ""
        lines.append(f"  train.lr={cell['lr']:g}: {cell['verdict']}; forget kept {cell['forget_kept']:.0%}, retain "
                     f"kept {cell['retain_kept']:.0%}, holdout kept {cell['holdout_kept']:.0%}{mark}")
    if entry["lr"] is None:
        lines.append(f"  no starting point in the grid: {entry['why']}")
    return lines


def load_starting_points() -> dict:
    """unlearn/methods/starting_points.json (written by benchmarks/starting_points.py --publish)."""
    import json
    from importlib.resources import files

    path = files("unlearn.methods") / "starting_points.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def describe_methods() -> str:
    """Every preset on one line, then the terms and transforms that compose them."""
    lines = ["Presets (method.name; add +GRU, +SURE or +DGS for a gradient transform; `unlearn methods NAME` for details;",
             "the papers' spellings work too: dashes for underscores (FLAT-TV, CE-U) and the names in parentheses):"]
    # unlearning methods first (those with a docs record), then plain fine-tuning
    for name in sorted(PRESETS.in_order(), key=lambda n: PRESETS.get(n).doc is None):
        p = PRESETS.get(name)
        parts = " + ".join(f"{t.weight:g}*{t.name}" for t in p.terms)
        others = [a for a in PRESETS.aliases_of(name) if a != name.replace("_", "-")]
        lines.append(f"  {name:<12} {parts:<34} [{p.cite}]" + (f" ({', '.join(others)})" if others else ""))
    lines += ["", "Terms (method.name=custom method.forget=TERM method.retain=TERM):"]
    for name, cls in TERMS.items():
        lines.append(f"  {name:<11} streams={','.join(cls.streams):<18} {cls.summary}")
    for name, t in NAMED_TERMS.items():
        lines.append(f"  {name:<11} streams={','.join(t.streams or ()):<18} {t.summary} ({t.term} on its stream)")
    lines += ["", "Gradient transforms:"]
    for name, cls in TRANSFORMS.items():
        lines.append(f"  {name:<11} {cls.summary}")
    return "\n".join(lines)


def methods_table() -> str:
    """docs/methods.md's table of forget objectives: one row per preset record (presets that share a
    record share its row), in registration order."""
    rows: list[tuple[list[str], Doc]] = []
    for name in PRESETS.in_order():
        doc = PRESETS.get(name).doc
        if doc is None:
            continue
        same = next((r for r in rows if r[1] is doc), None)
        if same:
            same[0].append(name)
        else:
            rows.append(([name], doc))
    header = ["preset", "loss", "paper", "defaults", "needs", "differs from the reference code"]
    return markdown_table(header, [[", ".join(names), d.loss, d.paper, d.defaults, d.needs, d.differs]
                                   for names, d in rows], "l" * len(header))
