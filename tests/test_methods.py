"""Terms, presets and method building against values worked out by hand on tiny tensors.

A term returns `loss_sum(outs)`: the SUM of its loss over its units (target tokens of its first stream
for unit "token", sequences for unit "sequence"); `weighted_loss(terms, outs, counts)` divides each sum
by the term's count of units and weights it. Every expected number is written out in a comment and
computed with `math` from the chosen inputs, never with the function under test.
"""

from __future__ import annotations

import dataclasses
import math
import re

import pytest
import torch

from unlearn.config import MethodConfig
from unlearn.core.errors import ConfigError
from unlearn.methods import NAMED_TERMS, PRESETS, build_method
from unlearn.methods.base import Needs, Outputs, Refresh, SetupContext, WeightedTerm, weighted_loss
from unlearn.methods.terms.distill import BST, CEU, UNDIAL
from unlearn.methods.terms.divergence import KLR
from unlearn.methods.terms.flat import FLAT
from unlearn.methods.terms.likelihood import NLL, GradientAscent, GradientAscentSampled
from unlearn.methods.terms.preference import DPO, NPO, DPOParams, NPOParams, SimNPO
from unlearn.methods.terms.representation import RMU, RMUParams, RMURetain, RMURetainParams, rmu_layer
from unlearn.methods.terms.token_weighted import TNPO, WGA, SatImp, TemperatureScaledGA
from unlearn.methods.transforms import GRU

LN2, LN3 = math.log(2.0), math.log(3.0)
REF = Needs(ref_logps=True)


def _outputs(**extra) -> Outputs:
    # token log-probs: row 0 targets -1, -2 (third masked, 99); row 1 target -3 (the rest masked, 99)
    # sums: row 0 -3, row 1 -3, all 3 target tokens -6; token mean over the batch: -6 / 3 = -2
    return Outputs(
        token_logps=torch.tensor([[-1.0, -2.0, 99.0], [-3.0, 99.0, 99.0]]),
        target_mask=torch.tensor([[True, True, False], [True, False, False]]),
        target_ids=torch.tensor([[4, 5, 0], [6, 0, 0]]),
        index=torch.tensor([0, 1]),
        **extra,
    )


def _wt(term, key: str, weight: float = 1.0, role: str = "forget") -> WeightedTerm:
    return WeightedTerm(key, role, weight, term)


def _named(key: str) -> NLL:
    """The NLL term a preset builds under a paper's name (gdr, idk, ...), on that name's stream."""
    return NLL(streams=NAMED_TERMS.get(key).streams)


# --------------------------------------------------------------------------------------- terms


def test_likelihood_terms_by_hand():
    out = _outputs()
    # GA: the sum of the target log-probs, -1 - 2 - 3 = -6; NLL terms: +6
    assert GradientAscent().loss_sum({"forget": out}).item() == pytest.approx(-6.0)
    for key, stream in (("idk", "forget_idk"), ("gdr", "retain"), ("finetune", "train"),
                        ("mismatch", "forget_random"), ("relearn", "augmented"), ("tru", "targets")):
        assert _named(key).loss_sum({stream: out}).item() == pytest.approx(6.0)
    # divided by the 3 target tokens: GA -2, NLL 2 (token means)
    total, parts = weighted_loss([_wt(GradientAscent(), "ga")], {"forget": out}, {"ga": 3})
    assert total.item() == pytest.approx(-2.0) and parts["ga"].item() == pytest.approx(-2.0)
    total, _ = weighted_loss([_wt(_named("gdr"), "gdr", role="retain")], {"retain": out}, {"gdr": 3})
    assert total.item() == pytest.approx(2.0)


def test_a_term_reads_its_own_stream():
    # GA on the forget stream ignores the retain stream (retain log-probs: -10 on 1 token)
    retain = Outputs(token_logps=torch.tensor([[-10.0]]), target_mask=torch.tensor([[True]]),
                     target_ids=torch.tensor([[1]]), index=torch.tensor([0]))
    outs = {"forget": _outputs(), "retain": retain}
    assert GradientAscent().loss_sum(outs).item() == pytest.approx(-6.0)
    assert _named("gdr").loss_sum(outs).item() == pytest.approx(10.0)
    # a term built on another stream reads that one
    assert GradientAscent(streams=("retain",)).loss_sum(outs).item() == pytest.approx(-10.0)


