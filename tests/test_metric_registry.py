"""Every registered metric, derived metric and suite, checked from the registries themselves (a metric
added tomorrow is covered the day it lands): what it declares is something the evaluator can provide,
a derived metric's inputs exist, a suite names only registered metrics, every name asked for alone
resolves, and `unlearn metrics` lists it. The numbers are tested by hand in test_metrics.py,
test_metric_functions.py, test_eval_definitions.py and test_relearn_metrics.py."""

from __future__ import annotations

import pytest

from unlearn.data.adapters import KIND_FIELDS
from unlearn.eval.describe import describe_metrics
from unlearn.eval.metrics import DERIVED, METRICS
from unlearn.eval.registry import NEED_PASS, Direction
from unlearn.eval.suites import SUITES, select

ROLES = ("forget", "retain", "holdout", "general")


@pytest.mark.parametrize("name", list(METRICS))
def test_every_metric_declares_what_the_evaluator_provides(name):
    m = METRICS.get(name)
    assert m.name == name and m.description and m.paper
    assert m.needs and m.needs <= set(NEED_PASS), f"{name} needs {m.needs - set(NEED_PASS)}, which no pass makes"
    assert set(m.kinds) <= set(KIND_FIELDS)
    assert set(m.roles or ROLES) <= set(ROLES)
    assert all(isinstance(m.direction(role), Direction) for role in ROLES)
    if m.summarised_by:
        assert m.aggregate is None and name in DERIVED.get(m.summarised_by).inputs
    assert set(select([], [name]).metrics) >= {name}


@pytest.mark.parametrize("name", list(DERIVED))
def test_every_derived_metric_reads_registered_metrics(name):
    d = DERIVED.get(name)
    assert d.inputs and all(i in METRICS or i in DERIVED for i in d.inputs)
    assert set(d.roles) <= set(ROLES)
    chosen = select([], [name])
    assert name in chosen.derived and set(d.inputs) <= set(chosen.metrics) | set(chosen.derived)


@pytest.mark.parametrize("name", SUITES.in_order())
def test_every_suite_names_registered_metrics(name):
    s = SUITES.get(name)
    assert all(m in METRICS for m in (*s.metrics, *s.with_reference_model)) and all(d in DERIVED for d in s.derived)
    assert s.metrics or s.derived or s.on_model is not None


def test_unlearn_metrics_lists_everything():
    text = describe_metrics()
    for name in [*METRICS, *DERIVED, *SUITES]:
        assert f"  {name}" in text, name
