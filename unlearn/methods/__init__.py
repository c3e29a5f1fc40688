from unlearn.methods.base import FORGET_OBJECTIVES, RETAIN_REGULARISERS, Method, StreamOutputs, Term
from unlearn.methods import terms as _terms  # noqa: F401  (registers the terms)
from unlearn.methods.presets import PRESETS, build_method, describe_methods

__all__ = [
    "FORGET_OBJECTIVES", "RETAIN_REGULARISERS", "Method", "StreamOutputs", "Term",
    "PRESETS", "build_method", "describe_methods",
]
