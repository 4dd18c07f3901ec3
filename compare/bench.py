"""Homework 3.8, measured: one MNIST training epoch, manual loop vs manual matrix vs torch.

    python -m compare.bench [--quick] [--json PATH] [--data-dir DIR] [--threads N]

One *epoch* is forward + backward + SGD update (``p -= lr·g``) over every minibatch of the
50,000 training images, the same work for every implementation:

- ``loop``   the homework's per-example version (``MLP.loss_and_grads(mode="loop")``), the
  teaching version; it is slow, so it is timed on a subset of whole minibatches and scaled
  to the full epoch (said in the output);
- ``matrix`` the manual minibatch version: ``FastMLP.sgd_step``, the gradient of
  ``MLP.loss_and_grads(mode="matrix")`` with η folded into bprop, then one in-place
  subtraction per parameter (torch's SGD does the same: ``p.add_(g, alpha=-lr)``);
- ``torch``  the ``reference.TorchMLP`` twin, autograd + ``torch.optim.SGD`` on the CPU;
- ``torch-cuda`` the same on the GPU, when one is available.

Both sides shuffle once per epoch into a preallocated buffer (one seeded permutation, the
same for every implementation) and then take minibatches as views of it.

FLOPs: only the matrix products are counted. Per example, a layer l with ``in → out``
units costs 2·in·out in the forward pass, 2·in·out for ∂L/∂W_l and, for l > 1 only,
2·in·out for ∂L/∂(its input) (nobody needs ∂L/∂X in training, and neither side computes
it); so for sizes (d, d_h, m) one epoch of N examples is ``N · (4·d·d_h + 6·d_h·m)`` FLOPs.

Ceilings: in the same run, each library's own GEMM throughput on exactly the matrix
shapes (and transposes) of one minibatch step — NumPy's BLAS for the manual rows,
torch's for the torch rows — timed in a tight loop on resident buffers. ``efficiency`` is
a row's GFLOP/s over its library's ceiling. Every figure is the median of several timed
epochs (or GEMM rounds) after a warm-up; the implementations are timed in turn, epoch by
epoch, so that a noisy neighbour hits them alike, with a short pause before each (after a
GEMM, OpenBLAS's idle threads spin for a while and would slow down the next torch timing).
The output says how busy other processes kept the CPUs meanwhile, and which rows had epochs
more than 30% apart (on a shared host, bursts of a few seconds slow an epoch 1.5-2×; the
median of 7 stays put while fewer than half of them are hit; when 40% are, the point takes
one more round at a time, up to 14). The JSON's ``"rows"`` hold
exactly ``ROW_KEYS``; its ``"samples"`` list, one entry per row, holds the timed epochs
behind each median (``epoch_seconds``) and the ceiling's rounds (``gemm_ceiling_samples``),
for whoever wants other statistics.

Threads: NumPy's BLAS and torch run with the same number of threads (``--threads``,
default NumPy's current BLAS thread count), set through threadpoolctl when installed,
else through OpenBLAS's own ``*_set_num_threads`` found in the loaded library; the output
says which.
"""

from __future__ import annotations

# isort: off
from compare import cli  # first: from here on, Ctrl-C during the imports below exits 130 on one line
# isort: on
import argparse
import ctypes
import glob
import json
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass

import numpy as np

from compare.lab.data import DataMissingError, load_image_dataset, resolve_data_dir
from manual.checks import check_X, check_y
from manual.fast import FastMLP
from manual.mlp import MLP

NAME = "bench"
D_IN, N_CLASSES = 784, 10
N_TRAIN = 50_000
GRID = ((10, 100), (100, 64), (512, 64), (800, 128))  # (hidden, batch); (10, 100) is the homework's
DTYPES = ("float32", "float64")
LR = 0.01
SEED = 0
ROW_KEYS = (
    "hidden", "batch_size", "dtype", "impl", "seconds_per_epoch", "gflops",
    "ratio_to_torch", "gemm_ceiling_gflops", "efficiency",
)
# The JSON's "samples": per row, each timed epoch (scaled like seconds_per_epoch) and the
# ceiling's rounds in GFLOP/s, for whoever wants other statistics than the median.
SAMPLE_KEYS = ("hidden", "batch_size", "dtype", "impl", "epoch_seconds", "gemm_ceiling_samples")
NOISY_SPREAD = 1.3  # slowest / fastest timed epoch above this: say the machine was noisy
# The speed targets (checked and printed, never asserted by the tests).
TARGET_RATIO = 1.0          # manual matrix ≤ 1.0× torch CPU time ...
TARGET_GAP_SLACK = 0.05     # ... or ≤ (torch/NumPy GEMM ceiling gap) + 5% where NumPy's BLAS is slower
TARGET_EFFICIENCY = 0.80    # ≥ 80% of NumPy's GEMM ceiling at the large shapes
EFFICIENCY_SHAPES = ((512, 64), (800, 128))


