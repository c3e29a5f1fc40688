"""Peak memory of NPO_KLR with a frozen-copy reference (full weights) against LoRA with the
adapter-disabled reference (the same weights, adapter off), on the same model.

Each configuration runs in its own subprocess, so one cannot inherit the other's peak. For each it
prints the peak resident memory of that process (os.wait4's ru_maxrss for that child alone), the
floor (the resident memory after importing torch, transformers, peft and unlearn, which every run
pays), and on a GPU torch.cuda.max_memory_allocated. It also counts the parameters held in memory by
model + reference, each storage once: with the adapter-disabled reference that is one copy of the
base weights (plus the small adapter), with a frozen copy two.

The driver itself imports neither torch nor the model (the world and the tiny model are built in a
subprocess too): Linux keeps a process's RSS high-water mark across fork + exec, so a large driver
would raise every child's ru_maxrss.

    python benchmarks/lora_memory.py                          # a synthetic tiny Llama, hidden 512, 4 layers
    python benchmarks/lora_memory.py --hidden 1024 --layers 8
    python benchmarks/lora_memory.py --model PATH [--gguf-file F.gguf]   # any causal LM (data: the world)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CONFIGS = {
    "full": {"label": "full weights", "reference": "frozen copy"},
    "lora": {"label": "LoRA", "reference": "adapter disabled"},
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", help="a model folder or hub name (default: build a synthetic tiny Llama)")
    p.add_argument("--gguf-file", help="with --model: the GGUF file to load (model.gguf_file)")
    p.add_argument("--dtype", default="float32", help="model.dtype (float32, bfloat16, float16)")
    p.add_argument("--hidden", type=int, default=512, help="tiny model: hidden size")
    p.add_argument("--layers", type=int, default=4, help="tiny model: decoder layers")
    p.add_argument("--vocab", type=int, default=2048, help="tiny model: tokenizer vocabulary size")
    p.add_argument("--steps", type=int, default=3, help="training steps per configuration")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--lora-r", type=int, default=8)
    p.add_argument("--lora-dropout", type=float, default=0.05, help="lora.dropout (the config's default 0.05)")
    p.add_argument("--work", help="folder for the world, model and runs (default: a temporary folder)")
    p.add_argument("--worker", choices=["prepare", *CONFIGS], help=argparse.SUPPRESS)
    p.add_argument("--world", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def _mib(kib: float) -> float:
    return kib / 1024  # Linux reports ru_maxrss in KiB


# -- workers: each in its own process -------------------------------------------------------------


def prepare(args: argparse.Namespace) -> None:
    """The synthetic world (the data of both runs) and, without --model, the tiny Llama."""
    from unlearn.data.world import generate_world

    world = Path(args.world)
    if not (world / "world.json").is_file():
        generate_world(world, seed=0)
    if not args.model:
        from unlearn.api import build_tiny_model

        build_tiny_model(world, Path(args.work) / "model", seed=0, vocab_size=args.vocab, hidden_size=args.hidden,
                         layers=args.layers)


def _unique_storage_numel(params) -> int:
    held: dict[int, int] = {}
    for p in params:
        storage = p.untyped_storage()
        held[storage.data_ptr()] = storage.nbytes() // p.element_size()
    return sum(held.values())


def measure(args: argparse.Namespace) -> None:
    """One NPO_KLR run (full weights or LoRA); prints a RESULT line of JSON."""
    import peft  # noqa: F401  (imported before the floor is read, so that the floor includes it)
    import torch
    import transformers  # noqa: F401

    from unlearn import api
    from unlearn.config import load_config
    from unlearn.engine import trainer

    floor_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    counts: dict[str, object] = {}
    real_make_reference = trainer.make_reference

    def make_reference(strategy, method, model, encoded, pad_id):
        reference = real_make_reference(strategy, method, model, encoded, pad_id)
        ref_module = getattr(reference, "model", None)
        # Everything the reference can reach: its own parameters and those of the module it calls.
        named = list(model.named_parameters()) + (list(ref_module.named_parameters()) if ref_module is not None else [])
        params = [p for _, p in named] + list(reference.parameters())
        counts["reference_type"] = type(reference).__name__
        counts["base"] = sum(p.numel() for n, p in model.named_parameters() if "lora_" not in n)
        counts["trainable"] = sum(p.numel() for p in model.parameters() if p.requires_grad)
        counts["reference_own"] = sum(p.numel() for p in reference.parameters())
        counts["held"] = _unique_storage_numel(params)
        counts["held_base"] = _unique_storage_numel([p for n, p in named if "lora_" not in n])
        counts["start_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # loaded, reference made
        return reference

    trainer.make_reference = make_reference
    real_finish = trainer._Run._finish

    def finish(self, start, started):
        counts["steps_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # trained, not yet saved
        return real_finish(self, start, started)

    trainer._Run._finish = finish
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    overrides = [f"out={Path(args.work) / ('run-' + args.worker)}", f"model.path={args.model}",
                 f"data.path={args.world}", f"model.dtype={args.dtype}", "method.name=NPO_KLR",
                 f"train.max_steps={args.steps}", f"train.batch_size={args.batch_size}", "train.lr=1e-5",
                 "eval.enabled=false"]
    if args.gguf_file:
        overrides.append(f"model.gguf_file={args.gguf_file}")
    if args.worker == "lora":
        overrides += [f"lora.r={args.lora_r}", f"lora.dropout={args.lora_dropout}"]
    started = time.time()
    run = api.run_unlearning(load_config(overrides=overrides))
    if run["skipped"] or "held" not in counts:
        sys.exit(f"{args.work}: the run was not trained (a finished run was reused)")
    result = {**counts, "floor_kib": floor_kib, "seconds": round(time.time() - started, 1),
              "device": f"GPU ({torch.cuda.get_device_name()})" if torch.cuda.is_available() else "CPU"}
    if torch.cuda.is_available():
        result["cuda_peak_bytes"] = torch.cuda.max_memory_allocated()
    print("RESULT " + json.dumps(result), flush=True)


# -- the driver ---------------------------------------------------------------------------------


def _child(role: str, args: argparse.Namespace, model: str, world: Path, work: Path) -> tuple[str, int]:
    """Run this script as `--worker role` in a subprocess; its stdout and its own peak RSS in KiB."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", role, "--world", str(world),
           "--work", str(work), "--dtype", args.dtype, "--steps", str(args.steps), "--batch-size", str(args.batch_size),
           "--lora-r", str(args.lora_r), "--lora-dropout", str(args.lora_dropout), "--hidden", str(args.hidden),
           "--layers", str(args.layers), "--vocab", str(args.vocab)]
    if model:
        cmd += ["--model", model]
    if args.gguf_file:
        cmd += ["--gguf-file", args.gguf_file]
    env = {**os.environ, "HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "1"), "TOKENIZERS_PARALLELISM": "false",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    log_out, log_err = work / f"{role}.stdout", work / f"{role}.stderr"
    with log_out.open("w") as fout, log_err.open("w") as ferr:
        proc = subprocess.Popen(cmd, stdout=fout, stderr=ferr, env=env)
        # os.wait4: this child's own peak (RUSAGE_CHILDREN would be the maximum over all children so far).
        _, status, usage = os.wait4(proc.pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        sys.exit(f"the {role} step failed (exit {code}); see {log_err}:\n{log_err.read_text()[-3000:]}")
    return log_out.read_text(), usage.ru_maxrss


def _measure(config: str, args: argparse.Namespace, model: str, world: Path, work: Path) -> dict:
    shutil.rmtree(work / f"run-{config}", ignore_errors=True)  # a finished run would be reused, not measured
    out, peak_kib = _child(config, args, model, world, work)
    line = next(x for x in out.splitlines() if x.startswith("RESULT "))
    return {**json.loads(line[len("RESULT "):]), "peak_kib": peak_kib}


def report(results: dict[str, dict]) -> None:
    cuda = all("cuda_peak_bytes" in r for r in results.values())
    head = (f"{'run':<14}{'reference':<18}{'trainable':>12}{'ref. own':>12}{'held (model+ref)':>18}{'copies':>8}"
            f"{'peak RSS MiB':>14}{'above floor':>13}{'at start':>10}{'at save':>9}"
            + (f"{'GPU peak MiB':>14}" if cuda else "") + f"{'s':>7}")
    print(head)
    print("-" * len(head))
    for name, r in results.items():
        row = (f"{CONFIGS[name]['label']:<14}{CONFIGS[name]['reference']:<18}{r['trainable']:>12,}"
               f"{r['reference_own']:>12,}{r['held']:>18,}{r['held_base'] / r['base']:>8.2f}"
               f"{_mib(r['peak_kib']):>14.0f}{_mib(r['peak_kib'] - r['floor_kib']):>13.0f}"
               f"{_mib(r['start_kib'] - r['floor_kib']):>10.0f}{_mib(r['steps_kib'] - r['floor_kib']):>9.0f}")
        if cuda:
            row += f"{r['cuda_peak_bytes'] / 2**20:>14.0f}"
        print(row + f"{r['seconds']:>7}")
    full, lora = results["full"], results["lora"]
    print(f"base parameters: {full['base']:,}. held: parameters of model + reference, each storage counted once "
          "(adapter included); copies: base-weight elements held / base parameters")
    print(f"floor: resident memory after importing torch, transformers, peft, unlearn "
          f"({_mib(full['floor_kib']):.0f} and {_mib(lora['floor_kib']):.0f} MiB); MiB above the floor at start "
          "(model loaded, reference made) and at save (last step done, model not yet saved); s: run seconds")
    above = (full["peak_kib"] - full["floor_kib"]) / max(1, lora["peak_kib"] - lora["floor_kib"])
    print(f"ratio full / LoRA: peak RSS {full['peak_kib'] / lora['peak_kib']:.2f}x, above the floor {above:.2f}x"
          + (f", GPU peak {full['cuda_peak_bytes'] / lora['cuda_peak_bytes']:.2f}x" if cuda else ""))


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.worker == "prepare":
        prepare(args)
        return
    if args.worker:
        measure(args)
        return
    work = Path(args.work).resolve() if args.work else Path(tempfile.mkdtemp(prefix="lora-memory-"))
    work.mkdir(parents=True, exist_ok=True)
    world = work / "world"
    if args.model:
        model, what = args.model, args.model + (f" ({args.gguf_file})" if args.gguf_file else "")
    else:
        model, what = str(work / "model"), f"tiny Llama, hidden {args.hidden}, {args.layers} layers, vocab {args.vocab}"
        shutil.rmtree(work / "model", ignore_errors=True)  # built afresh: the size options may have changed
    _child("prepare", args, args.model or "", world, work)
    print(f"command: {shlex.join(['python', *sys.argv])}")
    results = {name: _measure(name, args, model, world, work) for name in CONFIGS}
    print(f"model: {what}; NPO_KLR, {args.steps} steps, batch {args.batch_size}, dtype {args.dtype}, "
          f"LoRA r {args.lora_r}, dropout {args.lora_dropout}, all linear layers; device: {results['full']['device']}")
    report(results)


if __name__ == "__main__":
    main()