def test_term_streams_units_and_needs():
    assert GradientAscent.streams == ("forget",) and NPO.streams == ("forget",)
    # the streams SPEC 3 names for each named NLL term: refusals (IDK), random answers (LLMU's
    # mismatch), ReLearn's augmented set, TRU's reasoning refusals, the retain set (GDR)
    named = {"idk": "forget_idk", "mismatch": "forget_random", "gdr": "retain", "finetune": "train",
             "relearn": "augmented", "tru": "targets"}
    assert {k: NAMED_TERMS.get(k).streams for k in named} == {k: (v,) for k, v in named.items()}
    assert NAMED_TERMS.get("gdr").role == "retain" and NAMED_TERMS.get("finetune").role == "train"
    assert GradientAscentSampled.streams == ("forget_sampled",)
    assert KLR.streams == ("retain",) and RMURetain.streams == ("retain",)
    assert DPO.streams == ("forget", "forget_idk")
    assert NPO.unit == "sequence" and DPO.unit == "sequence"
    for cls in (GradientAscent, NLL, KLR, RMU):
        assert cls.unit == "token"
    assert NPO().needs() == {"forget": Needs(ref_logps=True)}
    assert DPO().needs() == {"forget": Needs(ref_logps=True), "forget_idk": Needs(ref_logps=True)}
    assert KLR().needs() == {"retain": Needs(logits=True, ref_logits=True)}
    # SPEC 3.1: TNPO weighs by the reference's token probability, UNDIAL distils towards its logits;
    # TS, CE-U and BS-T reshape the model's own logits; WGA, SatImp, SimNPO and FLAT need no reference
    assert TNPO().needs() == {"forget": REF}
    assert UNDIAL().needs() == {"forget": Needs(logits=True, ref_logits=True)}
    for cls in (TemperatureScaledGA, CEU, BST):
        assert cls().needs() == {"forget": Needs(logits=True)}
    for term in (WGA(), SatImp(), SimNPO(), FLAT()):
        assert not any(n.reference for n in term.needs().values()) and not any(n.logits for n in term.needs().values())
    for term in (GradientAscent(), *(_named(k) for k in named)):
        assert term.needs() == {term.streams[0]: Needs()}


def test_npo_term_by_hand():
    # sequence sums -3 and -3; reference -3 and -3 - ln 3: log ratios 0 and ln 3.
    # beta = 1: row 0: -2 ln sigmoid(0) = 2 ln 2; row 1: -2 ln sigmoid(-ln 3) = -2 ln(1/4) = 4 ln 2.
    # sum 6 ln 2; over 2 sequences 3 ln 2
    ref = torch.tensor([[-3.0, 0.0, 50.0], [-3.0 - LN3, 50.0, 50.0]])  # off-target values must not count
    out = _outputs(ref_token_logps=ref)
    term = NPO(NPOParams(beta=1.0))
    assert term.loss_sum({"forget": out}).item() == pytest.approx(6 * LN2, rel=1e-6)
    total, _ = weighted_loss([_wt(term, "npo")], {"forget": out}, {"npo": 2})
    assert total.item() == pytest.approx(3 * LN2, rel=1e-6)
    # default beta 0.1: at log ratio 0 each sequence gives -(2/0.1) ln(1/2) = 20 ln 2; 2 sequences 40 ln 2
    out0 = _outputs(ref_token_logps=torch.tensor([[-1.0, -2.0, 0.0], [-3.0, 0.0, 0.0]]))
    assert NPO().params.beta == 0.1
    assert NPO().loss_sum({"forget": out0}).item() == pytest.approx(40 * LN2, rel=1e-6)


def test_klr_term_by_hand_masked_to_targets():
    # V = 2, positions: 0 target (p_ref (1/2,1/2) vs p_theta (3/4,1/4):
    #   KL = 1/2 ln((1/2)/(3/4)) + 1/2 ln((1/2)/(1/4)) = 1/2 ln(2/3) + 1/2 ln 2 = 1/2 ln(4/3)),
    # 1 target (identical: 0), 2 not a target (very different, must not count).
    # Sum over the target tokens: 1/2 ln(4/3); token mean over the 2 target tokens: 1/4 ln(4/3)
    logits = torch.tensor([[[LN3, 0.0], [1.0, 2.0], [10.0, -10.0]]])
    ref_logits = torch.tensor([[[0.0, 0.0], [1.0, 2.0], [-10.0, 10.0]]])
    out = Outputs(token_logps=torch.zeros(1, 3), target_mask=torch.tensor([[True, True, False]]),
                  target_ids=torch.zeros(1, 3, dtype=torch.long), index=torch.tensor([0]),
                  logits=logits, ref_logits=ref_logits)
    assert KLR().loss_sum({"retain": out}).item() == pytest.approx(0.5 * math.log(4 / 3), abs=1e-6)
    total, _ = weighted_loss([_wt(KLR(), "klr", role="retain")], {"retain": out}, {"klr": 2})
    assert total.item() == pytest.approx(0.25 * math.log(4 / 3), abs=1e-6)


def _dpo_outputs() -> dict[str, Outputs]:
    # chosen = the refusal (forget_idk stream), rejected = the forget answer (forget stream); T = 2.
    # chosen:   mask [[T, T], [T, F]]; logps [[-1, -1], [-3, 99]]             -> sums -2, -3
    #           ref  [[-1, -1 - ln 3], [-3, -50]]                             -> sums -2 - ln 3, -3
    #           log ratios: row 0 ln 3, row 1 0
    # rejected: mask [[T, F], [T, T]]; logps [[-4, 99], [-1, -2]]             -> sums -4, -3
    #           ref  [[-4 + ln 3, 77], [-1, -2]]                              -> sums -4 + ln 3, -3
    #           log ratios: row 0 -ln 3, row 1 0
    # margins (chosen - rejected): row 0 2 ln 3, row 1 0
    chosen = Outputs(token_logps=torch.tensor([[-1.0, -1.0], [-3.0, 99.0]]),
                     target_mask=torch.tensor([[True, True], [True, False]]),
                     target_ids=torch.tensor([[3, 4], [5, 0]]), index=torch.tensor([0, 1]),
                     ref_token_logps=torch.tensor([[-1.0, -1.0 - LN3], [-3.0, -50.0]]))
    rejected = Outputs(token_logps=torch.tensor([[-4.0, 99.0], [-1.0, -2.0]]),
                       target_mask=torch.tensor([[True, False], [True, True]]),
                       target_ids=torch.tensor([[6, 0], [7, 8]]), index=torch.tensor([0, 1]),
                       ref_token_logps=torch.tensor([[-4.0 + LN3, 77.0], [-1.0, -2.0]]))
    return {"forget": rejected, "forget_idk": chosen}