# --------------------------------------------------------------------------- FLOPs
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


# --------------------------------------------------------------------------- threads
class _NumpyBlasThreads:
    """Get/set the thread count of NumPy's BLAS: threadpoolctl if present, else OpenBLAS's API."""

    def __init__(self):
        self.how = "unavailable (left as is)"
        self._get = self._set = None
        try:
            from threadpoolctl import ThreadpoolController

            ctl = ThreadpoolController().select(user_api="blas")
            numpy_libs = [lib for lib in ctl.lib_controllers if "numpy" in lib.filepath]
            if numpy_libs:
                lib = numpy_libs[0]
                self._get = lambda: lib.num_threads
                self._set = lib.set_num_threads
                self.how = f"threadpoolctl ({lib.internal_api})"
                return
        except ImportError:
            pass
        libdir = os.path.join(os.path.dirname(os.path.dirname(np.__file__)), "numpy.libs")
        for path in sorted(glob.glob(os.path.join(libdir, "*openblas*.so*"))):
            lib = ctypes.CDLL(path)  # already loaded by NumPy: same handle
            for get_name, set_name in (
                ("scipy_openblas_get_num_threads64_", "scipy_openblas_set_num_threads64_"),
                ("scipy_openblas_get_num_threads", "scipy_openblas_set_num_threads"),
                ("openblas_get_num_threads64_", "openblas_set_num_threads64_"),
                ("openblas_get_num_threads", "openblas_set_num_threads"),
            ):
                if hasattr(lib, get_name) and hasattr(lib, set_name):
                    getter, setter = getattr(lib, get_name), getattr(lib, set_name)
                    getter.restype = ctypes.c_int
                    setter.argtypes = [ctypes.c_int]
                    self._get, self._set = getter, setter
                    self.how = f"OpenBLAS {set_name}() via ctypes (threadpoolctl not installed)"
                    return

    def get(self):
        return int(self._get()) if self._get else None

    def set(self, n: int):
        if self._set:
            self._set(int(n))


def set_threads(n=None):
    """Give NumPy's BLAS and torch the same thread count; returns (n, how)."""
    import torch

    blas = _NumpyBlasThreads()
    if n is None:
        n = blas.get() or torch.get_num_threads()
    blas.set(n)
    torch.set_num_threads(n)
    got = blas.get()
    if got is not None and got != n:
        raise RuntimeError(f"asked NumPy's BLAS for {n} threads, it reports {got}")
    return n, f"NumPy BLAS: {blas.how}; torch: torch.set_num_threads({n})"


# --------------------------------------------------------------------------- data
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


# --------------------------------------------------------------------------- GEMM ceilings
def _gemm_operands(sizes, batch, rng, dtype):
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
        ops = _gemm_operands(sizes, batch, np.random.default_rng(1), np.dtype(dtype))
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


