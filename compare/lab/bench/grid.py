"""The whole benchmark: every grid point timed in turn, what it says as it goes, and its result.

``run(cfg)`` returns ``{"meta", "rows", "targets", "samples"}``, what ``--json`` writes: the
machine, threads and load in ``meta``, one row per (point, dtype, implementation) with exactly
``ROW_KEYS``, the targets checked, and the timed epochs behind each median.
"""

from __future__ import annotations

import os
import sys

import numpy as np

from compare.lab.bench import flops, noise
from compare.lab.bench.machine import ForeignLoad, blas_info
from compare.lab.bench.point import bench_point
from compare.lab.bench.settings import D_IN, LR, N_CLASSES, SEED, Config
from compare.lab.bench.table import NOISY_CEILING_NOTE, format_header, format_row, format_targets
from compare.lab.bench.targets import check_targets
from compare.lab.bench.threads import set_threads
from compare.lab.data import DataMissingError, load_image_dataset, resolve_data_dir


def load_train(data_dir, n: int):
    """The first n MNIST training images as (X float64 in [0, 1], shape (n, 784); y; source).

    Read through ``compare.lab.data`` (the course split's training part, never downloading);
    falls back to seeded random data of the same shape when the data directory has no MNIST.
    """
    root = os.path.abspath(resolve_data_dir(data_dir))
    try:
        train = load_image_dataset("mnist", root, dtype=np.float64, download=False).train
        if len(train) >= n:
            return train.X[:n], train.y[:n].astype(np.intp), f"MNIST from {root} (first {n} training images)"
        why = f"its training set holds only {len(train)} images"
    except (DataMissingError, ValueError) as err:
        why = str(err).splitlines()[0]
    rng = np.random.default_rng(SEED)
    X = rng.random((n, D_IN))
    y = rng.integers(0, N_CLASSES, n).astype(np.intp)
    return X, y, f"RANDOM data of MNIST's shape ({n}, {D_IN}): no MNIST in {root!r} ({why})"


def run(cfg: Config, log=print) -> dict:
    """Run the whole grid; returns {"meta": {...}, "rows": [...], "targets": [...], "samples": [...]}."""
    log(f"loading MNIST from {os.path.abspath(resolve_data_dir(cfg.data_dir))}/MNIST …")
    import torch

    busy = ForeignLoad()
    threads, how = set_threads(cfg.threads)
    use_cuda = torch.cuda.is_available() if cfg.cuda is None else cfg.cuda
    X, y, source = load_train(cfg.data_dir, cfg.n_train)
    n_loop_note = (f"loop: timed on ~{cfg.loop_examples} examples (whole minibatches) and scaled to "
                   f"{cfg.n_scaled}")
    scale_note = (f"epochs of {cfg.n_train} examples, scaled to {cfg.n_scaled}"
                  if cfg.n_train != cfg.n_scaled else f"full epochs of {cfg.n_train} examples")
    meta = {
        "command": cfg.command,
        "quick": cfg.quick, "threads": threads, "threads_how": how, "data": source,
        "n_train": cfg.n_train, "epoch_examples": cfg.n_scaled, "timing": scale_note,
        "loop": n_loop_note, "repeats": cfg.repeats, "max_repeats": cfg.max_repeats, "warmup_epochs": cfg.warmup, "lr": LR,
        "flops_formula": flops.FORMULA,
        "cuda": use_cuda, **blas_info(),
    }
    if use_cuda:
        meta["cuda_device"] = torch.cuda.get_device_name()
    log(f"data: {source}")
    log(f"threads: {threads} ({how})")
    log(f"numpy {meta['numpy_version']} [{meta['numpy_blas']}], torch {meta['torch_version']} "
        f"[{meta['torch_blas']}], cpu: {meta['cpu']}")
    log(f"timing: median of {cfg.repeats} {scale_note} (up to {cfg.max_repeats} while a burst has hit "
        f"40% of them) after {cfg.warmup} warm-up; {n_loop_note}")
    log(f"FLOPs: {meta['flops_formula']}")
    rows, samples = [], []
    log(format_header())
    bar = None
    if cfg.progress:
        from tqdm import tqdm

        bar = tqdm(total=len(cfg.grid) * len(cfg.dtypes) * (cfg.warmup + cfg.repeats), unit="round",
                   desc="bench", leave=False, file=sys.stderr, dynamic_ncols=True, disable=None)
    try:
        for hidden, batch in cfg.grid:
            for dtype in cfg.dtypes:
                if bar is not None:
                    bar.set_postfix_str(f"d_h={hidden} K={batch} {dtype}")
                point_rows, point_samples = bench_point(hidden, batch, dtype, X, y, cfg, use_cuda, progress=bar)
                for row in point_rows:
                    (bar.write if bar is not None else log)(format_row(row))
                rows.extend(point_rows)
                samples.extend(point_samples)
    finally:  # also on Ctrl-C: clear the bar's line before the one-line message
        if bar is not None:
            bar.close()
    targets = check_targets(rows)
    if any(r["efficiency"] > 1 for r in rows):
        log(NOISY_CEILING_NOTE)
    log("")
    for line in format_targets(targets):
        log(line)
    noisy = noise.noisy_rows(samples)
    meta["noisy_rows"] = noisy
    if noisy:
        log(f"epoch times varied by more than {noise.NOISY_SPREAD - 1:.0%} (slowest / fastest) in {len(noisy)} of "
            f"{len(rows)} rows (worst: {noisy[0]}; all in the JSON's meta.noisy_rows): the machine was noisy. "
            "A median holds while fewer than half of the epochs are disturbed; else rerun "
            "(--grid and --dtype time one point)")
    foreign = busy.foreign_cpus()
    if foreign is not None:
        meta["other_processes_cpus"] = foreign
        log(f"other processes kept {foreign:.2f} of {os.cpu_count()} CPUs busy on average during the run"
            + (" — timings are disturbed; rerun on a quiet machine" if foreign > 0.1 else ""))
    return {"meta": meta, "rows": rows, "targets": targets, "samples": samples}
