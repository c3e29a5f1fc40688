"""The config reference, generated from the typed config (unlearn.config) so it cannot drift from it:
every section and key with its type, default, valid range and help. `unlearn COMMAND --help` ends
with it, `unlearn config` prints all of it, and `unlearn config --show` prints the resolved config of
a command line without running anything."""

from __future__ import annotations

import dataclasses
import textwrap
import types
import typing
from typing import Any

import yaml

from unlearn.config import RunConfig, field_help, to_dict
from unlearn.core.ranges import range_of

# The sections each command reads, and single keys of other sections it reads too (the rest are
# accepted and ignored). Commands not named here read every section.
COMMAND_SECTIONS = {
    "finetune": (("out", "model", "data", "train", "lora", "eval"), ()),
    # the robustness suite's relearning attack trains with train.lr, batch_size and seed
    "eval": (("out", "model", "data", "eval"), ("train.progress_every", "train.lr", "train.batch_size", "train.seed")),
}
WIDTH = 100


def type_name(annotation: Any) -> str:
    """`int | None` -> 'int or null', `list[str]` -> 'list of str', `dict[str, Any]` -> 'mapping'."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        names = [type_name(a) for a in typing.get_args(annotation) if a is not type(None)]
        nullable = type(None) in typing.get_args(annotation)
        return " or ".join(names) + (" or null" if nullable else "")
    if origin is list:
        return f"list of {type_name(typing.get_args(annotation)[0])}"
    if origin is dict:
        return "mapping"
    return "bool" if annotation is bool else getattr(annotation, "__name__", str(annotation))


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        return f.default_factory()  # type: ignore[misc]
    return None


def _shown(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return repr(value)
    return str(value)


def key_lines(cls: type, prefix: str, only: set[str] | None = None) -> list[str]:
    """One entry per field of dataclass `cls` (or the fields named in `only`): `prefix.key (type,
    default X, range): help`, wrapped."""
    hints = typing.get_type_hints(cls)
    helps = field_help(cls)
    lines: list[str] = []
    for f in dataclasses.fields(cls):
        if only is not None and f.name not in only:
            continue
        rng = range_of(f)
        facts = [type_name(hints[f.name]), f"default {_shown(_default(f))}"]
        if rng is not None:
            facts.append(rng.text())
        head = f"{prefix}{f.name} ({', '.join(facts)})"
        text = f"{head}: {helps[f.name]}" if f.name in helps else head
        lines.extend(textwrap.wrap(text, WIDTH, initial_indent="  ", subsequent_indent="      ",
                                   break_on_hyphens=False))
    return lines


def describe_config(command: str | None = None) -> str:
    """The reference of every config key a command reads (all of them without `command`)."""
    wanted, extra_keys = COMMAND_SECTIONS.get(command or "", (None, ()))
    hints = typing.get_type_hints(RunConfig)
    lines = ["config keys (in a --config YAML file as sections, or as key.sub=value after the command; lists are "
             "comma-separated on the command line):"]
    scalars = [f for f in dataclasses.fields(RunConfig) if not dataclasses.is_dataclass(hints[f.name])]
    helps = field_help(RunConfig)
    if wanted is None or "out" in wanted:
        for f in scalars:
            lines.extend(textwrap.wrap(f"{f.name} ({type_name(hints[f.name])}, default {_shown(_default(f))}): "
                                       f"{helps.get(f.name, '')}", WIDTH, initial_indent="  ",
                                       subsequent_indent="      "))
    for f in dataclasses.fields(RunConfig):
        if f.name in {s.name for s in scalars}:
            continue
        if wanted is None or f.name in wanted:
            lines.append(f" {f.name}:")
            lines += key_lines(hints[f.name], f"{f.name}.")
        elif any(k.startswith(f.name + ".") for k in extra_keys):
            keys = {k.split(".", 1)[1] for k in extra_keys if k.startswith(f.name + ".")}
            lines.append(f" {f.name} (only):")
            lines += key_lines(hints[f.name], f"{f.name}.", keys)
    if wanted is None or "method" in wanted:
        lines.append(" method.params.TERM.NAME: each term's parameters, their defaults and ranges: "
                     "`unlearn methods NAME`")
    return "\n".join(lines)


def show_config(cfg: RunConfig) -> str:
    """The resolved config as YAML: what the run would write to its config.yaml."""
    return yaml.safe_dump(to_dict(cfg), sort_keys=False).rstrip()
