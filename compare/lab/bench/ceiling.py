"""Each library's GEMM ceiling: its throughput on exactly the matrix shapes (and transposes) of
one minibatch step, timed in a tight loop on resident buffers. NumPy's BLAS is the manual
rows' ceiling, torch's the torch rows'; a row's ``efficiency`` is its GFLOP/s over it."""

from __future__ import annotations

import statistics
import time

import numpy as np

from compare.lab.bench.flops import flops_per_example


def gemm_operands(sizes, batch, rng, dtype):
    """The operands of one minibatch step's matmuls: (A, B, out) triples, A @ B -> out."""
    ops = []
    for layer, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        A = rng.uniform(-1, 1, (batch, fan_in)).astype(dtype)     # layer input, (K, in)
        W = rng.uniform(-1, 1, (fan_out, fan_in)).astype(dtype)   # weight, (out, in)
        G = rng.uniform(-1, 1, (batch, fan_out)).astype(dtype)    # ∂L/∂(pre-activation), (K, out)
        ops.append((A, W.T, np.empty((batch, fan_out), dtype)))   # forward: A Wᵀ
        ops.append((G.T, A, np.empty((fan_out, fan_in), dtype)))  # ∂L/∂W = Gᵀ A
        if layer > 1:
            ops.append((G, W, np.empty((batch, fan_in), dtype)))  # ∂L/∂A = G W
    return ops


class GemmCeiling:
    """A library's GEMM throughput on one minibatch step's shapes, sampled round by round.

    ``library``: "numpy" (np.matmul) or "torch" (torch.mm) with ``device``. Operands are
    resident, outputs preallocated (``out=``), transposes are views as in the training code.
    ``sample()`` times one round (≥ ``round_s`` seconds of back-to-back steps) so that the
    bench can interleave rounds with the epochs it compares them to.
    """

    def __init__(self, library, sizes, batch, dtype, round_s=0.05, device="cpu"):
        self.flops = batch * flops_per_example(sizes)
        ops = gemm_operands(sizes, batch, np.random.default_rng(1), np.dtype(dtype))
        self.sync = None
        if library == "numpy":
            def step():
                for A, B, out in ops:
                    np.matmul(A, B, out=out)
        else:
            import torch

            # The same arrays, transposed views included (from_numpy keeps the strides).
            tops = [tuple(torch.from_numpy(a).to(device) for a in triple) for triple in ops]

            def step():
                with torch.no_grad():
                    for A, B, out in tops:
                        torch.mm(A, B, out=out)

            if device != "cpu":
                self.sync = torch.cuda.synchronize
        self.step, self.samples = step, []
        self.reps = self._calibrate(round_s)

    def _round(self, reps) -> float:
        t0 = time.perf_counter()
        for _ in range(reps):
            self.step()
        if self.sync:
            self.sync()
        return time.perf_counter() - t0

    def _calibrate(self, round_s) -> int:
        self._round(1)  # warm-up
        reps = 1
        while True:
            elapsed = self._round(reps)
            if elapsed >= round_s or reps >= 1 << 16:
                return reps
            reps = max(reps * 2, int(reps * round_s / max(elapsed, 1e-9)) + 1)

    def sample(self, rounds=1) -> None:
        for _ in range(rounds):
            self.samples.append(self._round(self.reps) / self.reps)

    @property
    def gflops_samples(self) -> list:
        return [self.flops / seconds / 1e9 for seconds in self.samples]

    @property
    def gflops(self) -> float:
        return statistics.median(self.gflops_samples)


def gemm_ceiling(library, sizes, batch, dtype, rounds=5, round_s=0.05, device="cpu") -> float:
    """GFLOP/s of a library's GEMM on one minibatch step's shapes: median of `rounds` rounds."""
    ceiling = GemmCeiling(library, sizes, batch, dtype, round_s, device)
    ceiling.sample(rounds)
    return ceiling.gflops