def test_dpo_term_by_hand():
    # beta 0.5: row 0: -(2/0.5) ln sigmoid(0.5 * 2 ln 3) = -4 ln sigmoid(ln 3) = -4 ln(3/4) = 4 ln(4/3)
    #           row 1: -4 ln sigmoid(0) = 4 ln 2
    # sum 4 ln(4/3) + 4 ln 2 = 4 ln(8/3); over 2 sequences: 2 ln(8/3).
    # (Chosen and rejected swapped, row 0 would give -4 ln sigmoid(-ln 3) = -4 ln(1/4) = 8 ln 2.)
    method = build_method(MethodConfig(name="DPO", params={"dpo": {"beta": 0.5}}))
    assert method.terms[0].term.params.beta == 0.5
    outs = _dpo_outputs()
    assert method.terms[0].term.loss_sum(outs).item() == pytest.approx(4 * math.log(8 / 3), rel=1e-6)
    total, parts = weighted_loss(method.terms, outs, {"dpo": 2})
    assert total.item() == pytest.approx(2 * math.log(8 / 3), rel=1e-6)
    assert parts["dpo"].item() == pytest.approx(2 * math.log(8 / 3), rel=1e-6)
    # the same term built directly, default beta 0.1: row 0 -20 ln sigmoid(0.2 ln 3), row 1 20 ln 2
    expected = -20 * math.log(1 / (1 + math.exp(-0.2 * LN3))) + 20 * LN2
    assert DPO().loss_sum(outs).item() == pytest.approx(expected, rel=1e-6)
    assert DPO(DPOParams(beta=0.5)).loss_sum(outs).item() == pytest.approx(4 * math.log(8 / 3), rel=1e-6)


# ----------------------------------------------------------------------------------------- RMU


def _tiny_llama(layers: int = 4, hidden: int = 8):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=16, hidden_size=hidden, intermediate_size=16, num_hidden_layers=layers,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=32)
    return LlamaForCausalLM(config)


@pytest.fixture(scope="module")
def llama():
    return _tiny_llama()


def _trained(model, patterns: list[str]) -> set[str]:
    """Parameter names a SetupContext's patterns select (a name containing one of them trains)."""
    return {n for n, _ in model.named_parameters() if any(p in n for p in patterns)}


def test_rmu_default_layer_and_trainable_modules(llama):
    term = RMU()
    ctx = SetupContext(llama, seed=0)
    term.setup(ctx)
    # default layer round(7/32 * depth): depth 4 -> round(0.875) = 1
    assert term.layer == 1
    # layers_trained 3 ending at layer 1: layers -1..1, of which 0 and 1 exist
    assert _trained(llama, ctx.trainable_patterns) == {"model.layers.0.mlp.down_proj.weight",
                                                       "model.layers.1.mlp.down_proj.weight"}
    # the layer is known after setup: the forget stream needs its hidden states
    assert term.needs() == {"forget": Needs(hidden_layers=(1,))}
    # other depths: 32 -> 7 (WMDP's layer 7 of Zephyr-7B), 2 -> round(0.4375) = 0, 16 -> round(3.5) = 4
    assert rmu_layer(None, 32) == 7 and rmu_layer(None, 2) == 0 and rmu_layer(None, 16) == 4


def test_rmu_explicit_layer(llama):
    ctx = SetupContext(llama, seed=0)
    term = RMU(RMUParams(layer=3))
    term.setup(ctx)
    assert term.layer == 3
    # layers 3 - 3 + 1 = 1 .. 3
    assert _trained(llama, ctx.trainable_patterns) == {f"model.layers.{i}.mlp.down_proj.weight" for i in (1, 2, 3)}
    ctx = SetupContext(llama, seed=0)
    RMU(RMUParams(layer=2, layers_trained=1)).setup(ctx)
    assert _trained(llama, ctx.trainable_patterns) == {"model.layers.2.mlp.down_proj.weight"}
    ctx = SetupContext(llama, seed=0)
    RMU(RMUParams(layer=2, layers_trained=2, module="mlp.up_proj")).setup(ctx)
    assert _trained(llama, ctx.trainable_patterns) == {"model.layers.1.mlp.up_proj.weight",
                                                       "model.layers.2.mlp.up_proj.weight"}


