from unlearn.methods.base import TERMS, TRANSFORMS, GradientTransform, Method, Needs, Outputs, Term
from unlearn.methods import terms as _terms  # noqa: F401  (registers the terms)
from unlearn.methods import terms_token as _terms_token  # noqa: F401
from unlearn.methods import transforms as _transforms  # noqa: F401  (registers the transforms)
from unlearn.methods.presets import PRESETS, build_method
from unlearn.methods.describe import describe_method, describe_methods

__all__ = [
    "TERMS", "TRANSFORMS", "GradientTransform", "Method", "Needs", "Outputs", "Term",
    "PRESETS", "build_method", "describe_method", "describe_methods",
]
