"""A method's training step against the bare floor: the same model's plain `model(**batch).loss`
forward + backward + AdamW step on the same tokens.

    OMP_NUM_THREADS=1 python benchmarks/train_step.py                        # tiny and 50M tiny models
    OMP_NUM_THREADS=1 python benchmarks/train_step.py --sizes tiny --methods GA_GDR,NPO_GDR,NPO_KLR
    OMP_NUM_THREADS=1 python benchmarks/train_step.py --model PATH [--gguf-file F]   # any causal LM (slow)

Each method trains `--steps` steps through `unlearn unlearn` (engine, streams, reference, logging: all of
it), batch `--batch-size` on the forget set and, for methods with a retain term, as many retain rows. Its
step time is read from the run's log.jsonl (elapsed between step 2 and the last step, so loading and the
first step's warm-up are left out). The floor draws the same forget and retain rows, concatenates them
into one batch and makes one forward + backward + AdamW step per step, timed the same way. Printed: seconds
per step of each and the ratio method / floor. Methods without a retain term are compared with a floor on
the forget rows only.

Sizes: tiny = the demo's model (hidden 256, 2 layers, vocabulary 2048); 50m = hidden 640, 16 layers
(MLP 688 wide, as the tiny models are built) and the vocabulary the world's text gives a tokenizer asked
for 8192 (about 4,200): about 50M parameters. The data is a synthetic world (seed 0) in every case.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

SIZES = {"tiny": dict(hidden_size=256, layers=2, vocab_size=2048),
         "50m": dict(hidden_size=640, layers=16, vocab_size=8192)}


def build(work: Path, size: str) -> tuple[Path, Path]:
    from unlearn.api import build_tiny_model
    from unlearn.data.world import generate_world

    world = work / "world"
    if not (world / "forget10.json").is_file():
        generate_world(world, seed=0, n_people=40, n_general=20)
    model = work / f"model_{size}"
    if not (model / "model.safetensors").is_file():
        build_tiny_model(world, model, seed=0, **SIZES[size])
    return world, model


def method_seconds(name: str, model: str, world: Path, args: argparse.Namespace, work: Path,
                   extra: list[str]) -> tuple[float, bool]:
    """(seconds per step, whether the method has a retain stream) of `steps` steps through the engine."""
    from unlearn import api
    from unlearn.config import load_config
    from unlearn.methods import build_method
    from unlearn.config import MethodConfig

    out = work / f"run_{name}_{time.time_ns()}"
    cfg = load_config(overrides=[f"out={out}", f"model.path={model}", f"data.path={world}", f"method.name={name}",
                                 f"train.max_steps={args.steps}", f"train.batch_size={args.batch_size}",
                                 "train.lr=1e-5", "eval.enabled=false", "train.log_every=1", *extra])
    api.unlearn(cfg)
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    per_step = (log[-1]["elapsed_s"] - log[0]["elapsed_s"]) / (len(log) - 1)
    return per_step, "retain" in build_method(MethodConfig(name=name)).streams


def floor_seconds(model_path: str, world: Path, args: argparse.Namespace, retain: bool, extra: dict) -> float:
    """Seconds per step of the bare loop on the same rows: forget (+ retain) in one batch."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from unlearn.core.batching import collate
    from unlearn.data.tokenize import PromptFormatter

    tokenizer = AutoTokenizer.from_pretrained(model_path, **extra)
    model = AutoModelForCausalLM.from_pretrained(model_path, **extra).train()
    formatter = PromptFormatter(tokenizer)

    def encoded(split: str) -> list[dict]:
        return [formatter.encode(r["question"], r["answer"]) for r in json.loads((world / f"{split}.json").read_text())]

    forget, keep = encoded("forget10"), encoded("retain90")
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
    times = []
    for step in range(args.steps):
        rows = [forget[(step * args.batch_size + i) % len(forget)] for i in range(args.batch_size)]
        if retain:
            rows += [keep[(step * args.batch_size + i) % len(keep)] for i in range(args.batch_size)]
        start = time.perf_counter()
        batch = collate(rows, tokenizer.pad_token_id)
        loss = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"]).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - start)
    return sum(times[1:]) / (len(times) - 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="tiny,50m")
    parser.add_argument("--methods", default="GA_GDR,NPO_GDR")
    parser.add_argument("--model", help="a model folder instead of the tiny models")
    parser.add_argument("--gguf-file", help="with --model: the GGUF file in it")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--work", help="folder for the world, the models and the runs (default: temporary)")
    args = parser.parse_args()
    if args.steps < 3:
        sys.exit("--steps must be at least 3 (the first step is left out as warm-up)")
    import torch

    work = Path(args.work or tempfile.mkdtemp(prefix="unlearn_step_"))
    threads = torch.get_num_threads()
    print(f"{threads} thread{'s' if threads != 1 else ''}; batch {args.batch_size} forget (+ {args.batch_size} retain); "
          f"{args.steps} steps, the first left out")
    print(f"{'model':10s} {'method':10s} {'method s/step':>14s} {'floor s/step':>13s} {'ratio':>6s}")
    cases = [(s, None) for s in args.sizes.split(",")] if not args.model else [("given", args.model)]
    for size, given in cases:
        world, model = build(work, size if size in SIZES else "tiny")
        model_path, extra, overrides = str(model), {}, []
        if given:
            model_path = given
            if args.gguf_file:
                extra, overrides = {"gguf_file": args.gguf_file}, [f"model.gguf_file={args.gguf_file}"]
        floors: dict[bool, float] = {}
        for name in args.methods.split(","):
            seconds, retain = method_seconds(name, model_path, world, args, work, overrides)
            if retain not in floors:
                floors[retain] = floor_seconds(model_path, world, args, retain, extra)
            print(f"{size:10s} {name:10s} {seconds:14.3f} {floors[retain]:13.3f} {seconds / floors[retain]:6.2f}",
                  flush=True)


if __name__ == "__main__":
    main()