@pytest.mark.parametrize("layer", [4, 10, -1])
def test_rmu_layer_outside_the_model_is_a_config_error(llama, layer):
    with pytest.raises(ConfigError, match=r"RMU layer .*0\.\.3"):
        RMU(RMUParams(layer=layer)).setup(SetupContext(llama, seed=0))
    with pytest.raises(ConfigError):
        RMURetain(RMURetainParams(layer=layer)).setup(SetupContext(llama, seed=0))


def test_rmu_control_vector_norm_and_seed(llama):
    def control(seed: int, coefficient: float = 6.5) -> torch.Tensor:
        term = RMU(RMUParams(coefficient=coefficient))
        term.setup(SetupContext(llama, seed=seed))
        return term.control

    c = control(3)
    assert c.shape == (8,)  # the hidden size
    assert torch.linalg.vector_norm(c).item() == pytest.approx(6.5, rel=1e-5)  # default coefficient
    assert (c >= 0).all()  # u is uniform in [0, 1)^H
    assert torch.equal(control(3), c)  # same seed, same vector
    assert not torch.equal(control(4), c)  # another seed, another vector
    assert torch.linalg.vector_norm(control(3, 20.0)).item() == pytest.approx(20.0, rel=1e-5)
    # the checkpointed state gives it back exactly
    fresh = RMU()
    fresh.load_state_dict({"control": c.clone()})
    assert torch.equal(fresh.control, c)


def test_rmu_loss_sum_by_hand(llama):
    # coefficient 4, H = 8: ||c|| = 4, so sum_h c_h^2 = 16 and a zero hidden state has MSE 16 / 8 = 2.
    term = RMU(RMUParams(coefficient=4.0))
    term.setup(SetupContext(llama, seed=0))
    layer, c = term.layer, term.control
    # B = 2, L = 3 (T = 2). target_mask [[T, T], [F, T]] -> hidden positions [[F, T, T], [F, F, T]].
    #   row 0 pos 0: junk 100 (prompt, must not count)
    #   row 0 pos 1: zeros              -> MSE 2
    #   row 0 pos 2: c + 1 everywhere   -> MSE (8 * 1) / 8 = 1
    #   row 1 pos 0, 1: junk -100
    #   row 1 pos 2: c + (2, 0, ..., 0) -> MSE 4 / 8 = 0.5
    # sum 3.5; over 3 target tokens 3.5 / 3
    hidden = torch.full((2, 3, 8), 100.0)
    hidden[0, 1] = 0.0
    hidden[0, 2] = c + 1.0
    hidden[1, :2] = -100.0
    hidden[1, 2] = c + torch.tensor([2.0, 0, 0, 0, 0, 0, 0, 0])
    out = Outputs(token_logps=torch.zeros(2, 2), target_mask=torch.tensor([[True, True], [False, True]]),
                  target_ids=torch.zeros(2, 2, dtype=torch.long), index=torch.tensor([0, 1]),
                  hidden={layer: hidden})
    assert term.loss_sum({"forget": out}).item() == pytest.approx(3.5, rel=1e-5)
    total, _ = weighted_loss([_wt(term, "rmu")], {"forget": out}, {"rmu": 3})
    assert total.item() == pytest.approx(3.5 / 3, rel=1e-5)


def test_rmu_retain_loss_sum_by_hand(llama):
    # MSE between the model's and the reference's hidden states at the target positions:
    # row 0 pos 1: diff (1, 1, 1, 1, 0, 0, 0, 0) -> 4 / 8 = 0.5; pos 2: diff 3 in one entry -> 9 / 8;
    # pos 0 (prompt) differs by 50 everywhere and must not count. Sum 0.5 + 1.125 = 1.625
    term = RMURetain()
    term.setup(SetupContext(llama, seed=0))
    assert term.layer == 1
    ref = torch.zeros(1, 3, 8)
    hidden = torch.zeros(1, 3, 8)
    hidden[0, 0] = 50.0
    hidden[0, 1, :4] = 1.0
    hidden[0, 2, 5] = -3.0
    out = Outputs(token_logps=torch.zeros(1, 2), target_mask=torch.tensor([[True, True]]),
                  target_ids=torch.zeros(1, 2, dtype=torch.long), index=torch.tensor([0]),
                  hidden={1: hidden}, ref_hidden={1: ref})
    assert term.loss_sum({"retain": out}).item() == pytest.approx(1.625, rel=1e-6)
    assert term.needs() == {"retain": Needs(hidden_layers=(1,), ref_hidden_layers=(1,))}


def test_rmu_preset_needs_after_setup(llama):
    method = build_method(MethodConfig(name="RMU"))
    ctx = SetupContext(llama, seed=0)
    for t in method.terms:
        t.term.setup(ctx)
    assert method.needs("forget") == Needs(hidden_layers=(1,))
    assert method.needs("retain") == Needs(hidden_layers=(1,), ref_hidden_layers=(1,))
    assert method.needs_reference and method.needs_reference_model


# ---------------------------------------------------------------------------------------- Needs