# --------------------------------------------------------------------------- the runners
class ManualRunner:
    """The NumPy net; one epoch = shuffle into a buffer, then a gradient and p -= lr·g per minibatch.

    ``matrix`` takes the training fast path, ``FastMLP.sgd_step``: the data set is checked once
    here (``check_X``/``check_y``), one set of step arrays serves every minibatch, and η is
    folded into bprop. ``loop`` is the homework's ``loss_and_grads(mode="loop")``, as written.
    """

    def __init__(self, sizes, dtype, X, y, batch, mode, n_examples=None):
        self.net = FastMLP(sizes, activation="relu", seed=SEED, dtype=dtype)
        self.X = check_X(X, sizes[0], self.net.dtype)  # validate the data set once, not per minibatch
        self.y = check_y(y, len(self.X), sizes[-1])
        self.batch, self.mode = batch, mode
        self.n = len(y) if n_examples is None else n_examples
        self.X_buf = np.empty((self.n, X.shape[1]), dtype=self.X.dtype)
        self.y_buf = np.empty(self.n, dtype=self.y.dtype)

    def epoch(self, order):
        order = order[: self.n]
        # Shuffle once, into the preallocated buffer. mode="clip" (the indices are valid anyway):
        # with the default mode="raise", np.take first gathers into a temporary, then copies.
        np.take(self.X, order, axis=0, out=self.X_buf, mode="clip")
        np.take(self.y, order, out=self.y_buf, mode="clip")
        net, params, batch = self.net, self.net.params, self.batch
        for start in range(0, self.n, batch):
            X, y = self.X_buf[start:start + batch], self.y_buf[start:start + batch]  # views
            if self.mode == "loop":
                _, grads = net.loss_and_grads(X, y, mode="loop")
                for name, g in grads.items():  # θ ← θ - η g
                    params[name] -= LR * g
            else:
                net.sgd_step(X, y, LR)  # the same, η folded into bprop (one pass per parameter)


class TorchRunner:
    """The torch twin: zero_grad, cross_entropy, backward, SGD step per batch."""

    def __init__(self, sizes, dtype, X, y, batch, device="cpu"):
        import torch

        from reference.model import TorchMLP

        self.torch, self.device = torch, device
        init = MLP(sizes, activation="relu", seed=SEED, dtype=dtype).params
        self.model = TorchMLP(sizes, activation="relu", dtype=dtype).to(device).load_params(init)
        self.opt = torch.optim.SGD(self.model.parameters(), lr=LR)
        self.X = torch.from_numpy(X).to(device)
        self.y = torch.from_numpy(y.astype(np.int64)).to(device)
        self.X_buf, self.y_buf = torch.empty_like(self.X), torch.empty_like(self.y)
        self.batch, self.n = batch, len(y)

    def epoch(self, order):
        torch, F = self.torch, self.torch.nn.functional
        index = torch.from_numpy(order).to(self.device)
        torch.index_select(self.X, 0, index, out=self.X_buf)  # shuffle once, into the buffer
        torch.index_select(self.y, 0, index, out=self.y_buf)
        model, opt, batch = self.model, self.opt, self.batch
        for start in range(0, self.n, batch):
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(self.X_buf[start:start + batch]), self.y_buf[start:start + batch])
            loss.backward()
            opt.step()
        if self.device != "cpu":
            torch.cuda.synchronize()


# --------------------------------------------------------------------------- the bench
@dataclass
class Config:
    grid: tuple = GRID
    dtypes: tuple = DTYPES
    n_train: int = N_TRAIN         # examples in the data set timed
    n_scaled: int = N_TRAIN        # figures are per epoch of this many examples
    repeats: int = 7               # timed epochs per figure (median: robust to < half disturbed)
    max_repeats: int = 14          # ... more, one at a time, while median_at_risk (bursts)
    warmup: int = 1
    loop_examples: int = 1000      # the loop version runs on this many examples (whole batches)
    gemm_rounds: int = 2           # GEMM rounds per library after each timed epoch (median of all)
    gemm_round_s: float = 0.05
    # Pause before each timed segment. After a GEMM, OpenBLAS's worker threads keep spinning
    # for ~0.1 s; torch timed in that window ran up to 2-3x slower here (its threads share the
    # 2 cores with the spinning ones). A user's training loop runs one library, not both.
    settle_s: float = 0.25
    threads: int | None = None
    data_dir: str | None = None
    cuda: bool | None = None       # None: when available
    quick: bool = False
    progress: bool = False         # a tqdm bar over the timed rounds, on stderr
    command: str = "python -m compare.bench"


QUICK = dict(n_train=10_000, repeats=3, max_repeats=6, warmup=1, loop_examples=200, gemm_rounds=2,
             gemm_round_s=0.02)


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
                and any(median_at_risk(times[name]) for name in ("matrix", "torch"))):
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


def median_at_risk(seconds) -> bool:
    """True when ≥ 40% of the timed epochs ran NOISY_SPREAD× slower than the fastest.

    The median is then at most one disturbed epoch away from being a disturbed epoch itself.
    """
    if not seconds:
        return False
    slow = sum(t > NOISY_SPREAD * min(seconds) for t in seconds)
    return slow >= 0.4 * len(seconds)


