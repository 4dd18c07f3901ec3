"""The figures of a lockstep run (homework 3.5 and 3.9-3.10), drawn with matplotlib alone.

- ``plot_curves``: error rate and mean loss per epoch on train/valid/test, both twins
  overlaid (manual solid, torch dashed): the homework's two figures.
- ``plot_decision_regions``: for a 2-D set, each twin's decision regions side by side with
  the points (homework 3.5).
- ``plot_sweep``: a grid of decision regions over hidden units, weight decay and epochs.
- ``plot_bench``: seconds per epoch of each implementation at each grid point of
  ``compare.bench``, and each one's share of its library's GEMM ceiling.

No torch here: a twin is given as a ``predict(points) -> labels`` function. Every file is
written atomically (a temporary file, then ``os.replace``), so an interrupted run never
leaves half a PNG.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure

SET_COLOURS = {"train": "tab:blue", "valid": "tab:orange", "test": "tab:green"}
TWIN_STYLES = {"manual": {"linestyle": "-", "marker": "o"}, "torch": {"linestyle": "--", "marker": "x"}}
REGION_COLOURS = ListedColormap(["#f6c9a8", "#a9c8ee", "#c7e8b0", "#e5b8e8"])
POINT_COLOURS = ["tab:red", "tab:blue", "tab:green", "tab:purple"]


def save_figure(figure: Figure, path) -> Path:
    """Write ``figure`` to ``path`` through a temporary file and ``os.replace``."""
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    figure.savefig(tmp, dpi=110, bbox_inches="tight")
    os.replace(tmp, path)
    return path


def plot_curves(epochs: list, path, title: str = "") -> Path:
    """Error rate (left) and mean loss (right) per epoch for train/valid/test, both twins.

    ``epochs`` is the list of per-epoch records of ``metrics.json``.
    """
    figure = Figure(figsize=(12, 4.5))
    ax_error, ax_loss = figure.subplots(1, 2)
    x = [record["epoch"] for record in epochs]
    markevery = max(1, len(x) // 25)
    for twin, style in TWIN_STYLES.items():
        for part, colour in SET_COLOURS.items():
            label = f"{part} ({twin})"
            errors = [100 * record[twin][f"{part}_error"] for record in epochs]
            losses = [record[twin][f"{part}_loss"] for record in epochs]
            ax_error.plot(x, errors, color=colour, label=label, markersize=4, markevery=markevery, **style)
            ax_loss.plot(x, losses, color=colour, label=label, markersize=4, markevery=markevery, **style)
    ax_error.set(xlabel="epoch", ylabel="error rate (%)", title="classification error")
    ax_loss.set(xlabel="epoch", ylabel="mean loss (NLL)", title="mean loss")
    for ax in (ax_error, ax_loss):
        ax.grid(True, alpha=0.3)
        if len(x) > 1 and min(min(line.get_ydata()) for line in ax.get_lines()) > 0:
            ax.set_yscale("log")
    ax_loss.legend(fontsize=8, ncol=2)
    if title:
        figure.suptitle(title)
    return save_figure(figure, path)


def region_grid(X: np.ndarray, resolution: int = 200, margin: float = 0.25):
    """(xx, yy, points): a ``resolution``² grid over X's bounding box plus a margin."""
    low, high = X.min(axis=0) - margin, X.max(axis=0) + margin
    xx, yy = np.meshgrid(np.linspace(low[0], high[0], resolution), np.linspace(low[1], high[1], resolution))
    return xx, yy, np.column_stack([xx.ravel(), yy.ravel()])


def _draw_regions(ax, xx, yy, labels, X, y, title, point_size=6):
    n_classes = max(int(labels.max()), int(y.max())) + 1
    ax.contourf(xx, yy, labels.reshape(xx.shape), levels=np.arange(n_classes + 1) - 0.5,
                cmap=ListedColormap(REGION_COLOURS.colors[:n_classes]))
    for label in range(n_classes):
        mask = y == label
        ax.scatter(X[mask, 0], X[mask, 1], s=point_size, color=POINT_COLOURS[label], label=f"class {label}")
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=9)


