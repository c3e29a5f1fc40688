"""Peak memory of a KL retain term's forward + backward: the textbook formula against unlearn's chunked one.

    python benchmarks/kl_memory.py                          # SmolLM2's vocabulary: batch 8 x 128 positions x 49,152
    python benchmarks/kl_memory.py --batch 4 --length 256 --vocab 128256   # a Llama-3 vocabulary

Each variant runs in a fresh subprocess: it allocates the model's logits (requiring grad) and the
reference's logits, notes its peak resident memory, computes KL(p_ref || p_theta) per position, sums it and
runs backward, and notes the peak again. The difference is what the KL term itself adds at its peak, on top
of the two logit tensors a step holds anyway. On a GPU (--device cuda) torch.cuda.max_memory_allocated is
read instead of the resident set.

- plain: log_softmax of both, p_ref = exp, sum_v p_ref (log p_ref - log p_theta), differentiated by autograd
  (what the package did before; TOFU-derived code does the same);
- unlearn: unlearn.losses.divergence.kl_ref_theta_per_token (chunks of positions, closed-form backward).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

CHILD = r"""
import json, resource, sys
import torch
variant, batch, length, vocab, device = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]

def peak():
    if device == "cuda":
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

torch.manual_seed(0)
logits = torch.randn(batch, length, vocab, device=device, requires_grad=True)
ref = torch.randn(batch, length, vocab, device=device)
before = peak()
if variant == "plain":
    logp = torch.log_softmax(logits, -1)
    ref_logp = torch.log_softmax(ref, -1)
    ref_p = ref_logp.exp()
    kl = torch.where(ref_p > 0, ref_p * (ref_logp - logp), torch.zeros_like(ref_p)).sum(-1)
    del logp, ref_logp, ref_p
else:
    from unlearn.losses.divergence import kl_ref_theta_per_token
    kl = kl_ref_theta_per_token(logits, ref)
kl.sum().backward()
print(json.dumps({"before": before, "after": peak(), "kl": float(kl.sum())}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--vocab", type=int, default=49152)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    size = args.batch * args.length * args.vocab * 4 / 2 ** 20
    print(f"logits [{args.batch}, {args.length}, {args.vocab}] float32: {size:.0f} MiB each; device {args.device}")
    results = {}
    for variant in ("plain", "unlearn"):
        proc = subprocess.run([sys.executable, "-c", CHILD, variant, str(args.batch), str(args.length),
                               str(args.vocab), args.device], capture_output=True, text=True)
        if proc.returncode != 0:
            sys.exit(f"{variant} failed:\n{proc.stderr[-2000:]}")
        results[variant] = json.loads(proc.stdout.strip().splitlines()[-1])
        r = results[variant]
        print(f"{variant:8s} peak with both logits {r['before']:8.0f} MiB, at the KL's peak {r['after']:8.0f} MiB: "
              f"the KL adds {r['after'] - r['before']:7.0f} MiB ({(r['after'] - r['before']) / size:.1f} logit tensors)")
    plain, lean = (results[v]["after"] - results[v]["before"] for v in ("plain", "unlearn"))
    same = abs(results["plain"]["kl"] - results["unlearn"]["kl"]) <= 1e-4 * abs(results["plain"]["kl"])
    print(f"ratio plain / unlearn of the KL's own peak: {plain / max(lean, 1e-9):.2f}x; "
          f"the same KL value: {'yes' if same else 'NO'}")


if __name__ == "__main__":
    main()
