"""unlearn: make a trained causal language model forget chosen knowledge, and prove that it worked.

The Python API mirrors the CLI, one function per command (`unlearn.api`), importable from here:

    from unlearn import load_config, generate_world, finetune, run_unlearning, evaluate

`unlearn.api.report` and `unlearn.demo.demo` are not exported here: `unlearn.report` and `unlearn.demo`
are modules of the package, and Python would hand those back instead once they are imported.

Heavy libraries (torch, transformers) are imported when a function needs them, not at import time.
"""

from unlearn.config import RunConfig, load_config
from unlearn.core import __version__
from unlearn.core.errors import UnlearnError

_API = ("world", "build_tiny_model", "finetune", "unlearn", "run_unlearning", "evaluate", "ask", "augment", "calibrate",
        "compare", "probe", "sequence", "audit")
"""The functions of unlearn.api, loaded on first use."""

__all__ = ["RunConfig", "load_config", "UnlearnError", "generate_world", "__version__", *_API]


def __getattr__(name: str):
    if name in _API:
        from unlearn import api

        return getattr(api, name)
    if name == "generate_world":
        from unlearn.data.world import generate_world

        return generate_world
    raise AttributeError(f"module 'unlearn' has no attribute {name!r}")