def plot_decision_regions(predictors: dict, X: np.ndarray, y: np.ndarray, path, title: str = "") -> Path:
    """Each twin's decision regions side by side, with the points (X, y) on top.

    ``predictors`` maps a twin's name to ``predict(points) -> labels`` (points: (n, 2)).
    """
    xx, yy, points = region_grid(X)
    figure = Figure(figsize=(5 * len(predictors), 5))
    axes = np.atleast_1d(figure.subplots(1, len(predictors)))
    for ax, (name, predict) in zip(axes, predictors.items()):
        labels = np.asarray(predict(points))
        accuracy = 100 * float(np.mean(np.asarray(predict(X)) == y))
        _draw_regions(ax, xx, yy, labels, X, y, f"{name}: {accuracy:.1f}% of these points right")
    axes[0].legend(loc="upper right", fontsize=8)
    if title:
        figure.suptitle(title)
    return save_figure(figure, path)


def plot_sweep(panels: dict, rows: list, columns: list, X: np.ndarray, y: np.ndarray, xx, yy, path,
               title: str = "") -> Path:
    """A grid of decision regions: ``panels[(row, column)] = (grid labels, caption)``.

    ``rows`` and ``columns`` are the (label, key) pairs in display order.
    """
    figure = Figure(figsize=(2.3 * len(columns), 2.4 * len(rows)))
    axes = np.asarray(figure.subplots(len(rows), len(columns), squeeze=False))
    for i, (row_label, row_key) in enumerate(rows):
        for j, (column_label, column_key) in enumerate(columns):
            labels, caption = panels[(row_key, column_key)]
            _draw_regions(axes[i, j], xx, yy, labels, X, y, caption, point_size=2)
            if i == 0:
                axes[i, j].set_title(f"{column_label}\n{caption}", fontsize=8)
            if j == 0:
                axes[i, j].set_ylabel(row_label, fontsize=9)
    if title:
        figure.suptitle(title)
    return save_figure(figure, path)


BENCH_COLOURS = {"loop": "tab:gray", "matrix": "tab:blue", "torch": "tab:orange", "torch-cuda": "tab:green"}


def plot_bench(rows: list, path, title: str = "", target_efficiency: float | None = None) -> Path:
    """``compare.bench`` rows as two bar charts over the grid points (hidden, batch, dtype).

    Top: seconds per epoch, log scale (the loop version is 10-30× slower). Bottom: each
    implementation's GFLOP/s as a share of its own library's GEMM ceiling, with the target
    as a dashed line when given.
    """
    points = list(dict.fromkeys((r["hidden"], r["batch_size"], r["dtype"]) for r in rows))
    impls = [impl for impl in BENCH_COLOURS if any(r["impl"] == impl for r in rows)]
    by = {(r["hidden"], r["batch_size"], r["dtype"], r["impl"]): r for r in rows}
    x = np.arange(len(points))
    width = 0.8 / len(impls)
    figure = Figure(figsize=(max(6.0, 1.1 * len(points) + 2), 7))
    ax_time, ax_eff = figure.subplots(2, 1, sharex=True)
    for k, impl in enumerate(impls):
        offset = (k - (len(impls) - 1) / 2) * width
        seconds = [by[(*p, impl)]["seconds_per_epoch"] if (*p, impl) in by else np.nan for p in points]
        share = [100 * by[(*p, impl)]["efficiency"] if (*p, impl) in by else np.nan for p in points]
        ax_time.bar(x + offset, seconds, width, label=impl, color=BENCH_COLOURS[impl])
        ax_eff.bar(x + offset, share, width, label=impl, color=BENCH_COLOURS[impl])
    ax_time.set_yscale("log")
    ax_time.set_ylabel("seconds per epoch (log)")
    ax_time.legend(fontsize=8, ncol=len(impls), loc="upper left")
    ax_time.grid(axis="y", which="both", alpha=0.3)
    ax_eff.set_ylabel("% of own GEMM ceiling")
    ax_eff.set_ylim(0, max(110.0, 1.15 * np.nanmax([100 * r["efficiency"] for r in rows])))
    if target_efficiency is not None:
        ax_eff.axhline(100 * target_efficiency, color="black", linestyle="--", linewidth=1,
                       label=f"target {target_efficiency:.0%}")
        ax_eff.legend(fontsize=8, ncol=len(impls) + 1, loc="upper left")
    ax_eff.grid(axis="y", alpha=0.3)
    ax_eff.set_xticks(x)
    ax_eff.set_xticklabels([f"d_h={h}\nK={k}\n{dtype}" for h, k, dtype in points], fontsize=8)
    if title:
        figure.suptitle(title)
    return save_figure(figure, path)
