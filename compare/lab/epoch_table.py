"""What a training run prints: a table of epochs (each twin on its own row) and the closing line.

Every epoch gets its rows up to ``FULL_TABLE_EPOCHS`` epochs; beyond, every k-th (about
``TABLE_ROWS`` of them), the first, the last, and the best at the end.
"""

from __future__ import annotations

import math

from compare.lab.config import plural

FULL_TABLE_EPOCHS = 30  # up to this many epochs, every epoch gets its rows; beyond, every k-th
TABLE_ROWS = 20  # ... about this many epochs then

HEADER = (f"{'epoch':>5} {'twin':<6} {'train loss':>10} {'err%':>6} {'valid loss':>10} {'err%':>6} "
          f"{'test loss':>10} {'err%':>6} {'s/epoch':>8} {'max|Δθ|':>9}")

FLOAT32_NOTE = ("why max|Δθ| grows in float32: the twins round differently, and once a hidden unit's input "
                "lands on opposite sides of 0 in the two they become two float32 runs of the same "
                "training (same accuracy); --dtype float64 is the exactness check (max|Δθ| ~1e-15).")


def table_rows(record: dict) -> list:
    """One epoch's two rows: the manual twin's (with the epoch and max|Δθ|), then torch's."""
    rows = []
    for twin in ("manual", "torch"):
        m = record[twin]
        epoch = f"{record['epoch']:>5}" if twin == "manual" else " " * 5
        gap = f"{record['max_param_diff']:>9.2e}" if twin == "manual" else ""
        rows.append(
            f"{epoch} {twin:<6} {m['train_loss']:>10.4f} {100 * m['train_error']:>6.2f} "
            f"{m['valid_loss']:>10.4f} {100 * m['valid_error']:>6.2f} "
            f"{m['test_loss']:>10.4f} {100 * m['test_error']:>6.2f} {m['seconds']:>8.2f} {gap}".rstrip()
        )
    return rows


def table_step(epochs: int) -> int:
    """Show every epoch up to FULL_TABLE_EPOCHS epochs; beyond, every k-th (about TABLE_ROWS of them)."""
    return 1 if epochs <= FULL_TABLE_EPOCHS else math.ceil(epochs / TABLE_ROWS)


def shown(epoch: int, epochs: int, step: int) -> bool:
    """Does this epoch get its rows as it ends? The first, every step-th and the last."""
    return step == 1 or epoch == 1 or epoch % step == 0 or epoch == epochs


def summary_line(summary: dict) -> str:
    """The run's closing line: both twins' final accuracies, max|Δθ|, the best epoch, time and memory."""
    acc = summary["final_test_accuracy"]
    train = summary["final_train_accuracy"]
    return (f"after {plural(summary['epochs_done'], 'epoch')}: test accuracy manual {100 * acc['manual']:.2f}%, "
            f"torch {100 * acc['torch']:.2f}% (train {100 * train['manual']:.2f}% / {100 * train['torch']:.2f}%); "
            f"max|Δθ| {summary['final_max_param_diff']:.2e}; best validation error "
            f"{100 * summary['best_valid_error']:.2f}% at epoch {summary['best_valid_epoch']}; "
            f"{summary['wall_seconds']:.0f} s wall, peak RSS {summary['peak_rss_mb']:.0f} MiB")