def test_needs_union_by_hand():
    a = Needs(logits=True, hidden_layers=(3, 1))
    b = Needs(ref_logps=True, hidden_layers=(1, 2), ref_hidden_layers=(5,))
    # flags OR'ed; layer tuples: sorted union {3, 1} | {1, 2} = (1, 2, 3), () | (5,) = (5,)
    expected = Needs(logits=True, hidden_layers=(1, 2, 3), ref_logps=True, ref_logits=False,
                     ref_hidden_layers=(5,))
    assert a | b == expected and b | a == expected
    assert Needs() | Needs() == Needs()
    assert a | Needs() == Needs(logits=True, hidden_layers=(1, 3))
    # cached log-probs suffice for ref_logps alone; distributions or hidden states need the model
    assert Needs(ref_logps=True).reference and not Needs(ref_logps=True).reference_model
    assert Needs(ref_logits=True).reference_model
    assert Needs(ref_hidden_layers=(2,)).reference and Needs(ref_hidden_layers=(2,)).reference_model
    assert not Needs(logits=True, hidden_layers=(1,)).reference


# -------------------------------------------------------------------------------------- presets

def test_bs_s_refreshes_its_sampled_stream_every_2_epochs():
    method = build_method(MethodConfig(name="BS_S"))
    assert method.refreshes() == {"forget_sampled": Refresh("forget_sampled", every_epochs=2.0, do_sample=True,
                                                            max_new_tokens=64)}
    method = build_method(MethodConfig(name="BS_S", params={"ga_sampled": {"resample_every": 1, "sample": False}}))
    assert method.refreshes() == {"forget_sampled": Refresh("forget_sampled", 1.0, False, 64)}


def test_rmu_preset_defaults():
    method = build_method(MethodConfig(name="RMU"))
    p = method.terms[0].term.params
    assert (p.layer, p.coefficient, p.module, p.layers_trained) == (None, 6.5, "mlp.down_proj", 3)


# ------------------------------------------------------------------------------- method losses


def test_method_loss_is_gamma_forget_plus_alpha_retain():
    # forget GA on _outputs(): sum -6 over 3 tokens = -2; retain GDR: token logps -1 and -4 -> sum 5 over
    # 2 tokens = 2.5. total = gamma * (-2) + alpha * 2.5 = 2 * (-2) + 0.5 * 2.5 = -2.75
    method = build_method(MethodConfig(name="GA_GDR", gamma=2.0, alpha=0.5))
    assert [t.weight for t in method.terms] == [2.0, 0.5]
    retain = Outputs(token_logps=torch.tensor([[-1.0, -4.0]]), target_mask=torch.tensor([[True, True]]),
                     target_ids=torch.tensor([[1, 2]]), index=torch.tensor([0]))
    total, parts = weighted_loss(method.terms, {"forget": _outputs(), "retain": retain}, {"ga": 3, "gdr": 2})
    assert total.item() == pytest.approx(-2.75)
    assert set(parts) == {"ga", "gdr"}
    assert parts["ga"].item() == pytest.approx(-2.0)  # unweighted
    assert parts["gdr"].item() == pytest.approx(2.5)

    # NPO_KLR: gamma * 3 ln 2 (beta 1, see test_npo_term_by_hand) + alpha * 1/2 ln(4/3) (1 target token)
    method = build_method(MethodConfig(name="NPO_KLR", gamma=1.5, alpha=4.0, params={"npo": {"beta": 1.0}}))
    forget = _outputs(ref_token_logps=torch.tensor([[-3.0, 0.0, 0.0], [-3.0 - LN3, 0.0, 0.0]]))
    retain = Outputs(token_logps=torch.zeros(1, 1), target_mask=torch.tensor([[True]]),
                     target_ids=torch.tensor([[0]]), index=torch.tensor([0]), logits=torch.tensor([[[LN3, 0.0]]]),
                     ref_logits=torch.tensor([[[0.0, 0.0]]]))
    total, _ = weighted_loss(method.terms, {"forget": forget, "retain": retain}, {"npo": 2, "klr": 1})
    assert total.item() == pytest.approx(1.5 * 3 * LN2 + 4.0 * 0.5 * math.log(4 / 3), rel=1e-6)


def test_llmu_loss_by_hand():
    # LLMU = 0.5 GA(forget) + 1 NLL(forget_random) + 1 KL(retain)
    # forget: GA -6 / 3 tokens = -2; forget_random (same numbers): NLL 6 / 3 = 2;
    # retain: KL 1/2 ln(4/3) / 1 token. total = 0.5 * (-2) + 2 + 1/2 ln(4/3) = 1 + 1/2 ln(4/3)
    method = build_method(MethodConfig(name="LLMU"))
    retain = Outputs(token_logps=torch.zeros(1, 1), target_mask=torch.tensor([[True]]),
                     target_ids=torch.tensor([[0]]), index=torch.tensor([0]), logits=torch.tensor([[[LN3, 0.0]]]),
                     ref_logits=torch.tensor([[[0.0, 0.0]]]))
    outs = {"forget": _outputs(), "forget_random": _outputs(), "retain": retain}
    total, parts = weighted_loss(method.terms, outs, {"ga": 3, "mismatch": 3, "klr": 1})
    assert total.item() == pytest.approx(1 + 0.5 * math.log(4 / 3), rel=1e-6)
    assert parts["mismatch"].item() == pytest.approx(2.0)


