"""Unlearning methods (SPEC 3): terms, gradient transforms and presets. Importing the package registers
every term, transform and preset."""

from unlearn.methods.base import TERMS, TRANSFORMS, GradientTransform, Method, Needs, Outputs, Term
from unlearn.methods import terms as _terms  # noqa: F401  (registers the terms and their presets)
from unlearn.methods import transforms as _transforms  # noqa: F401  (registers the transforms)
from unlearn.methods.presets import NAMED_TERMS, PRESETS, build_method, preset
from unlearn.methods.describe import describe_method, describe_methods

__all__ = [
    "TERMS", "TRANSFORMS", "GradientTransform", "Method", "Needs", "Outputs", "Term",
    "NAMED_TERMS", "PRESETS", "build_method", "preset", "describe_method", "describe_methods",
]
