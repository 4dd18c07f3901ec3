"""``curves.png`` kept on disk while a run goes, and the caption that says how it ended."""

from __future__ import annotations

import time
from pathlib import Path

from compare.lab.config import plural

CURVES_EVERY_S = 10.0  # curves.png is redrawn after an epoch once the last drawing is this old


class LiveCurves:
    """``curves.png`` kept on disk while a run goes, each drawing atomic (``plots.save_figure``).

    Drawn when the run starts (no epoch yet), after the first epoch, then after each epoch
    that ends ``CURVES_EVERY_S`` or more after the last drawing (a drawing costs ~0.3 s:
    every epoch would double a circles run), and at the end.
    """

    def __init__(self, path: Path, title: str, planned_epochs: int):
        self.path, self.title, self.planned_epochs, self.drawn_at = path, title, planned_epochs, None

    def draw(self, epochs: list, caption: str = "") -> None:
        from compare.lab.plots import plot_curves  # matplotlib: only once a run draws

        plot_curves(epochs, self.path, title=self.title, caption=caption)
        self.drawn_at = time.monotonic()

    def refresh(self, epochs: list) -> None:
        """Draw again if this is the first epoch or the last drawing is old enough."""
        if len(epochs) == 1 or self.drawn_at is None or time.monotonic() - self.drawn_at >= CURVES_EVERY_S:
            self.draw(epochs, caption=f"running: {len(epochs)} of {plural(self.planned_epochs, 'epoch')} done")


def curves_caption(summary: dict) -> str:
    """The figure's caption: how the run ended and where it got."""
    ended = ""
    if summary.get("interrupted"):
        ended = f"interrupted ({summary.get('signal') or 'SIGINT'}) "
    if not summary["epochs_done"]:
        return f"{ended or 'ended '}before the first epoch ended: no curves to draw"
    acc = summary["final_test_accuracy"]
    done = plural(summary["epochs_done"], "epoch")
    if ended and summary.get("epochs_planned"):
        done = f"{summary['epochs_done']} of {plural(summary['epochs_planned'], 'epoch')}"
    return (f"{ended}after {done}: test accuracy manual {100 * acc['manual']:.2f}%, "
            f"torch {100 * acc['torch']:.2f}%; best validation error {100 * summary['best_valid_error']:.2f}% "
            f"(manual) at epoch {summary['best_valid_epoch']}")
