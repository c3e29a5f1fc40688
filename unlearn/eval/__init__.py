"""Evaluation: metric registry, shared passes, cache, suites (`unlearn eval`)."""


def load_definitions() -> None:
    """Register every metric and derived metric (importing the modules that define them)."""
    from unlearn.eval import derived, metric_defs, relearn_defs  # noqa: F401


def __getattr__(name: str):
    if name in ("evaluate", "evaluate_model"):
        from unlearn.eval import suite

        return getattr(suite, name)
    raise AttributeError(name)


__all__ = ["evaluate", "evaluate_model", "load_definitions"]