def noisy_rows(samples) -> list:
    """'(hidden, batch) dtype impl ×spread' for every row whose epochs spread over NOISY_SPREAD, worst first."""
    spreads = [(max(r["epoch_seconds"]) / min(r["epoch_seconds"]), r) for r in samples]
    return [
        f"({r['hidden']}, {r['batch_size']}) {r['dtype']} {r['impl']} ×{spread:.2f}"
        for spread, r in sorted(spreads, key=lambda pair: -pair[0])
        if spread > NOISY_SPREAD
    ]


def check_targets(rows):
    """The speed targets for each matrix row: list of dicts (printed and saved, not asserted)."""
    by = {(r["hidden"], r["batch_size"], r["dtype"], r["impl"]): r for r in rows}
    checks = []
    for r in rows:
        if r["impl"] != "matrix":
            continue
        t = by[(r["hidden"], r["batch_size"], r["dtype"], "torch")]
        gap = t["gemm_ceiling_gflops"] / r["gemm_ceiling_gflops"] - 1  # > 0: NumPy's GEMM is slower
        allowed = TARGET_RATIO + (gap + TARGET_GAP_SLACK if gap > 0 else 0.0)
        check = {
            "hidden": r["hidden"], "batch_size": r["batch_size"], "dtype": r["dtype"],
            "ratio_to_torch": r["ratio_to_torch"], "allowed_ratio": allowed,
            "numpy_gemm_gflops": r["gemm_ceiling_gflops"], "torch_gemm_gflops": t["gemm_ceiling_gflops"],
            "ratio_ok": r["ratio_to_torch"] <= allowed,
        }
        if (r["hidden"], r["batch_size"]) in EFFICIENCY_SHAPES:
            check["efficiency"] = r["efficiency"]
            check["efficiency_ok"] = r["efficiency"] >= TARGET_EFFICIENCY
        checks.append(check)
    return checks


def blas_info() -> dict:
    import torch

    info = {"numpy_version": np.__version__, "torch_version": torch.__version__}
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        info["numpy_blas"] = f"{blas.get('name')} {blas.get('version')}"
    except Exception:  # noqa: BLE001 - older NumPy: no dict mode
        info["numpy_blas"] = "unknown"
    libdir = os.path.join(os.path.dirname(os.path.dirname(np.__file__)), "numpy.libs")
    for path in glob.glob(os.path.join(libdir, "*openblas*.so*")):
        lib = ctypes.CDLL(path)
        for name in ("scipy_openblas_get_corename64_", "scipy_openblas_get_corename", "openblas_get_corename"):
            if hasattr(lib, name):
                getattr(lib, name).restype = ctypes.c_char_p
                info["numpy_blas"] += f" (core: {getattr(lib, name)().decode()})"
                break
    cfg = torch.__config__.show().replace("\n", ",")
    blas = [part.split("BLAS_INFO=", 1)[1].strip() for part in cfg.split(",") if "BLAS_INFO=" in part]
    info["torch_blas"] = blas[0] if blas else "unknown"
    info["torch_mkl"] = bool(torch.backends.mkl.is_available())
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    info["cpu"] = cpu
    info["cpu_count"] = os.cpu_count()
    info["python"] = platform.python_version()
    return info


def run(cfg: Config, log=print) -> dict:
    """Run the whole grid; returns {"meta": {...}, "rows": [...], "targets": [...], "samples": [...]}."""
    log(f"loading MNIST from {os.path.abspath(resolve_data_dir(cfg.data_dir))}/MNIST …")
    import torch

    busy = _ForeignLoad()
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
        "flops_formula": "per epoch N·Σ_l 2·in_l·out_l·(2 + [l>1]) = N·(4·d·d_h + 6·d_h·m), matmuls only",
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
    noisy = noisy_rows(samples)
    meta["noisy_rows"] = noisy
    if noisy:
        log(f"epoch times varied by more than {NOISY_SPREAD - 1:.0%} (slowest / fastest) in {len(noisy)} of "
            f"{len(rows)} rows (worst: {noisy[0]}; all in the JSON's meta.noisy_rows): the machine was noisy. "
            "A median holds while fewer than half of the epochs are disturbed; else rerun "
            "(--grid and --dtype time one point)")
    foreign = busy.foreign_cpus()
    if foreign is not None:
        meta["other_processes_cpus"] = foreign
        log(f"other processes kept {foreign:.2f} of {os.cpu_count()} CPUs busy on average during the run"
            + (" — timings are disturbed; rerun on a quiet machine" if foreign > 0.1 else ""))
    return {"meta": meta, "rows": rows, "targets": targets, "samples": samples}