def test_method_loss_skips_zero_weight_terms():
    method = build_method(MethodConfig(name="GA_GDR", alpha=0.0))
    assert [t.key for t in method.terms] == ["ga"]
    total, parts = weighted_loss(method.terms, {"forget": _outputs()}, {"ga": 3})  # no retain stream needed
    assert total.item() == pytest.approx(-2.0)
    assert set(parts) == {"ga"}


# ---------------------------------------------------------------------------------- parameters


def test_params_are_typed_from_yaml_strings():
    # YAML reads 5e-2 (no dot) as the string '5e-2'
    method = build_method(MethodConfig(name="NPO_GDR", params={"npo": {"beta": "5e-2"}}))
    beta = method.terms[0].term.params.beta
    assert isinstance(beta, float) and beta == 0.05
    method = build_method(MethodConfig(name="NPO_GDR", params={"npo": {"beta": 1}}))
    assert isinstance(method.terms[0].term.params.beta, float)


def test_param_that_is_not_a_number():
    with pytest.raises(ConfigError) as err:
        build_method(MethodConfig(name="NPO_GDR", params={"npo": {"beta": "abc"}}))
    assert "method.params.npo.beta" in str(err.value) and "'abc'" in str(err.value)


def test_flat_params_point_to_the_namespaced_form():
    with pytest.raises(ConfigError) as err:
        build_method(MethodConfig(name="NPO_GDR", params={"beta": 0.2}))
    assert "method.params.npo.beta" in str(err.value)


def test_param_of_a_term_without_parameters():
    # klr has no parameters: the message must name the key and say what klr accepts (nothing)
    with pytest.raises(ConfigError) as err:
        build_method(MethodConfig(name="NPO_KLR", params={"klr": {"beta": 1}}))
    msg = str(err.value)
    assert "method.params.klr.beta" in msg
    assert re.search(r"no parameters|none", msg), msg
    with pytest.raises(ConfigError) as err:
        build_method(MethodConfig(name="GA", params={"ga": {"beta": 0.2}}))
    assert "method.params.ga.beta" in str(err.value)
    assert re.search(r"no parameters|none", str(err.value)), str(err.value)


def test_misspelt_param_lists_the_terms_params():
    with pytest.raises(ConfigError) as err:
        build_method(MethodConfig(name="NPO", params={"npo": {"betta": 0.2}}))
    msg = str(err.value)
    assert "method.params.npo.betta" in msg and "beta" in msg.replace("betta", "")


def test_params_key_that_is_no_term_lists_the_terms():
    with pytest.raises(ConfigError) as err:
        build_method(MethodConfig(name="NPO_GDR", params={"foo": {"x": 1}}))
    msg = str(err.value)
    assert "method.params.foo" in msg and "npo" in msg and "gdr" in msg
    # a transform's params on a method without that transform
    with pytest.raises(ConfigError, match="method.params.gru"):
        build_method(MethodConfig(name="NPO", params={"gru": {"gamma": 0.9}}))
    # a term key that is not a mapping
    with pytest.raises(ConfigError, match="method.params.npo"):
        build_method(MethodConfig(name="NPO", params={"npo": 0.2}))


def test_unknown_method_lists_presets():
    with pytest.raises(ConfigError) as err:
        build_method(MethodConfig(name="NOPE"))
    msg = str(err.value)
    assert "'NOPE'" in msg
    for name in list(PRESETS) + ["custom"]:
        assert name in msg


def test_unknown_transform():
    with pytest.raises(ConfigError) as err:
        build_method(MethodConfig(name="NPO+FOO"))
    assert "'foo'" in str(err.value) and "gru" in str(err.value)
    with pytest.raises(ConfigError):
        build_method(MethodConfig(name="NPO", transforms=["foo"]))


def test_gru_suffix_adds_a_guide_term_and_the_transform():
    """A preset without a retain term gets GDR as a guide: read by GRU for m, never applied."""
    method = build_method(MethodConfig(name="NPO+GRU"))
    assert [(t.key, t.role, type(t.term), t.weight) for t in method.terms] == [
        ("npo", "forget", NPO, 1.0), ("gdr", "guide", NLL, 1.0)]
    assert [type(t) for t in method.transforms] == [GRU]
    assert method.transforms[0].params.gamma == 0.8  # the default
    assert method.groups == ["forget", "guide"]
    assert [t.key for t in method.group_terms("all")] == ["npo"]  # a guide never joins the applied loss
    assert method.streams == ["forget", "retain"]
    method = build_method(MethodConfig(name="NPO+GRU", params={"gru": {"gamma": 0.9}, "npo": {"beta": 0.2}}))
    assert method.transforms[0].params.gamma == 0.9 and method.terms[0].term.params.beta == 0.2
    # a preset that has a retain term keeps it (no second gdr)
    method = build_method(MethodConfig(name="NPO_KLR+GRU"))
    assert [t.key for t in method.terms] == ["npo", "klr"]
    # method.transforms is the same as the suffix
    method = build_method(MethodConfig(name="GA", transforms=["gru"]))
    assert [t.key for t in method.terms] == ["ga", "gdr"] and [type(t) for t in method.transforms] == [GRU]
    with pytest.raises(ConfigError, match="method.params.gru.gama"):
        build_method(MethodConfig(name="NPO+GRU", params={"gru": {"gama": 0.9}}))


