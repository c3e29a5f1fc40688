"""The CLI is a thin layer over the Python API: every command has one handler in the command table, and
every command that does work has a function of the same name in `unlearn.api`."""

from __future__ import annotations

import argparse
from pathlib import Path

from unlearn import api
from unlearn.cli import build_parser
from unlearn.cli.commands import COMMANDS

INFO_COMMANDS = {"metrics", "methods", "config"}
"""Commands that print the registries' descriptions rather than one API call."""
WORKFLOWS = {"demo": ("unlearn.demo", "demo"), "sweep": ("unlearn.sweep", "run_sweep")}
"""Commands that compose API calls, each a function of its own module (above unlearn.api)."""
API_NAMES = {"tiny-model": "build_tiny_model", "eval": "evaluate"}


def test_every_subcommand_has_one_handler():
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert set(sub.choices) == set(COMMANDS)


def test_every_working_command_is_an_api_function():
    import importlib

    for command, (module, name) in WORKFLOWS.items():
        assert callable(getattr(importlib.import_module(module), name, None)), f"unlearn {command}: no {module}.{name}"
    for command in set(COMMANDS) - INFO_COMMANDS - set(WORKFLOWS):
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