class _ForeignLoad:
    """How many CPUs other processes kept busy meanwhile: (all busy jiffies - ours) / elapsed (Linux)."""

    def __init__(self):
        self.start = self._sample()

    @staticmethod
    def _sample():
        try:
            with open("/proc/stat") as f:
                fields = [int(v) for v in f.readline().split()[1:]]
            busy = sum(fields) - fields[3] - (fields[4] if len(fields) > 4 else 0)  # minus idle, iowait
            own = os.times()
            return busy, own.user + own.system + own.children_user + own.children_system, time.monotonic()
        except (OSError, ValueError, IndexError):
            return None

    def foreign_cpus(self):
        end = self._sample()
        if self.start is None or end is None:
            return None
        hz = os.sysconf("SC_CLK_TCK")
        busy = (end[0] - self.start[0]) / hz
        own = end[1] - self.start[1]
        return max(0.0, busy - own) / max(end[2] - self.start[2], 1e-9)


# --------------------------------------------------------------------------- output
def format_header() -> str:
    return (f"{'hidden':>6} {'batch':>5} {'dtype':>7} {'impl':>10} {'s/epoch':>9} {'GFLOP/s':>8} "
            f"{'vs torch':>8} {'ceiling':>8} {'of ceiling':>10}")


def format_ratio(ratio: float) -> str:
    """An implementation's time over torch's: '0.39×', '1.00×', '130×' (no spurious digits)."""
    return f"{ratio:.2f}×" if ratio < 10 else f"{ratio:.0f}×"


def format_efficiency(efficiency: float) -> str:
    """'82%', or '107%*' when above 100%: the ceiling's rounds ran slower than the epochs (noise)."""
    return f"{efficiency:.0%}" + ("*" if efficiency > 1 else "")


NOISY_CEILING_NOTE = ("* above 100% of the GEMM ceiling: the ceiling's rounds were slowed by other processes "
                      "(a noisy ceiling), not a real efficiency; rerun that point on a quiet machine")


def format_row(r) -> str:
    return (f"{r['hidden']:>6} {r['batch_size']:>5} {r['dtype']:>7} {r['impl']:>10} "
            f"{r['seconds_per_epoch']:>9.3f} {r['gflops']:>8.1f} {format_ratio(r['ratio_to_torch']):>8} "
            f"{r['gemm_ceiling_gflops']:>8.1f} {format_efficiency(r['efficiency']):>10}")


def plot_title(meta: dict) -> str:
    """The figure's title: what was timed, on what, and how busy other processes kept the machine."""
    title = f"one MNIST epoch, {meta['threads']} threads ({meta['cpu']})"
    if meta.get("quick"):
        title += f", {meta['timing']}"
    if meta.get("other_processes_cpus") is not None:
        title += (f"\nother processes kept {meta['other_processes_cpus']:.2f} of {meta.get('cpu_count', '?')} CPUs "
                  "busy during the run" + (": timings disturbed" if meta["other_processes_cpus"] > 0.1 else ""))
    return title


def format_targets(targets) -> list:
    lines = ["targets (hand-written matrix version vs torch on the CPU):"]
    for c in targets:
        where = f"  d_h={c['hidden']}, K={c['batch_size']}, {c['dtype']}:"
        if c["allowed_ratio"] > TARGET_RATIO:
            goal = (f"time ≤ {c['allowed_ratio']:.2f}× torch's (NumPy's GEMM is slower than torch's here, "
                    f"{c['numpy_gemm_gflops']:.1f} vs {c['torch_gemm_gflops']:.1f} GFLOP/s: the gap "
                    f"+ {TARGET_GAP_SLACK:.0%} is allowed)")
        else:
            goal = "time ≤ torch's"
        line = f"{where} {goal}: {'met' if c['ratio_ok'] else 'not met'} ({format_ratio(c['ratio_to_torch'])})"
        if "efficiency" in c:
            line += (f"; ≥ {TARGET_EFFICIENCY:.0%} of NumPy's GEMM ceiling: "
                     f"{'met' if c['efficiency_ok'] else 'not met'} ({c['efficiency']:.1%})")
        lines.append(line)
    return lines


