"""The FLOPs of training: only the matrix products are counted.

Per example, a layer l with ``in → out`` units costs 2·in·out in the forward pass, 2·in·out
for ∂L/∂W_l and, for l > 1 only, 2·in·out for ∂L/∂(its input) (nobody needs ∂L/∂X in
training, and neither side computes it); so for sizes (d, d_h, m) one epoch of N examples is
``N · (4·d·d_h + 6·d_h·m)`` FLOPs.
"""

from __future__ import annotations

FORMULA = "per epoch N·Σ_l 2·in_l·out_l·(2 + [l>1]) = N·(4·d·d_h + 6·d_h·m), matmuls only"


def flops_per_example(sizes) -> int:
    """Matmul FLOPs of one training example: Σ_l 2·in·out·(2 + [l > 1]).

    Forward 2·in·out, ∂L/∂W_l 2·in·out, and ∂L/∂(input of layer l) 2·in·out for l > 1 (the
    input gradient of layer 1, ∂L/∂X, is not computed in training). For (d, d_h, m):
    4·d·d_h + 6·d_h·m.
    """
    total = 0
    for layer, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        total += 2 * fan_in * fan_out * (3 if layer > 1 else 2)
    return total


def epoch_flops(sizes, n_examples: int) -> int:
    return n_examples * flops_per_example(sizes)
