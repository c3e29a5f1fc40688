"""Result keys ("<dataset>_<metric>") read back: which metric and dataset a key names, its short label,
what it measures and which way is better. Labels and descriptions come from the metric registry;
directions come from what each evaluation wrote in its metrics.json, and from the registry only for
a key no file describes (hand-made folders), so a report never keeps its own list of metrics."""

from __future__ import annotations

from unlearn.eval.metrics import DERIVED, METRICS, label_of
from unlearn.eval.registry import Direction, result_key
from unlearn.report.entries import Entry


def split_key(key: str) -> tuple[str | None, str]:
    """(dataset, metric or derived-metric name); dataset None for a model-level key (model_utility)."""
    if key in DERIVED:
        return None, key
    for name in sorted([*METRICS, *DERIVED], key=len, reverse=True):  # longest first: truth_ratio_raw
        if key.endswith("_" + name):
            return key[: -len(name) - 1], name
        if key.startswith(name + "_"):  # result_key's other form: the dataset's name says the metric
            return key, name
    return None, key


class Keys:
    """The result keys of a set of entries, with their datasets' roles as the entries recorded them."""

    def __init__(self, entries: list[Entry]):
        self.entries = entries
        self.roles = {d: r for e in entries for d, r in e.roles.items()}

    def role_of_dataset(self, dataset: str) -> str:
        """Its recorded role; a hand-made folder without roles names its datasets by role."""
        return self.roles.get(dataset, dataset)

    def datasets(self, role: str) -> list[str]:
        found = [d for d, r in self.roles.items() if r == role]
        return found or [role]

    def key(self, role: str, metric: str) -> str:
        """The key of `metric` on the (first) dataset of `role`."""
        return result_key(self.datasets(role)[0], metric)

    def role_of(self, key: str) -> str | None:
        """The role of the data a key measures: its dataset's, or a derived metric's single role."""
        dataset, name = split_key(key)
        if dataset is not None:
            return self.role_of_dataset(dataset)
        roles = DERIVED.get(name).roles if name in DERIVED else ()
        return roles[0] if len(roles) == 1 else None

    def label(self, key: str) -> str:
        dataset, name = split_key(key)
        label = label_of(name)
        return f"{dataset} {label}" if dataset and dataset != key else label

    def description(self, key: str) -> str:
        name = split_key(key)[1]
        found = METRICS.get(name) if name in METRICS else DERIVED.get(name) if name in DERIVED else None
        return found.description if found else ""

    def direction(self, key: str) -> str:
        """"lower is better", "higher is better", "closest to 0.5", or "?" when nothing says."""
        written = next((e.directions[key] for e in self.entries if key in e.directions), None)
        registered = self._registered(key)
        return written or (registered.label() if registered else "?")

    def higher_is_better(self, key: str) -> bool | None:
        written = [e.higher_is_better[key] for e in self.entries if key in e.higher_is_better]
        registered = self._registered(key)
        return written[0] if written else registered.higher_is_better() if registered else None

    def better(self, key: str, a: float, b: float) -> bool:
        """Whether a is strictly better than b on this key: higher, lower, or nearer the target value (a
        membership AUC's 0.5) as its direction says; never when no direction is known."""
        higher = self.higher_is_better(key)
        if higher is not None:
            return a > b if higher else a < b
        target = getattr(self._registered(key), "target", None)
        return target is not None and abs(a - target) < abs(b - target)

    def _registered(self, key: str) -> Direction | None:
        dataset, name = split_key(key)
        if name in METRICS:
            return METRICS.get(name).direction(self.role_of_dataset(dataset) if dataset else "retain")
        return DERIVED.get(name).direction if name in DERIVED else None
