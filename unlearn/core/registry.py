"""One small registry type, used for every table of named things: loss terms, named terms, presets,
gradient transforms, metrics, derived metrics, suites, benchmarks and training streams."""

from __future__ import annotations

from typing import Callable, Generic, Iterator, TypeVar

from unlearn.core.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """A name -> object table. Registering a name twice is an error; looking up an unknown name
    raises :class:`ConfigError` listing the valid names."""

    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def decorator(obj: T) -> T:
            self.add(name, obj)
            return obj

        return decorator

    def add(self, name: str, obj: T) -> None:
        if name in self._items:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._items[name] = obj

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            valid = ", ".join(sorted(self._items))
            raise ConfigError(f"unknown {self.kind} {name!r}; valid: {valid}") from None

    def remove(self, name: str) -> None:
        self._items.pop(name, None)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._items))

    def items(self) -> list[tuple[str, T]]:
        return sorted(self._items.items())

    def in_order(self) -> list[str]:
        """The names in the order they were registered."""
        return list(self._items)
