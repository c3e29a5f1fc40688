"""`unlearn plan`: the peak memory per device of a run, estimated from the model's config alone.

The model is built on PyTorch's meta device (no weights are read, nothing is allocated), which gives its
exact parameter count and shapes for any architecture transformers knows. Per device:

- weights: every parameter at model.dtype (float32 under mixed precision: the master copy);
- gradients and AdamW's two moments: the trainable parameters (all of them, or LoRA's adapter);
- the reference: a frozen copy of the weights when the method's strategy is `copy`; nothing for `adapter`
  (LoRA: the same weights, adapter off) or `cached` (per-token log-probs, a few bytes per target token);
- under FSDP2 the four above are divided by the number of devices, plus one decoder layer gathered whole;
- activations kept for backward, per token and decoder layer: the layer's inputs and outputs of its norms,
  attention projections and MLP, about 8 x hidden + 4 x intermediate + 2 x key/value width values (LoRA
  adds each adapted linear's dropped-out input, 6 x hidden + intermediate); with gradient checkpointing only
  each layer's input, plus one layer's full set during its recomputation;
- logits: the [tokens, vocabulary] scores in float32, their log-softmax temporaries and their gradient,
  about 3 copies; KL terms add the reference's logits (the KL itself runs in chunks, unlearn.losses).

Tokens are those of one forward pass: batch_size x length per stream, for every stream of the method's
gradient group (forget and retain go through one pass, unlearn.engine.step). On CPU a process also holds the
interpreter and the libraries (about 0.4-0.5 GiB), which `plan` adds as a separate line. How far the
estimate is from measured peaks on the tiny models and SmolLM2 is in docs/scale.md
(benchmarks/plan_check.py measures it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from unlearn.core.errors import ConfigError

BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}
GIB = 2 ** 30
CPU_RUNTIME_GIB = 0.5
"""What one CPU process holds besides the tensors above: the interpreter, torch, transformers, peft and this
package (0.38 GiB measured after importing them), tokenizer, data and the allocator's slack (about 0.13 GiB
more on the tiny model, benchmarks/plan_check.py)."""


@dataclass
class PlanRequest:
    model: str
    method: str = "NPO_GDR"
    gguf_file: str | None = None
    dtype: str = "float32"
    lora_r: int = 0
    gpus: int = 1
    shard: str | None = None
    batch_size: int = 8
    length: int = 256
    mixed_precision: str | None = None
    gradient_checkpointing: bool = False
    trust_remote_code: bool = False


@dataclass
class Plan:
    request: PlanRequest
    parameters: int
    trainable: int
    reference: str | None
    tokens: int
    parts: dict[str, float] = field(default_factory=dict)  # bytes per device

    @property
    def total(self) -> float:
        return sum(self.parts.values())


def check_request(req: PlanRequest) -> None:
    if req.dtype not in BYTES:
        raise ConfigError(f"--dtype {req.dtype!r} is unknown; valid: {', '.join(BYTES)}")
    for name in ("gpus", "batch_size", "length"):
        if getattr(req, name) < 1:
            raise ConfigError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(req, name)}")
    if req.lora_r < 0:
        raise ConfigError(f"--lora-r must be 0 (full weights) or more, got {req.lora_r}")
    if req.shard not in (None, "fsdp2"):
        raise ConfigError(f"--shard {req.shard!r} is unknown; valid: fsdp2")
    if req.mixed_precision not in (None, "bf16", "fp16"):
        raise ConfigError(f"--mixed-precision {req.mixed_precision!r} is unknown; valid: bf16, fp16")
    if req.mixed_precision and req.dtype != "float32":
        raise ConfigError("--mixed-precision keeps float32 master weights: use --dtype float32")


def meta_model(req: PlanRequest) -> Any:
    """The model built from its config on the meta device (shapes only)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    kwargs: dict[str, Any] = {"trust_remote_code": req.trust_remote_code}
    if req.gguf_file:
        kwargs["gguf_file"] = req.gguf_file
    try:
        config = AutoConfig.from_pretrained(req.model, **kwargs)
    except Exception as err:  # noqa: BLE001
        raise ConfigError(f"--model {req.model!r}: cannot read its config ({str(err).splitlines()[0]}); give a "
                          "model folder (config.json) or a hub name the cache holds") from None
    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(config, trust_remote_code=req.trust_remote_code)


