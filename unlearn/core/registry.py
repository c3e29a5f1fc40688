"""One small registry type, used for every table of named things: loss terms, named terms, presets,
gradient transforms, metrics, derived metrics, suites, benchmarks and training streams."""

from __future__ import annotations

from typing import Callable, Generic, Iterator, TypeVar

from unlearn.core.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """A name -> object table. Registering a name twice is an error; looking up an unknown name
    raises :class:`ConfigError` listing the valid names. An alias (a paper's spelling, e.g. "FLAT-TV")
    looks up the same object and is not listed."""

    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, T] = {}
        self._aliases: dict[str, str] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def decorator(obj: T) -> T:
            self.add(name, obj)
            return obj

        return decorator

    def add(self, name: str, obj: T) -> None:
        if name in self._items:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._items[name] = obj

    def alias(self, alias: str, name: str) -> None:
        """Let `alias` look up the object registered as `name`."""
        if alias in self._items or self._aliases.get(alias, name) != name:
            raise ValueError(f"{self.kind} alias {alias!r} is already taken")
        self._aliases[alias] = name

    def canonical(self, name: str) -> str:
        """The registered name for `name` or its alias (unknown names are returned unchanged)."""
        return self._aliases.get(name, name)

    def aliases_of(self, name: str) -> list[str]:
        return [a for a, n in self._aliases.items() if n == name]

    def get(self, name: str) -> T:
        try:
            return self._items[self.canonical(name)]
        except KeyError:
            valid = ", ".join(sorted(self._items))
            raise ConfigError(f"unknown {self.kind} {name!r}; valid: {valid}") from None

    def remove(self, name: str) -> None:
        self._items.pop(name, None)

    def __contains__(self, name: object) -> bool:
        return name in self._items or name in self._aliases

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._items))

    def items(self) -> list[tuple[str, T]]:
        return sorted(self._items.items())

    def in_order(self) -> list[str]:
        """The names in the order they were registered."""
        return list(self._items)
