"""The CLI is a thin layer over the Python API: every command has one handler in the command table, and
every command that does work has a function of the same name in `unlearn.api`."""

from __future__ import annotations

import argparse
from pathlib import Path

from unlearn import api
from unlearn.cli import build_parser
from unlearn.cli.commands import COMMANDS

INFO_COMMANDS = {"demo", "metrics", "methods", "config"}
"""Commands that print the registries' descriptions (or run unlearn.demo.demo) rather than one API call."""
API_NAMES = {"tiny-model": "build_tiny_model", "eval": "evaluate"}


def test_every_subcommand_has_one_handler():
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert set(sub.choices) == set(COMMANDS)


def test_every_working_command_is_an_api_function():
    for command in set(COMMANDS) - INFO_COMMANDS:
        name = API_NAMES.get(command, command)
        assert callable(getattr(api, name, None)), f"unlearn {command} has no unlearn.api.{name}"
    assert api.run_unlearning is api.unlearn  # the README's older name


def test_the_package_exports_every_api_function():
    import unlearn
    import unlearn.report  # noqa: F401  (a module of the package: the name must not be exported too)

    modules = {p.stem for p in Path(unlearn.__file__).parent.iterdir()}
    for name in unlearn._API:
        assert name not in modules, f"unlearn.{name} is a module; Python would shadow the API function"
        assert getattr(unlearn, name) is getattr(api, name)
