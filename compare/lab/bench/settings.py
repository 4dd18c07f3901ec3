"""What the benchmark times (``Config``), and the keys of the rows and samples its JSON holds."""

from __future__ import annotations

from dataclasses import dataclass

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
