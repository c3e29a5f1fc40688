"""unlearn: make a trained causal language model forget chosen knowledge, and prove that it worked.

The Python API mirrors the CLI:

    from unlearn import load_config, generate_world, finetune, run_unlearning, evaluate, demo

Heavy libraries (torch, transformers) are imported when a function needs them, not at import time.
"""

from unlearn.config import RunConfig, load_config  # noqa: E402
from unlearn.core import __version__  # noqa: E402
from unlearn.core.errors import UnlearnError  # noqa: E402

__all__ = ["RunConfig", "load_config", "UnlearnError", "generate_world", "build_tiny_model", "finetune",
           "run_unlearning", "evaluate", "demo", "__version__"]


def __getattr__(name: str):
    if name == "generate_world":
        from unlearn.data.world import generate_world
        return generate_world
    if name == "build_tiny_model":
        from unlearn.api import build_tiny_model
        return build_tiny_model
    if name in ("finetune", "run_unlearning", "evaluate"):
        from unlearn import api
        return getattr(api, name)
    if name == "demo":
        from unlearn.demo import demo
        return demo
    raise AttributeError(f"module 'unlearn' has no attribute {name!r}")