def _parse_grid(text):
    try:
        points = tuple(tuple(int(v) for v in item.lower().split("x")) for item in text.split(","))
    except ValueError:
        points = ()
    if not points or any(len(p) != 2 or min(p) < 1 for p in points):
        raise argparse.ArgumentTypeError(f"expected HIDDENxBATCH[,HIDDENxBATCH...] such as 512x64,800x128, got {text!r}")
    return points


def _bounded(convert, acceptable, expected):
    """An argparse ``type``: ``convert(text)``, refused with one message unless ``acceptable``."""
    def parse(text):
        try:
            value = convert(text)
        except ValueError:
            value = None
        if value is None or not acceptable(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    return parse


_positive_int = _bounded(int, lambda v: v >= 1, "a whole number > 0")
_non_negative_float = _bounded(float, lambda v: 0 <= v < float("inf"), "a number of seconds >= 0")


def main(argv=None) -> int:
    return cli.run(NAME, _main, argv)


def _main(argv) -> int:
    parser = cli.Parser(
        NAME,
        prog=cli.prog("compare.bench", "backprop-bench"),
        description="Time one MNIST epoch: manual loop vs manual matrix vs torch (homework 3.8).")
    parser.add_argument("--quick", action="store_true",
                        help="short run: epochs of 10,000 examples scaled to 50,000, 3 repeats")
    parser.add_argument("--json", metavar="PATH", help="also write the rows and metadata as JSON")
    parser.add_argument("--plot", metavar="PATH",
                        help="also draw seconds per epoch and share of the GEMM ceiling as a PNG")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (there is none when stderr is not a terminal)")
    parser.add_argument("--data-dir", help="MNIST root (else $COMPARE_DATA_DIR, else ./data)")
    parser.add_argument("--threads", type=_positive_int, help="threads for NumPy's BLAS and torch alike")
    parser.add_argument("--repeats", type=_positive_int, help="timed epochs per figure")
    parser.add_argument("--grid", type=_parse_grid, metavar="HxK,...",
                        help="(hidden x batch) points, e.g. 512x64,800x128 (default: "
                        + ",".join(f"{h}x{k}" for h, k in GRID) + ")")
    parser.add_argument("--dtype", choices=DTYPES, action="append", help="only this dtype (repeatable)")
    parser.add_argument("--n-train", type=_positive_int, metavar="N",
                        help="examples per timed epoch (figures are scaled to 50,000)")
    parser.add_argument("--settle", type=_non_negative_float, metavar="S",
                        help="seconds of pause before each timed segment (default 0.25)")
    parser.add_argument("--no-cuda", action="store_true", help="skip torch-cuda even if available")
    args = parser.parse_args(argv)
    for flag, path in (("--json", args.json), ("--plot", args.plot)):  # before minutes of timing, not after
        folder = os.path.dirname(os.path.abspath(path)) if path else None
        if folder and not os.path.isdir(folder):
            raise cli.UsageError(f"{flag} {path}: there is no folder {folder!r} to write it into")
    argv = sys.argv[1:] if argv is None else list(argv)
    cfg = Config(**QUICK, quick=True) if args.quick else Config()
    cfg.data_dir, cfg.threads = args.data_dir, args.threads
    if args.repeats:
        cfg.repeats, cfg.max_repeats = args.repeats, 2 * args.repeats
    if args.no_cuda:
        cfg.cuda = False
    if args.settle is not None:
        cfg.settle_s = args.settle
    if args.grid:
        cfg.grid = args.grid
    if args.dtype:
        cfg.dtypes = tuple(args.dtype)
    if args.n_train:
        cfg.n_train = min(args.n_train, N_TRAIN)
    cfg.command = " ".join(["python -m compare.bench", *argv])
    cfg.progress = not args.no_progress
    result = run(cfg)
    try:
        if args.json:
            with open(args.json, "w") as f:
                json.dump(result, f, indent=1)
            print(f"wrote {args.json}")
        if args.plot:
            from compare.lab.plots import plot_bench

            plot_bench(result["rows"], args.plot, target_efficiency=TARGET_EFFICIENCY, title=plot_title(result["meta"]))
            print(f"wrote {args.plot}")
    except OSError as error:
        raise cli.UsageError(f"cannot write {error.filename}: {error.strerror}") from None
    return 0


if __name__ == "__main__":
    sys.exit(main())
