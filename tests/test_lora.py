"""LoRA (lora.r > 0): only the adapter trains, the reference is the same weights with the adapter
switched off (no second copy of the base weights), both save modes give loadable models, and a bad
LoRA config fails before any model is loaded."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file

from unlearn import api
from unlearn.config import load_config
from unlearn.core.errors import ConfigError
from unlearn.engine import trainer as trainer_mod
from unlearn.engine.reference import AdapterDisabled, FrozenCopy
from unlearn.methods.base import Needs

NPO_STEP1 = 20 * math.log(2)  # -(2/beta) log sigmoid(0) with beta 0.1: model == reference


@dataclass
class Captured:
    """What the engine built for one run, taken from its own hooks (make_reference and StepRunner)."""

    model: Any = None
    reference: Any = None
    trainable: list[torch.nn.Parameter] = field(default_factory=list)
    # Parameters the reference held when it was made, as copies (before any training step).
    reference_at_start: dict[str, torch.Tensor] = field(default_factory=dict)
    requires_grad_at_start: list[str] = field(default_factory=list)


def _unlearn(mp: pytest.MonkeyPatch, out: Path, target_model: Path, world: Path, *overrides: str) -> Captured:
    """NPO_KLR for two steps, recording the model, the reference and the parameters that train."""
    cap = Captured()
    real_make_reference = trainer_mod.make_reference

    def make_reference(strategy, method, model, encoded, pad_id):
        reference = real_make_reference(strategy, method, model, encoded, pad_id)
        cap.model, cap.reference = model, reference
        cap.requires_grad_at_start = [n for n, p in model.named_parameters() if p.requires_grad]
        if isinstance(reference, FrozenCopy):
            cap.reference_at_start = {n: p.detach().clone() for n, p in reference.model.named_parameters()}
        return reference

    class RecordingStepRunner(trainer_mod.StepRunner):
        def __init__(self, accelerator, model, method, data, reference, trainable, max_grad_norm, meter=None):
            super().__init__(accelerator, model, method, data, reference, trainable, max_grad_norm, meter)
            cap.trainable = list(trainable)

    mp.setattr(trainer_mod, "make_reference", make_reference)
    mp.setattr(trainer_mod, "StepRunner", RecordingStepRunner)
    cfg = load_config(overrides=[f"out={out}", f"model.path={target_model}", f"data.path={world}",
                                 "method.name=NPO_KLR", "train.max_steps=2", "train.batch_size=4",
                                 "train.lr=1e-2", "eval.enabled=false", *overrides])
    result = api.run_unlearning(cfg)
    assert result["steps"] == 2 and not result["skipped"]
    return cap


def _log(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]


def _original(target_model: Path) -> torch.nn.Module:
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(target_model).eval()


def _storages(params) -> dict[int, int]:
    """Unique storages (by data pointer) -> number of elements: what is really held in memory."""
    held: dict[int, int] = {}
    for p in params:
        s = p.untyped_storage()
        held[s.data_ptr()] = s.nbytes() // p.element_size()
    return held


def _batch(target_model: Path) -> dict[str, torch.Tensor]:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(target_model)
    texts = ["Question: Where was the person born?\nAnswer: In a small town by the sea.",
             "Question: What is the capital?\nAnswer: Paris"]
    enc = tok(texts, return_tensors="pt", padding=True)
    labels = enc["input_ids"].masked_fill(enc["attention_mask"] == 0, -100)
    return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"], "labels": labels}


@pytest.fixture(scope="module")
def adapter_run(world, target_model, tmp_path_factory):
    """LoRA r 4, saved as an adapter, with a large LoRA dropout (0.5) to show the reference has none."""
    out = tmp_path_factory.mktemp("lora_adapter")
    with pytest.MonkeyPatch.context() as mp:
        cap = _unlearn(mp, out, target_model, world, "lora.r=4", "lora.save=adapter", "lora.dropout=0.5")
    return out, cap


@pytest.fixture(scope="module")
def merged_run(world, target_model, tmp_path_factory):
    out = tmp_path_factory.mktemp("lora_merged")
    with pytest.MonkeyPatch.context() as mp:
        cap = _unlearn(mp, out, target_model, world, "lora.r=4")
    return out, cap


@pytest.fixture(scope="module")
def full_run(world, target_model, tmp_path_factory):
    out = tmp_path_factory.mktemp("full_weights")
    with pytest.MonkeyPatch.context() as mp:
        cap = _unlearn(mp, out, target_model, world)
    return out, cap


# -- only the adapter trains; the saved adapter ------------------------------------------------


def test_only_adapter_parameters_train(adapter_run, target_model):
    _, cap = adapter_run
    names = {id(p): n for n, p in cap.model.named_parameters()}
    trained = [names[id(p)] for p in cap.trainable]
    lora_names = [n for n in names.values() if "lora_" in n]
    # The optimizer's parameters are exactly the LoRA matrices, and nothing else requires grad.
    assert trained and all("lora_" in n for n in trained), trained
    assert sorted(trained) == sorted(lora_names)
    assert sorted(cap.requires_grad_at_start) == sorted(lora_names)
    assert all(not p.requires_grad for n, p in cap.model.named_parameters() if "lora_" not in n)
    # all-linear: every projection of the layer, but not the output head.
    adapted = {n.split(".lora_")[0].rsplit(".", 1)[1] for n in lora_names}
    assert adapted == {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
    assert not any("lm_head" in n for n in lora_names)
    # In memory, after training, the base weights are still the original's bit for bit.
    original = dict(_original(target_model).named_parameters())
    base = {n.replace("base_model.model.", "").replace(".base_layer", ""): p
            for n, p in cap.model.named_parameters() if "lora_" not in n}
    assert set(base) == set(original)
    for n, p in base.items():
        assert torch.equal(p, original[n]), n


def test_saved_adapter_loads_with_peft_onto_the_original(adapter_run, target_model):
    from peft import PeftModel

    out, cap = adapter_run
    saved = load_file(str(out / "model" / "adapter_model.safetensors"))
    assert saved and all("lora_" in k for k in saved), list(saved)[:5]
    assert not (out / "model" / "model.safetensors").exists()  # the adapter only, not the full weights
    b_mats = {k: v for k, v in saved.items() if "lora_B" in k}
    assert len(b_mats) == 7  # one per adapted projection of the single layer
    # LoRA B starts at zero: non-zero B means training changed the adapter that was saved.
    assert all(v.abs().max() > 0 for v in b_mats.values()), [k for k, v in b_mats.items() if not v.any()]

    adapter_config = json.loads((out / "model" / "adapter_config.json").read_text())
    assert Path(adapter_config["base_model_name_or_path"]) == Path(target_model)  # peft finds the base model
    assert adapter_config["r"] == 4
    peft_model = PeftModel.from_pretrained(_original(target_model), out / "model").eval()
    original = _original(target_model).state_dict()
    loaded = peft_model.state_dict()
    for name, value in loaded.items():
        if "lora_" in name:
            continue
        plain = name.replace("base_model.model.", "").replace(".base_layer", "")
        assert torch.equal(value, original[plain]), name
    # The adapter loaded is the one trained: same outputs as the trained model with its adapter on.
    batch = _batch(target_model)
    trained = cap.model
    was = trained.training
    trained.eval()
    try:
        with torch.no_grad():
            expected = trained(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
            got = peft_model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
            base = _original(target_model)(input_ids=batch["input_ids"],
                                            attention_mask=batch["attention_mask"]).logits
    finally:
        trained.train(was)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)
    assert (got - base).abs().max() > 1e-4  # and the adapter does change the model


def test_merged_save_is_a_plain_model_with_only_linear_weights_changed(merged_run, target_model):
    from transformers import AutoModelForCausalLM

    out, _ = merged_run
    folder = out / "model"
    assert not (folder / "adapter_model.safetensors").exists()
    merged = AutoModelForCausalLM.from_pretrained(folder)
    assert type(merged).__name__ == "LlamaForCausalLM"
    after = load_file(str(folder / "model.safetensors"))
    before = load_file(str(target_model / "model.safetensors"))
    assert not any("lora" in k or "base_layer" in k for k in after), [k for k in after if "lora" in k][:3]
    assert set(after) == set(before)
    untouched = [k for k in before if "embed_tokens" in k or "norm" in k]
    assert any("embed_tokens" in k for k in untouched) and any("norm" in k for k in untouched)
    for k in untouched:
        assert torch.equal(after[k], before[k]), k
    linear = [k for k in before if k.endswith("proj.weight")]
    changed = [k for k in linear if not torch.equal(after[k], before[k])]
    assert changed, "no adapted linear weight changed: the adapter was not merged"
    # What from_pretrained loads is what was saved.
    for k, v in merged.state_dict().items():
        if k in after:
            assert torch.equal(v, after[k]), k


# -- the reference: the same weights with the adapter off --------------------------------------


def test_lora_reference_holds_no_parameters_and_one_copy_of_base_weights(adapter_run):
    _, cap = adapter_run
    assert isinstance(cap.reference, AdapterDisabled)
    assert cap.reference.parameters() == []
    assert cap.reference.model is cap.model
    model_params = list(cap.model.parameters())
    held = _storages(model_params + cap.reference.parameters())
    assert sum(held.values()) == sum(p.numel() for p in model_params)  # no storage is counted twice


def test_full_weights_reference_is_a_separate_frozen_copy(full_run, target_model):
    _, cap = full_run
    assert isinstance(cap.reference, FrozenCopy)
    ref_params = cap.reference.parameters()
    model_params = list(cap.model.parameters())
    assert ref_params and all(not p.requires_grad for p in ref_params)
    model_storages, ref_storages = _storages(model_params), _storages(ref_params)
    assert not set(model_storages) & set(ref_storages)
    held = _storages(model_params + ref_params)
    assert sum(held.values()) == 2 * sum(model_storages.values())  # two copies of the weights
    # The copy is the model before unlearning, and stays so while the model trains.
    original = _original(target_model).state_dict()
    for name, p in cap.reference.model.named_parameters():
        assert torch.equal(cap.reference_at_start[name], original[name]), name
        assert torch.equal(p, original[name]), name
    trained = dict(cap.model.named_parameters())
    assert any(not torch.equal(trained[n], p) for n, p in cap.reference.model.named_parameters())


def test_adapter_disabled_reference_gives_base_logits_after_training(adapter_run, target_model):
    _, cap = adapter_run
    assert cap.model.training  # as the loop left it
    batch = _batch(target_model)
    needs = Needs(ref_logps=True, ref_logits=True)
    modes: list[bool] = []
    hooks = [m.register_forward_pre_hook(lambda mod, args: modes.append(mod.training))
             for m in cap.model.modules()]
    try:
        first = cap.reference.outputs("forget", batch, needs)
    finally:
        for h in hooks:
            h.remove()
    assert modes and not any(modes)  # every module ran in eval mode: no dropout anywhere
    assert cap.model.training  # and the training mode is restored afterwards
    with torch.no_grad():
        base = _original(target_model)(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    torch.testing.assert_close(first["ref_logits"], base[:, :-1, :], rtol=0, atol=1e-6)
    # The adapter was trained, so with the adapter on the model is no longer the base model.
    cap.model.eval()
    try:
        with torch.no_grad():
            adapted = cap.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    finally:
        cap.model.train()
    assert (adapted - base).abs().max() > 1e-4


def test_adapter_disabled_reference_has_no_dropout(adapter_run, target_model):
    _, cap = adapter_run
    batch = _batch(target_model)
    needs = Needs(ref_logps=True, ref_logits=True)
    first = cap.reference.outputs("forget", batch, needs)
    second = cap.reference.outputs("forget", batch, needs)
    assert torch.equal(first["ref_logits"], second["ref_logits"])
    assert torch.equal(first["ref_token_logps"], second["ref_token_logps"])
    # Dropout 0.5 is really active on the trained model: two training-mode passes differ.
    assert cap.model.training
    with torch.no_grad():
        a = cap.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        b = cap.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    assert not torch.equal(a, b)


# -- reproducible runs, exact resume ------------------------------------------------------------


def _adapter_args(out: Path, target_model: Path, world: Path, *extra: str):
    # lora.dropout=0.5: dropout masks come from the global RNG, which the trainer seeds from train.seed
    # and a resume restores from the checkpoint, so runs stay identical with dropout on.
    return load_config(overrides=[f"out={out}", f"model.path={target_model}", f"data.path={world}",
                                  "method.name=NPO_KLR", "train.max_steps=4", "train.batch_size=4", "train.lr=1e-2",
                                  "train.save_every=2", "eval.enabled=false", "lora.r=4", "lora.save=adapter",
                                  "lora.dropout=0.5", *extra])


def _adapter(out: Path) -> dict[str, torch.Tensor]:
    return load_file(str(out / "model" / "adapter_model.safetensors"))


def _log_without_time(out: Path) -> list[dict[str, Any]]:
    return [{k: v for k, v in e.items() if k != "elapsed_s"} for e in _log(out)]


@pytest.fixture(scope="module")
def straight_lora_runs(world, target_model, tmp_path_factory):
    outs = [tmp_path_factory.mktemp("lora_straight") for _ in range(2)]
    for out in outs:
        torch.rand(7)  # the global random state differs between the two runs, as in any real process
        api.run_unlearning(_adapter_args(out, target_model, world))
    return outs


def test_same_lora_config_gives_the_same_adapter(straight_lora_runs):
    a, b = straight_lora_runs
    wa, wb = _adapter(a), _adapter(b)
    assert set(wa) == set(wb) and len(wa) == 14
    assert all(torch.equal(wa[k], wb[k]) for k in wa), [k for k in wa if not torch.equal(wa[k], wb[k])]
    assert _log_without_time(a) == _log_without_time(b)


class _Killed(Exception):
    pass


def test_interrupted_lora_run_resumes_exactly(straight_lora_runs, world, target_model, tmp_path, monkeypatch):
    real_step = trainer_mod._Run._one_step

    def dies_at_step_3(self, runner, step, started, progress):
        if step == 2:
            raise _Killed
        return real_step(self, runner, step, started, progress)

    monkeypatch.setattr(trainer_mod._Run, "_one_step", dies_at_step_3)
    with pytest.raises(_Killed):
        api.run_unlearning(_adapter_args(tmp_path, target_model, world))
    ckpt = tmp_path / "checkpoints" / "step-000002"
    saved = load_file(str(ckpt / "trainable.safetensors"))
    assert saved and all("lora_" in k for k in saved)  # the checkpoint holds the adapter only
    monkeypatch.setattr(trainer_mod._Run, "_one_step", real_step)
    result = api.run_unlearning(_adapter_args(tmp_path, target_model, world))
    assert result["resumed_from"] == 2
    straight = straight_lora_runs[0]
    assert _log_without_time(tmp_path) == _log_without_time(straight)
    wa, wb = _adapter(tmp_path), _adapter(straight)
    assert all(torch.equal(wa[k], wb[k]) for k in wb), [k for k in wb if not torch.equal(wa[k], wb[k])]


# -- NPO at step 1 ------------------------------------------------------------------------------


@pytest.mark.parametrize("run", ["adapter_run", "merged_run"])
def test_npo_at_step_one_is_20_ln2_under_lora(run, request):
    out, _ = request.getfixturevalue(run)
    log = _log(out)
    assert [e["step"] for e in log] == [1, 2]
    # LoRA B starts at zero, so at step 1 the model with its adapter is the reference exactly.
    assert log[0]["forget_npo"] == pytest.approx(NPO_STEP1, abs=1e-5)
    # After one update it is not (the adapter moved the model away from the reference).
    assert abs(log[1]["forget_npo"] - NPO_STEP1) > 1e-4


# -- bad LoRA config: one line, before any model is loaded ---------------------------------------


@pytest.mark.parametrize("override, words", [
    ("lora.save=nope", ["lora.save", "nope", "merged", "adapter"]),
    ("lora.r=-1", ["lora.r", "-1"]),
    ("lora.dropout=1.0", ["lora.dropout"]),
    ("lora.target_modules=[]", ["lora.target_modules"]),
])
def test_bad_lora_config_fails_before_loading(override, words, world, tmp_path, monkeypatch):
    def no_loading(*args, **kwargs):
        raise AssertionError("a model was loaded before the LoRA config was checked")

    monkeypatch.setattr(trainer_mod, "load_model", no_loading)
    missing = tmp_path / "no-such-model"
    out = tmp_path / "run"
    r = [] if override.startswith("lora.r=") else ["lora.r=4"]
    with pytest.raises(ConfigError) as err:  # most of these already when the config is read
        api.run_unlearning(load_config(overrides=[f"out={out}", f"model.path={missing}", f"data.path={world}",
                                                  "method.name=NPO_KLR", "train.max_steps=2", "eval.enabled=false", *r,
                                                  override]))
    message = str(err.value)
    assert "\n" not in message
    assert all(w in message for w in words), message
    assert str(missing) not in message and "does not exist" not in message
    assert not out.exists()  # not even the run folder was made


def test_good_lora_config_reaches_the_missing_model(world, tmp_path):
    """The contrast to the test above: with a valid LoRA config the same run fails on the path."""
    from unlearn.core.errors import ModelLoadError

    missing = tmp_path / "no-such-model"
    cfg = load_config(overrides=[f"out={tmp_path / 'run'}", f"model.path={missing}", f"data.path={world}",
                                 "method.name=NPO_KLR", "train.max_steps=2", "eval.enabled=false", "lora.r=4"])
    with pytest.raises(ModelLoadError) as err:
        api.run_unlearning(cfg)
    assert "does not exist" in str(err.value) and "lora." not in str(err.value)
