"""Valid ranges of config values and method parameters, declared next to their defaults.

    lr: float = param(1e-5, above=0, why="at 0 nothing is learnt, below 0 it trains backwards")

`param` is a dataclass `field` whose metadata holds a :class:`Range`; :func:`check_ranges` checks every
such field of a dataclass (and of the dataclasses inside it) and raises a one-line
:class:`~unlearn.core.errors.ConfigError` naming the key, the range, the value and what goes wrong outside
it. The same ranges are printed by `unlearn COMMAND --help`, `unlearn config` and `unlearn methods`,
so the help cannot drift from the checks.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from unlearn.core.errors import ConfigError


@dataclass(frozen=True)
class Range:
    """Bounds (strict `above` / `below`, inclusive `at_least` / `at_most`) or a set of `choices`. `why`
    says what goes wrong outside the range. None values pass (an optional key left unset)."""

    above: float | None = None
    at_least: float | None = None
    below: float | None = None
    at_most: float | None = None
    choices: tuple[str, ...] = ()
    why: str = ""

    def text(self) -> str:
        """The range in words: 'above 0', 'at least 1', 'in (0, 1]', 'one of a, b'."""
        if self.choices:
            return "one of " + ", ".join(self.choices)
        low = self.above if self.above is not None else self.at_least
        high = self.below if self.below is not None else self.at_most
        if low is not None and high is not None:
            return (f"in {'(' if self.above is not None else '['}{_num(low)}, {_num(high)}"
                    f"{')' if self.below is not None else ']'}")
        if self.above is not None:
            return f"above {_num(self.above)}"
        if self.at_least is not None:
            return f"at least {_num(self.at_least)}"
        if self.below is not None:
            return f"below {_num(self.below)}"
        if self.at_most is not None:
            return f"at most {_num(self.at_most)}"
        return "any value"

    def holds(self, value: Any) -> bool:
        if value is None:
            return True
        if self.choices:
            return value in self.choices
        if isinstance(value, float) and not math.isfinite(value):
            return False
        return ((self.above is None or value > self.above) and (self.at_least is None or value >= self.at_least)
                and (self.below is None or value < self.below) and (self.at_most is None or value <= self.at_most))

    def check(self, value: Any, where: str) -> None:
        if not self.holds(value):
            raise ConfigError(f"{where} must be {self.text()} (got {value!r})" + (f"; {self.why}" if self.why else ""))


def _num(x: float) -> str:
    return f"{x:g}"


def param(default: Any = dataclasses.MISSING, *, default_factory: Any = dataclasses.MISSING,
          above: float | None = None, at_least: float | None = None, below: float | None = None,
          at_most: float | None = None, choices: tuple[str, ...] = (), why: str = "") -> Any:
    """A dataclass field with a declared valid range (see the module docstring)."""
    rng = Range(above, at_least, below, at_most, tuple(choices), why)
    if default_factory is not dataclasses.MISSING:
        return field(default_factory=default_factory, metadata={"range": rng})
    return field(default=default, metadata={"range": rng})


def range_of(f: dataclasses.Field) -> Range | None:
    return f.metadata.get("range")


def check_ranges(obj: Any, where: str = "") -> None:
    """Check every ranged field of dataclass `obj` and of the dataclasses it holds; `where` prefixes
    the key in the message (`train` -> `train.lr`)."""
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        key = f"{where}.{f.name}" if where else f.name
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            check_ranges(value, key)
            continue
        rng = range_of(f)
        if rng is None:
            continue
        for item in value if isinstance(value, list) else [value]:
            rng.check(item, key)
