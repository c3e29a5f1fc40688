"""`unlearn plan`: the memory estimate's parts, worked out by hand on a small Llama config."""

from __future__ import annotations

import json

import pytest

from unlearn.core.errors import ConfigError
from unlearn.engine.plan import PlanRequest, estimate

H, I, V, LAYERS = 32, 64, 100, 2  # hidden, MLP width, vocabulary, decoder layers


@pytest.fixture(scope="module")
def config_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("llama")
    (folder / "config.json").write_text(json.dumps({
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": H, "intermediate_size": I,
        "num_hidden_layers": LAYERS, "num_attention_heads": 4, "num_key_value_heads": 4, "vocab_size": V,
        "tie_word_embeddings": True, "max_position_embeddings": 128}))
    return str(folder)


# Parameters by hand: tied embeddings V x H; per layer q, k, v, o (H x H each), gate, up, down (H x I each)
# and two norms (H each); the final norm H.
PARAMS = V * H + LAYERS * (4 * H * H + 3 * H * I + 2 * H) + H
# LoRA r on every linear but the head: q, k, v, o take H in and give H out; gate, up H -> I; down I -> H.
LORA_PER_R = LAYERS * (4 * (H + H) + 2 * (H + I) + (I + H))


def test_full_weights_with_a_frozen_copy(config_folder):
    plan = estimate(PlanRequest(config_folder, "NPO_KLR", batch_size=2, length=10))
    assert plan.parameters == PARAMS and plan.trainable == PARAMS and plan.reference == "copy"
    assert plan.parts["weights"] == PARAMS * 4
    assert plan.parts["gradients"] == PARAMS * 4 and plan.parts["optimizer (AdamW)"] == 2 * PARAMS * 4
    assert plan.parts["reference copy"] == PARAMS * 4
    tokens = 2 * 10 * 2  # batch x length x (forget and retain streams in one pass)
    assert plan.tokens == tokens
    assert plan.parts["logits"] == tokens * V * 4 * 3
    assert plan.parts["reference logits (KL)"] == 2 * 10 * V * 4
    assert plan.parts["activations"] == tokens * LAYERS * (8 * H + 4 * I + 2 * H) * 4


def test_lora_fsdp2_and_checkpointing_change_what_they_should(config_folder):
    lora = estimate(PlanRequest(config_folder, "NPO_KLR", lora_r=4))
    assert lora.trainable == 4 * LORA_PER_R and lora.reference == "adapter"
    assert lora.parts["reference copy"] == 0 and lora.parts["gradients"] == 4 * LORA_PER_R * 4
    sharded = estimate(PlanRequest(config_folder, "NPO_KLR", gpus=4, shard="fsdp2"))
    assert sharded.parts["weights"] == PARAMS * 4 / 4 and sharded.parts["optimizer (AdamW)"] == 2 * PARAMS * 4 / 4
    layer = 4 * H * H + 3 * H * I + 2 * H
    assert sharded.parts["one layer gathered (FSDP2)"] == layer * 4 * 2
    data_parallel = estimate(PlanRequest(config_folder, "NPO_KLR", gpus=4))
    assert data_parallel.parts["weights"] == PARAMS * 4  # each device holds everything
    plain = estimate(PlanRequest(config_folder, "GA", batch_size=2, length=10))
    checkpointed = estimate(PlanRequest(config_folder, "GA", batch_size=2, length=10, gradient_checkpointing=True))
    assert checkpointed.parts["activations"] < plain.parts["activations"]
    assert plain.reference is None and plain.tokens == 2 * 10  # GA: the forget stream alone
    bf16 = estimate(PlanRequest(config_folder, "GA", dtype="bfloat16"))
    assert bf16.parts["weights"] == PARAMS * 2


@pytest.mark.parametrize("change, message", [({"gpus": 0}, "--gpus must be at least 1"),
                                             ({"dtype": "int8"}, "--dtype 'int8' is unknown"),
                                             ({"mixed_precision": "bf16", "dtype": "bfloat16"}, "float32 master"),
                                             ({"model": "/no/such/model"}, "cannot read its config")])
def test_bad_requests_are_one_line_errors(change, message, config_folder):
    with pytest.raises(ConfigError, match=message):
        estimate(PlanRequest(**{"model": config_folder, **change}))


def test_the_command_prints_the_parts(config_folder):
    from conftest import run_cli

    proc = run_cli("plan", "--model", config_folder, "--method", "NPO_KLR", "--lora-r", "4")
    assert proc.returncode == 0, proc.stderr
    assert f"{PARAMS:,} parameters" in proc.stdout and "reference: adapter" in proc.stdout
    assert "estimated peak per device" in proc.stdout and "total" in proc.stdout