def lora_parameters(model: Any, r: int) -> int:
    """LoRA's trainable parameters on every linear layer but the head: r x (inputs + outputs) each."""
    import torch

    head = model.get_output_embeddings()
    return sum(r * (m.in_features + m.out_features) for m in model.modules()
               if isinstance(m, torch.nn.Linear) and m is not head)


def estimate(req: PlanRequest) -> Plan:
    from unlearn.config import MethodConfig
    from unlearn.engine.forward import decoder_layers
    from unlearn.methods import build_method
    from unlearn.methods.reference import choose_strategy

    check_request(req)
    method = build_method(MethodConfig(name=req.method))
    reference = choose_strategy("auto", method, req.lora_r > 0)
    model = meta_model(req)
    config = model.config
    total = sum(p.numel() for p in model.parameters())
    trainable = lora_parameters(model, req.lora_r) if req.lora_r > 0 else total
    weight = BYTES["float32" if req.mixed_precision else req.dtype]
    compute = 2 if req.mixed_precision or req.dtype != "float32" else 4
    shards = req.gpus if req.shard == "fsdp2" else 1
    layers = decoder_layers(model)
    group_streams = [s for s in method.streams if any(s in t.term.streams for t in method.group_terms("all"))] \
        or method.streams
    tokens = req.batch_size * req.length * len(group_streams)
    hidden = config.hidden_size
    intermediate = getattr(config, "intermediate_size", 4 * hidden)
    heads = getattr(config, "num_attention_heads", 1)
    kv = getattr(config, "num_key_value_heads", heads) * getattr(config, "head_dim", hidden // max(heads, 1))
    per_token_layer = (8 * hidden + 4 * intermediate + 2 * kv) * compute
    if req.lora_r > 0:  # each adapted linear keeps its own dropped-out input: q, k, v, o, gate, up (hidden), down
        per_token_layer += (6 * hidden + intermediate) * compute
    vocab = config.vocab_size
    parts = {
        "weights": total * weight / shards,
        "gradients": trainable * weight / shards,
        "optimizer (AdamW)": 2 * trainable * weight / shards,
        "reference copy": total * weight / shards if reference == "copy" else 0.0,
        "activations": tokens * per_token_layer * (len(layers) if not req.gradient_checkpointing else 1)
        + (tokens * hidden * compute * len(layers) if req.gradient_checkpointing else 0.0),
        "logits": tokens * vocab * 4 * 3,
    }
    if any(method.needs(s).ref_logits for s in method.streams):
        parts["reference logits (KL)"] = req.batch_size * req.length * vocab * 4
    if shards > 1:
        largest = max(sum(p.numel() for p in layer.parameters()) for layer in layers)
        parts["one layer gathered (FSDP2)"] = largest * weight * 2  # this layer and the next, prefetched
    return Plan(req, total, trainable, reference, tokens, parts)


def plan_text(plan: Plan, on_cpu: bool) -> str:
    req = plan.request
    how = f"LoRA r {req.lora_r}" if req.lora_r else "full weights"
    sharding = f", FSDP2 over {req.gpus} devices" if req.shard == "fsdp2" else (
        f", {req.gpus} devices (data parallel: each holds everything)" if req.gpus > 1 else "")
    levers = ", ".join(x for x in (f"mixed precision {req.mixed_precision}" if req.mixed_precision else "",
                                   "gradient checkpointing" if req.gradient_checkpointing else "") if x)
    lines = [f"{req.model}: {plan.parameters:,} parameters, {req.dtype}; {req.method} with {how}{sharding}"
             + (f"; {levers}" if levers else ""),
             f"reference: {plan.reference or 'none'}; one forward pass: {plan.tokens:,} tokens "
             f"(batch {req.batch_size} x length {req.length} per stream)", "",
             "estimated peak per device:"]
    for name, size in plan.parts.items():
        if size:
            lines.append(f"  {name:28s} {size / GIB:8.2f} GiB")
    lines.append(f"  {'total':28s} {plan.total / GIB:8.2f} GiB")
    if on_cpu:
        lines.append(f"  {'+ the process on CPU':28s} {CPU_RUNTIME_GIB:8.2f} GiB (interpreter, libraries, data): "
                     f"{plan.total / GIB + CPU_RUNTIME_GIB:.2f} GiB resident")
    lines.append("(an estimate from the config: docs/scale.md gives its error against measured peaks)")
    return "\n".join(lines)
