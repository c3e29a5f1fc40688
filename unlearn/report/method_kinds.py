"""The kind of unlearning a method does, read from its terms, never from its name, so that a run named
"run_a" is described as well as one named "GA":

- whether it has a retain term (a term in the retain gradient group: GDR, KLR, RMU's retain loss), which
  is what the seesaw of the seeds is about;
- whether its forget terms learn new answers to the forget questions or push the forget answers down,
  which is what ReLearn's claim is about. A forget term *learns* when it is the NLL term (the term
  registry's "nll") descended on some other target than the forget answers (IDK's refusals, ReLearn's vague answers,
  LLMU's random answers, TRU's reasoning); every other forget term (GA, NPO, DPO, RMU, ...) works
  against the forget answers: reverse optimisation, in ReLearn's words."""

from __future__ import annotations

from dataclasses import dataclass

from unlearn.config import MethodConfig
from unlearn.methods import TERMS, build_method

LEARNING, REVERSE, MIXED, NO_FORGET = "learning", "reverse optimisation", "both", "no forget term"


@dataclass(frozen=True)
class MethodKind:
    method: str
    """The method's name as configured (a preset, possibly with transforms, or custom)."""
    retain_term: bool
    forget_terms: tuple[str, ...]
    learning_terms: tuple[str, ...]
    """The forget terms that learn new answers (see the module's docstring)."""

    @property
    def approach(self) -> str:
        """learning (every forget term learns), reverse optimisation (none does) or both; fine-tuning
        has no forget term at all."""
        if not self.forget_terms:
            return NO_FORGET
        if len(self.learning_terms) == len(self.forget_terms):
            return LEARNING
        return REVERSE if not self.learning_terms else MIXED


def kind_of(method: MethodConfig) -> MethodKind:
    """Builds the method (cheap: no model) and reads its terms' roles and classes."""
    terms = build_method(method).terms
    forget = [t for t in terms if t.role == "forget"]
    # By the registry's name, not a class import, so the test survives moves inside unlearn.methods.
    nll = TERMS.get("nll")
    learning = [t.key for t in forget if isinstance(t.term, nll) and "forget" not in t.term.streams]
    return MethodKind(method.name, any(t.role == "retain" for t in terms), tuple(t.key for t in forget),
                      tuple(learning))
