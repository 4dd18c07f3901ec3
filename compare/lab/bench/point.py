"""One grid point (hidden size, batch size, dtype) timed: every implementation's rows and samples.

The implementations are timed in turn, epoch by epoch, so that a noisy neighbour hits them
alike, with a short pause before each (after a GEMM, OpenBLAS's idle threads spin for a while
and would slow down the next torch timing); the GEMM ceilings are sampled between the epochs,
under the same conditions. Every figure is the median of the timed epochs after a warm-up.
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from compare.lab.bench import noise
from compare.lab.bench.ceiling import GemmCeiling
from compare.lab.bench.flops import epoch_flops
from compare.lab.bench.runners import ManualRunner, TorchRunner
from compare.lab.bench.settings import D_IN, N_CLASSES, SEED, Config


def bench_point(hidden, batch, dtype, X, y, cfg: Config, use_cuda: bool, progress=None):
    """Rows (dicts with ROW_KEYS) for one grid point, and their samples (dicts with SAMPLE_KEYS).

    ``cfg.repeats`` rounds are timed, each an epoch of every implementation then the ceilings;
    while ``median_at_risk`` for the matrix or torch epochs, one more round, up to
    ``cfg.max_repeats``. ``progress`` (a tqdm bar, say) is updated after each round.
    """
    sizes = (D_IN, hidden, N_CLASSES)
    Xd = X.astype(dtype)  # once, outside the timings
    scale = cfg.n_scaled / cfg.n_train
    n_loop = min(cfg.n_train, batch * max(1, -(-cfg.loop_examples // batch)))
    runners = {
        "matrix": (ManualRunner(sizes, dtype, Xd, y, batch, "matrix"), scale),
        "torch": (TorchRunner(sizes, dtype, Xd, y, batch), scale),
    }
    if use_cuda:
        runners["torch-cuda"] = (TorchRunner(sizes, dtype, Xd, y, batch, device="cuda"), scale)
    runners["loop"] = (ManualRunner(sizes, dtype, Xd, y, batch, "loop", n_examples=n_loop),
                       cfg.n_scaled / n_loop)

    ceilings = {
        "numpy": GemmCeiling("numpy", sizes, batch, dtype, cfg.gemm_round_s),
        "torch": GemmCeiling("torch", sizes, batch, dtype, cfg.gemm_round_s),
    }
    if use_cuda:
        ceilings["torch-cuda"] = GemmCeiling("torch", sizes, batch, dtype, cfg.gemm_round_s, "cuda")

    rng = np.random.default_rng(SEED)
    times = {name: [] for name in runners}
    rounds, r = cfg.warmup + cfg.repeats, 0
    while r < rounds:
        order = rng.permutation(cfg.n_train)  # the same minibatches for everyone this epoch
        for name, (runner, _) in runners.items():
            time.sleep(cfg.settle_s)  # let the previous library's worker threads go to sleep
            t0 = time.perf_counter()
            runner.epoch(order)
            if r >= cfg.warmup:
                times[name].append(time.perf_counter() - t0)
        if r >= cfg.warmup:  # ceilings sampled between the epochs, under the same conditions
            for ceiling in ceilings.values():
                time.sleep(cfg.settle_s)
                ceiling.sample(cfg.gemm_rounds)
        r += 1
        if progress is not None:
            progress.update()
        if (r == rounds and r - cfg.warmup < cfg.max_repeats
                and any(noise.median_at_risk(times[name]) for name in ("matrix", "torch"))):
            rounds += 1  # a burst hit too many epochs for the median to stand on quiet ones: one more round
            if progress is not None:
                progress.total += 1
    samples = {name: c.gflops_samples for name, c in ceilings.items()}
    ceilings = {name: c.gflops for name, c in ceilings.items()}

    flops = epoch_flops(sizes, cfg.n_scaled)
    epochs = {name: [t * runners[name][1] for t in ts] for name, ts in times.items()}
    seconds = {name: statistics.median(ts) for name, ts in epochs.items()}
    rows, row_samples = [], []
    for impl in ("loop", "matrix", "torch", "torch-cuda"):
        if impl not in seconds:
            continue
        library = "numpy" if impl in ("loop", "matrix") else impl
        gflops = flops / seconds[impl] / 1e9
        where = {"hidden": hidden, "batch_size": batch, "dtype": np.dtype(dtype).name, "impl": impl}
        rows.append({
            **where, "seconds_per_epoch": seconds[impl], "gflops": gflops,
            "ratio_to_torch": seconds[impl] / seconds["torch"],
            "gemm_ceiling_gflops": ceilings[library], "efficiency": gflops / ceilings[library],
        })
        row_samples.append({**where, "epoch_seconds": epochs[impl], "gemm_ceiling_samples": samples[library]})
    return rows, row_samples
