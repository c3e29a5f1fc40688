"""Every registered preset, checked from the registry itself (a preset added tomorrow is covered the day
it lands, with no table here to edit): it builds, every stream it reads is one the engine can make, its
reference strategy is decided before any model loads, its parameters' defaults lie in their declared
ranges, `unlearn methods NAME` describes it, and docs/methods.md's table is the registry's.

The numbers each loss computes are tested by hand in test_losses*.py and test_methods.py; each preset
trains for two steps on the tiny model in test_engine.py (also generated from the registry)."""

from __future__ import annotations

from pathlib import Path

import pytest

from unlearn.config import MethodConfig
from unlearn.core.errors import ConfigError
from unlearn.core.ranges import check_ranges
from unlearn.engine.streams import STREAMS
from unlearn.methods import PRESETS, build_method, describe_method, preset
from unlearn.methods.describe import methods_table
from unlearn.methods.presets import Preset, T
from unlearn.methods.reference import choose_strategy

ALL = PRESETS.in_order()


@pytest.mark.parametrize("name", ALL)
def test_every_preset_builds_with_streams_the_engine_makes(name):
    method = build_method(MethodConfig(name=name))
    assert method.name == name and method.terms and method.transforms == [] and method.groups == ["all"]
    assert [t.key for t in method.terms] == [s.name for s in PRESETS.get(name).terms]
    for stream in method.streams:
        assert stream in STREAMS, f"{name} reads stream {stream!r}, which engine/streams.py cannot build"
    roles = {t.role for t in method.terms}
    assert roles <= {"forget", "retain", "train"} and (roles & {"forget", "train"})


@pytest.mark.parametrize("name", ALL)
def test_every_preset_has_a_reference_strategy_before_any_model_loads(name):
    method = build_method(MethodConfig(name=name))
    full = choose_strategy("auto", method, lora=False)
    assert (full is None) == (not method.needs_reference)
    assert full in (None, "copy", "cached")
    assert full != "cached" or not method.needs_reference_model  # cached log-probs cannot give logits
    assert choose_strategy("auto", method, lora=True) in (None, "adapter")


@pytest.mark.parametrize("name", ALL)
def test_every_default_lies_in_its_declared_range(name):
    for t in build_method(MethodConfig(name=name)).terms:
        check_ranges(t.term.params, f"method.params.{t.key}")


@pytest.mark.parametrize("name", ALL)
def test_unlearn_methods_describes_every_preset(name):
    text = describe_method(name)
    assert text.startswith(f"{name}: {PRESETS.get(name).cite}")
    for t in build_method(MethodConfig(name=name)).terms:
        assert f"  {t.key}: {t.role} term, weight {t.weight}" in text
        assert t.about()[0] and t.about()[0] in text  # every term says what it does


def test_the_docs_table_is_the_registrys():
    """docs/methods.md holds `unlearn methods --markdown`'s table; regenerate it after adding a preset."""
    docs = (Path(__file__).resolve().parent.parent / "docs" / "methods.md").read_text(encoding="utf-8")
    table = methods_table()
    assert table in docs, "docs/methods.md's table is stale: paste `unlearn methods --markdown` over it"
    documented = [name for name in ALL if PRESETS.get(name).doc is not None]
    assert documented == [n for n in ALL if n != "finetune"]  # every unlearning method has its row
    assert all(name in table for name in documented)
    assert "finetune" not in table  # plain fine-tuning is not an unlearning method


def test_a_preset_can_be_added_from_outside_the_package():
    preset("Toy_GDR", Preset((T("ga", 0.5), T("klr", 2.0, role="retain")), cite="a test's own preset"))
    try:
        method = build_method(MethodConfig(name="Toy_GDR+GRU"))
        assert [(t.key, t.role, t.weight) for t in method.terms] == [("ga", "forget", 0.5), ("klr", "retain", 2.0)]
        assert "Toy_GDR" in describe_method("Toy_GDR")
    finally:
        PRESETS.remove("Toy_GDR")
    with pytest.raises(ConfigError, match="unknown method 'Toy_GDR'"):
        build_method(MethodConfig(name="Toy_GDR"))


# The weights SPEC (3.1, 3.4) publishes for presets; presets it gives none for are not listed.
PUBLISHED_WEIGHTS = {
    "SimNPO": {"simnpo": 0.125, "gdr": 1.0},  # gamma 0.125
    "SatImp": {"satimp": 0.1, "gdr": 1.0},  # gamma 0.1
    "LLMU": {"ga": 0.5, "mismatch": 1.0, "klr": 1.0},  # eps1 0.5, eps2 1, eps3 1
    "RMU": {"rmu": 1.0, "rmu_retain": 100.0},  # alpha 100
    "BS_S": {"ga": 0.5, "ga_sampled": 0.5},  # lam 0.5
    "ReLearn": {"relearn": 1.0, "gdr": 1.0, "klr": 1.0},  # GDF + GDR + KLR
    "TRU": {"tru": 1.0, "ga": 1.0, "gdr": 1.0},  # seed 001: reasoning NLL + lam GA (lam 1) + retain NLL
}


@pytest.mark.parametrize("name", sorted(PUBLISHED_WEIGHTS))
def test_published_weights(name):
    assert {t.key: t.weight for t in build_method(MethodConfig(name=name)).terms} == PUBLISHED_WEIGHTS[name]


@pytest.mark.parametrize("spelling, name", [("GradDiff", "GA_GDR"), ("FLAT-TV", "FLAT_TV"), ("FLAT-KL", "FLAT_KL"),
                                            ("FLAT-JS", "FLAT_JS"), ("FLAT-Pearson", "FLAT_Pearson"),
                                            ("CE-U", "CE_U"), ("BS-T", "BS_T"), ("BS-S", "BS_S"),
                                            ("GradDiff+GRU", "GA_GDR+GRU")])
def test_the_spec_and_paper_spellings_name_the_same_method(spelling, name):
    """SPEC 3.4 writes FLAT-TV, CE-U, BS-T, BS-S and GradDiff; they build the preset's terms and transforms."""
    def shape(method):
        return [(t.key, t.role, t.weight, type(t.term).__name__, t.term.params) for t in method.terms], \
            [type(tr).__name__ for tr in method.transforms]

    assert shape(build_method(MethodConfig(name=spelling))) == shape(build_method(MethodConfig(name=name)))
    assert describe_method(spelling).startswith(f"{spelling} (= {name.split('+')[0]}):")
    with pytest.raises(ConfigError, match="unknown method 'FLAT-XX'"):
        build_method(MethodConfig(name="FLAT-XX"))