def test_weights_set_one_term():
    method = build_method(MethodConfig(name="LLMU", weights={"mismatch": 0.25}))
    assert [(t.key, t.weight) for t in method.terms] == [("ga", 0.5), ("mismatch", 0.25), ("klr", 1.0)]
    method = build_method(MethodConfig(name="RMU", weights={"rmu_retain": "1200"}))
    assert [t.weight for t in method.terms] == [1.0, 1200.0]
    with pytest.raises(ConfigError) as err:
        build_method(MethodConfig(name="NPO", weights={"gdr": 1.0}))
    assert "method.weights.gdr" in str(err.value) and "npo" in str(err.value)
    with pytest.raises(ConfigError, match="method.weights.npo"):
        build_method(MethodConfig(name="NPO", weights={"npo": "heavy"}))


def test_gamma_and_alpha_multiply_preset_weights():
    # LLMU forget weights 0.5 and 1, retain 1. gamma 2: ga 0.5 * 2 = 1.0, mismatch 1 * 2 = 2.0, klr 1.0
    method = build_method(MethodConfig(name="LLMU", gamma=2.0))
    assert [(t.key, t.weight) for t in method.terms] == [("ga", 1.0), ("mismatch", 2.0), ("klr", 1.0)]
    # alpha 3 on RMU: rmu_retain 100 * 3 = 300; rmu untouched
    method = build_method(MethodConfig(name="RMU", alpha=3.0))
    assert [(t.key, t.weight) for t in method.terms] == [("rmu", 1.0), ("rmu_retain", 300.0)]
    # NPO_GDR gamma 0.25, alpha 3
    method = build_method(MethodConfig(name="NPO_GDR", gamma=0.25, alpha=3.0, params={"npo": {"beta": 0.2}}))
    assert [t.weight for t in method.terms] == [0.25, 3.0]
    assert method.terms[0].term.params.beta == 0.2


def test_custom_method():
    method = build_method(MethodConfig(name="custom", forget="npo", retain="klr"))
    assert [(t.key, t.role, type(t.term)) for t in method.terms] == [("npo", "forget", NPO), ("klr", "retain", KLR)]
    assert method.needs_reference_model
    method = build_method(MethodConfig(name="custom", forget="ga", retain="none"))
    assert [t.key for t in method.terms] == ["ga"]
    method = build_method(MethodConfig(name="custom", forget="dpo", params={"dpo": {"beta": 0.3}}))
    assert method.streams == ["forget", "forget_idk"] and method.terms[0].term.params.beta == 0.3
    with pytest.raises(ConfigError, match="method.forget"):
        build_method(MethodConfig(name="custom"))  # custom needs method.forget
    with pytest.raises(ConfigError) as err:
        build_method(MethodConfig(name="custom", forget="nope"))
    msg = str(err.value)
    assert "'nope'" in msg and all(name in msg for name in ("ga", "npo", "idk", "dpo", "rmu"))
    with pytest.raises(ConfigError) as err:
        build_method(MethodConfig(name="custom", forget="ga", retain="nope"))
    assert "'nope'" in str(err.value) and "gdr" in str(err.value) and "klr" in str(err.value)


def test_forget_or_retain_on_a_preset_is_an_error():
    with pytest.raises(ConfigError, match="custom"):
        build_method(MethodConfig(name="GA", retain="gdr"))
    with pytest.raises(ConfigError, match="custom"):
        build_method(MethodConfig(name="NPO_GDR", forget="ga"))


def test_zero_weights_are_rejected_or_dropped():
    # every forget weight 0: nothing to unlearn
    with pytest.raises(ConfigError, match="method.gamma"):
        build_method(MethodConfig(name="GA", gamma=0.0))
    with pytest.raises(ConfigError):
        build_method(MethodConfig(name="LLMU", weights={"ga": 0, "mismatch": 0}))
    # one forget term at 0 is dropped, the other stays
    method = build_method(MethodConfig(name="LLMU", weights={"ga": 0}))
    assert [t.key for t in method.terms] == ["mismatch", "klr"]
    assert method.streams == ["forget_random", "retain"]
    # a zero-weight retain term is dropped: its stream and its reference passes disappear
    method = build_method(MethodConfig(name="NPO_KLR", alpha=0.0))
    assert [t.key for t in method.terms] == ["npo"]
    assert method.streams == ["forget"] and method.needs_reference and not method.needs_reference_model
    method = build_method(MethodConfig(name="GA_KLR", weights={"klr": 0.0}))
    assert method.streams == ["forget"] and not method.needs_reference


# --------------------------------------------------------------------- checks added after review


