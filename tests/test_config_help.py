"""Discoverable options: every config key in `--help` with its type, default, range and help (generated
from the dataclasses, so it cannot drift), `unlearn config --show` resolving a command line without
running it, and the ranges' checks and wording."""

from __future__ import annotations

import dataclasses
import typing

import pytest
import yaml

from unlearn.cli import main
from unlearn.config import RunConfig, field_help
from unlearn.core.errors import ConfigError
from unlearn.core.ranges import Range


def _out(argv: list[str], capsys) -> str:
    try:
        code = main(argv)
    except SystemExit as exit_:  # --help
        code = exit_.code
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return " ".join(captured.out.split())  # the help is wrapped: compare word by word


def _sections() -> dict[str, type]:
    hints = typing.get_type_hints(RunConfig)
    return {f.name: hints[f.name] for f in dataclasses.fields(RunConfig) if dataclasses.is_dataclass(hints[f.name])}


def test_unlearn_help_lists_every_key_with_its_help(capsys):
    text = _out(["unlearn", "--help"], capsys)
    for section, cls in _sections().items():
        helps = field_help(cls)
        for f in dataclasses.fields(cls):
            assert f"{section}.{f.name} (" in text, f"{section}.{f.name}"
            assert " ".join(helps[f.name].split()) in text, f"{section}.{f.name} has no help"
    # type, default and range as written by hand from the dataclass declarations
    assert "train.lr (float, default 1e-05, above 0): AdamW's learning rate" in text
    assert "train.max_steps (int or null, default null, at least 1)" in text
    assert "lora.dropout (float, default 0.05, in [0, 1))" in text
    assert "model.dtype (str, default 'float32', one of float32, bfloat16, float16)" in text
    assert "data.overlap (str, default 'warn', one of warn, error, ignore)" in text
    assert "`unlearn methods NAME`" in text


def test_eval_help_lists_only_the_sections_it_reads(capsys):
    text = _out(["eval", "--help"], capsys)
    assert "eval.batch_size (int, default 32, at least 1)" in text and "data.template (" in text
    assert "train (only): train.lr (" in text  # the robustness suite's relearning attack uses it
    assert "train.epochs (" not in text and "method.name (" not in text and "lora.r (" not in text


def test_config_show_resolves_a_command_line_without_running_it(tmp_path, capsys):
    cfg = tmp_path / "run.yaml"
    cfg.write_text("train: {lr: 0.001, epochs: 3}\nmethod: {name: GA}\n")
    # overrides before and after --config both win over the file
    text = main(["config", "--show", "train.lr=2e-4", "--config", str(cfg), "method.name=NPO_KLR",
                 "out=runs/nowhere"])
    shown = yaml.safe_load(capsys.readouterr().out)
    assert text == 0
    assert shown["train"]["lr"] == 2e-4 and shown["train"]["epochs"] == 3.0
    assert shown["method"]["name"] == "NPO_KLR" and shown["out"] == "runs/nowhere"
    assert shown["eval"]["batch_size"] == 32  # defaults filled in
    assert not (tmp_path / "runs").exists()


def test_config_lists_every_section(capsys):
    text = _out(["config"], capsys)
    for section, cls in _sections().items():
        for f in dataclasses.fields(cls):
            assert f"{section}.{f.name} (" in text


def test_methods_show_parameter_ranges(capsys):
    text = _out(["methods", "NPO_GDR+GRU"], capsys)
    assert "method.params.npo.beta = 0.1 (above 0)" in text
    assert "method.params.gru.gamma = 0.8 (in (0, 1])" in text


@pytest.mark.parametrize("rng, text, inside, outside", [
    (Range(above=0), "above 0", [1e-9, 3], [0, -1, float("nan")]),
    (Range(at_least=1), "at least 1", [1, 7], [0, -2]),
    (Range(above=0, at_most=1), "in (0, 1]", [0.5, 1], [0, 1.01]),
    (Range(at_least=0, below=1), "in [0, 1)", [0, 0.99], [1, -0.1]),
    (Range(choices=("a", "b")), "one of a, b", ["a", "b", None], ["c", ""]),
])
def test_range_wording_and_bounds(rng, text, inside, outside):
    assert rng.text() == text
    assert all(rng.holds(v) for v in inside)
    assert not any(rng.holds(v) for v in outside)


def test_range_error_names_the_key_the_value_and_why():
    with pytest.raises(ConfigError) as err:
        Range(above=0, why="NPO divides by beta").check(-0.5, "method.params.npo.beta")
    assert str(err.value) == "method.params.npo.beta must be above 0 (got -0.5); NPO divides by beta"