def test_rmu_retain_term_follows_the_forget_terms_layer():
    from transformers import LlamaConfig, LlamaForCausalLM

    from unlearn.methods.base import SetupContext

    model = LlamaForCausalLM(LlamaConfig(vocab_size=16, hidden_size=8, intermediate_size=16, num_hidden_layers=8,
                                         num_attention_heads=2, num_key_value_heads=2))
    method = build_method(MethodConfig(name="RMU", params={"rmu": {"layer": 5}}))
    ctx = SetupContext(model, seed=0)
    for t in method.terms:
        t.term.setup(ctx)
    assert [t.term.layer for t in method.terms] == [5, 5]  # not the retain term's own default, round(7/4) = 2
    explicit = build_method(MethodConfig(name="RMU", params={"rmu": {"layer": 5}, "rmu_retain": {"layer": 3}}))
    ctx = SetupContext(model, seed=0)
    for t in explicit.terms:
        t.term.setup(ctx)
    assert [t.term.layer for t in explicit.terms] == [5, 3]


def test_a_transform_without_its_gradient_group_is_an_error():
    with pytest.raises(ConfigError, match="gru transform needs a retain term"):
        build_method(MethodConfig(name="NPO_GDR+GRU", alpha=0.0))
    with pytest.raises(ConfigError, match="gru transform needs a forget term"):
        build_method(MethodConfig(name="finetune+GRU"))


@pytest.mark.parametrize("params, key", [
    ({"npo": {"beta": 0}}, "method.params.npo.beta must be above 0"),
    ({"gru": {"gamma": 1.5}}, "method.params.gru.gamma must be in (0, 1]"),
])
def test_out_of_range_parameters_are_errors(params, key):
    name = "NPO+GRU"
    with pytest.raises(ConfigError) as err:
        build_method(MethodConfig(name=name, params=params))
    assert key in str(err.value)


def test_out_of_range_parameters_of_other_terms():
    with pytest.raises(ConfigError, match="method.params.dpo.beta must be above 0"):
        build_method(MethodConfig(name="DPO", params={"dpo": {"beta": -1}}))
    with pytest.raises(ConfigError, match="method.params.ga_sampled.resample_every must be above 0"):
        build_method(MethodConfig(name="BS_S", params={"ga_sampled": {"resample_every": 0}}))
    with pytest.raises(ConfigError, match=r"method.params.rmu.layers_trained must be at least 1 \(got 0\)"):
        build_method(MethodConfig(name="RMU", params={"rmu": {"layers_trained": 0}}))
    with pytest.raises(ConfigError, match=r"method.params.flat.divergence must be one of tv, kl, js, pearson"):
        build_method(MethodConfig(name="FLAT_TV", params={"flat": {"divergence": "hellinger"}}))
    with pytest.raises(ConfigError, match=r"method.params.bst.lam must be in \[0, 1\] \(got 1.5\)"):
        build_method(MethodConfig(name="BS_T", params={"bst": {"lam": 1.5}}))


@pytest.mark.parametrize("cfg, key", [
    (MethodConfig(name="NPO_GDR", gamma=-1.0), "method.gamma must be at least 0 (got -1.0)"),
    (MethodConfig(name="NPO_GDR", alpha=-0.5), "method.alpha must be at least 0 (got -0.5)"),
    (MethodConfig(name="NPO_GDR", weights={"gdr": -2}), "method.weights.gdr must be at least 0 (got -2.0)"),
])
def test_negative_weights_need_the_flag(cfg, key):
    with pytest.raises(ConfigError) as err:
        build_method(cfg)
    assert str(err.value).startswith(key) and "method.allow_negative_weights=true" in str(err.value)
    method = build_method(dataclasses.replace(cfg, allow_negative_weights=True))
    assert any(t.weight < 0 for t in method.terms)


def test_hidden_states_are_each_layers_own_output_even_the_last():
    """transformers' hidden_states[-1] is the last layer's output after the final norm; RMU needs the
    layer's own output, which the engine captures with forward hooks."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from unlearn.engine.forward import forward_with_hidden

    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=16, hidden_size=8, intermediate_size=16, num_hidden_layers=3,
                                         num_attention_heads=2, num_key_value_heads=2)).eval()
    batch = {"input_ids": torch.tensor([[1, 2, 3, 4]]), "attention_mask": torch.ones(1, 4, dtype=torch.long)}
    _, hidden = forward_with_hidden(model, batch, (0, 2))
    reference = model(**batch, output_hidden_states=True).hidden_states
    assert torch.allclose(hidden[0], reference[1])  # a middle layer: the same tensor either way
    assert not torch.allclose(hidden[2], reference[3])  # the last: transformers applied the final norm
    assert torch.allclose(model.model.norm(hidden[2]), reference[3])


def test_dgs_and_sure_presets():
    dgs = build_method(MethodConfig(name="NPO+DGS"))
    assert [t.key for t in dgs.terms] == ["npo", "gdr"]  # DGS reads a retain gradient: GDR is added as a guide
    assert dgs.groups == ["forget", "guide"]
    sure = build_method(MethodConfig(name="GA+SURE"))
    assert [t.key for t in sure.terms] == ["ga"] and sure.groups == ["forget"]  # SURE needs the forget group only
    with pytest.raises(ConfigError, match="keep_end <= keep_start"):
        build_method(MethodConfig(name="NPO+DGS", params={"dgs": {"keep_start": 0.3}}))
