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
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

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


def _epoch_axis(ax, epochs: list) -> None:
    """Whole epochs only on the x axis (no 1.25, 1.50 on a short run)."""
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=min(len(epochs), 3)))
    ax.set_xlim(min(epochs) - 0.5 if len(epochs) < 10 else min(epochs), max(epochs) + (0.5 if len(epochs) < 10 else 0))
    ax.set_xlabel("epoch")


def _readable_log_axis(ax, unit: str = "") -> None:
    """A log y axis labelled 0.5%, 1%, 2%, 5% ... (or 0.05, 0.1, 0.2 ...), never 10⁻¹."""
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}{unit}"))
    ax.yaxis.set_minor_formatter(NullFormatter())


def twin_gap(epochs: list) -> tuple:
    """The largest gap between the twins' curves: (error in percentage points, relative loss gap)."""
    error_gap = loss_gap = 0.0
    for record in epochs:
        for part in SET_COLOURS:
            m, t = record["manual"], record["torch"]
            error_gap = max(error_gap, 100 * abs(m[f"{part}_error"] - t[f"{part}_error"]))
            loss_gap = max(loss_gap, abs(m[f"{part}_loss"] - t[f"{part}_loss"]) / max(abs(t[f"{part}_loss"]), 1e-12))
    return error_gap, loss_gap


def plot_curves(epochs: list, path, title: str = "", caption: str = "") -> Path:
    """Error rate (left, %) and mean loss (right) per epoch for train/valid/test, both twins.

    ``epochs`` is the list of per-epoch records of ``metrics.json``. The manual twin is drawn
    solid, the torch twin dashed on top; where their curves coincide a note under the plots
    says so (and how far apart they are at most). ``caption`` goes under the plots too.
    With no epoch yet (a run that has just started, or was stopped before its first epoch
    ended) the figure holds the title and the caption alone.
    """
    figure = Figure(figsize=(12, 5.2), layout="constrained")
    if not epochs:
        ax = figure.subplots()
        ax.axis("off")
        ax.text(0.5, 0.5, caption or "no epoch has ended yet", ha="center", va="center", fontsize=12)
        if title:
            figure.suptitle(title, fontsize=11)
        return save_figure(figure, path)
    ax_error, ax_loss = figure.subplots(1, 2)
    x = [record["epoch"] for record in epochs]
    marked = len(x) <= 30
    for twin, style in TWIN_STYLES.items():
        for part, colour in SET_COLOURS.items():
            errors = [100 * record[twin][f"{part}_error"] for record in epochs]
            losses = [record[twin][f"{part}_loss"] for record in epochs]
            kwargs = dict(color=colour, linestyle=style["linestyle"], linewidth=1.6 if twin == "manual" else 1.2,
                          marker=style["marker"] if marked else None, markersize=4)
            ax_error.plot(x, errors, **kwargs)
            ax_loss.plot(x, losses, **kwargs)
    ax_error.set(ylabel="error rate", title="classification error (%)")
    ax_loss.set(ylabel="mean loss (negative log-likelihood, no penalty)", title="mean loss")
    for ax, unit in ((ax_error, "%"), (ax_loss, "")):
        ax.grid(True, which="major", alpha=0.3)
        _epoch_axis(ax, x)
        low = min(min(line.get_ydata()) for line in ax.get_lines())
        high = max(max(line.get_ydata()) for line in ax.get_lines())
        if len(x) > 1 and low > 0 and high / low > 10:  # a log axis only when the values span a decade
            _readable_log_axis(ax, unit)
        else:
            ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _, unit=unit: f"{value:g}{unit}"))
    set_handles = [Line2D([], [], color=colour, linewidth=2, label=part) for part, colour in SET_COLOURS.items()]
    twin_handles = [Line2D([], [], color="black", label=f"{twin} twin", markersize=4,
                           linestyle=style["linestyle"], marker=style["marker"] if marked else None)
                    for twin, style in TWIN_STYLES.items()]
    ax_error.legend(handles=set_handles, fontsize=8, title="set", title_fontsize=8, loc="upper right")
    ax_loss.legend(handles=twin_handles, fontsize=8, loc="upper right")
    error_gap, loss_gap = twin_gap(epochs)
    notes = []
    if error_gap < 0.5 and loss_gap < 0.05:
        same = ("the same error rates at every epoch" if error_gap == 0
                else f"error rates within {error_gap:.2g} percentage points")
        notes.append(f"Where only solid lines show, the torch twin's dashed line lies exactly on the manual twin's: "
                     f"{same}, mean losses within {loss_gap:.1g} (relative).")
    if caption:
        notes.append(caption)
    if notes:
        figure.text(0.5, -0.01, "\n".join(notes), ha="center", va="top", fontsize=9, wrap=True)
    if title:
        figure.suptitle(title, fontsize=11)
    return save_figure(figure, path)


REGION_RESOLUTION = 300  # grid points per side; the boundaries are interpolated between them


def region_grid(X: np.ndarray, resolution: int = REGION_RESOLUTION, margin: float = 0.25):
    """(xx, yy, points): a ``resolution``² grid over X's bounding box plus a margin."""
    low, high = X.min(axis=0) - margin, X.max(axis=0) + margin
    xx, yy = np.meshgrid(np.linspace(low[0], high[0], resolution), np.linspace(low[1], high[1], resolution))
    return xx, yy, np.column_stack([xx.ravel(), yy.ravel()])


def as_labels(values) -> np.ndarray:
    """Predicted labels from a predictor's output: labels (n,) as they are, class scores (n, m) by argmax."""
    values = np.asarray(values)
    return values.argmax(axis=1) if values.ndim == 2 else values


def class_margins(values, n_classes: int) -> np.ndarray:
    """(n_classes, n): how far each class is ahead of the best other class at each point.

    From class scores (n, m), score_k - max_{j≠k} score_j, which varies smoothly over the
    plane: its zero line, interpolated between grid points, is the exact decision boundary,
    drawn as a curve rather than as the grid's staircase. From labels (n,), +1 where the class
    is predicted and -1 elsewhere (a boundary to within one grid step).
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 1:
        return np.stack([np.where(values == k, 1.0, -1.0) for k in range(n_classes)])
    margins = []
    for k in range(values.shape[1]):
        others = np.delete(values, k, axis=1)
        margins.append(values[:, k] - others.max(axis=1))
    margins += [np.full(len(values), -1.0)] * (n_classes - values.shape[1])
    return np.stack(margins)


def _draw_regions(ax, xx, yy, values, X, y, title="", point_size=6, axes_labels=True):
    """Each class's region (where its margin is > 0) in its colour, then the points on top.

    ``values``: the predictor's output on the grid's points, class scores (n, m) or labels (n,).
    """
    values = np.asarray(values)
    n_classes = max(values.shape[1] if values.ndim == 2 else int(values.max()) + 1, int(y.max()) + 1)
    for k, margin in enumerate(class_margins(values, n_classes)):
        field = margin.reshape(xx.shape)
        if field.max() > 0:
            ax.contourf(xx, yy, field, levels=[0, max(field.max(), 1e-12) * 1.01 + 1e-12],
                        colors=[REGION_COLOURS.colors[k]], antialiased=True)
    for label in range(n_classes):
        mask = y == label
        ax.scatter(X[mask, 0], X[mask, 1], s=point_size, color=POINT_COLOURS[label], label=f"class {label}")
    ax.set_xlim(xx.min(), xx.max())
    ax.set_ylim(yy.min(), yy.max())
    ax.set_aspect("equal")
    if axes_labels:
        ax.set_xlabel("x₁")
        ax.set_ylabel("x₂")
    else:
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)
    return n_classes


def _class_legend(n_classes: int) -> list:
    """Legend handles: each class's region colour and its points' colour."""
    handles = []
    for label in range(n_classes):
        handles.append(Patch(facecolor=REGION_COLOURS.colors[label], edgecolor="grey",
                             label=f"predicted class {label}"))
        handles.append(Line2D([], [], linestyle="", marker="o", markersize=5, color=POINT_COLOURS[label],
                              label=f"point of class {label}"))
    return handles


def plot_decision_regions(predictors: dict, X: np.ndarray, y: np.ndarray, path, title: str = "") -> Path:
    """Each twin's decision regions side by side, with the points (X, y) on top.

    ``predictors`` maps a twin's name to a function of points (n, 2): class scores (n, m),
    such as ``MLP.logits``, for boundaries drawn as smooth curves, or labels (n,).
    """
    xx, yy, points = region_grid(X)
    figure = Figure(figsize=(5 * len(predictors), 5.6), layout="constrained")
    axes = np.atleast_1d(figure.subplots(1, len(predictors)))
    n_classes = 2
    for ax, (name, predict) in zip(axes, predictors.items()):
        accuracy = 100 * float(np.mean(as_labels(predict(X)) == y))
        n_classes = _draw_regions(ax, xx, yy, predict(points), X, y, f"{name} twin: {accuracy:.1f}% of these points right")
    figure.legend(handles=_class_legend(n_classes), loc="outside lower center", ncol=2 * n_classes, fontsize=8)
    if title:
        figure.suptitle(title, fontsize=10)
    return save_figure(figure, path)


GROUP_SHADES = ("#f2f2f2", "#ffffff")


def plot_sweep(panels: dict, hidden_sizes: list, decays: list, sweep_epochs: list, X: np.ndarray, y: np.ndarray,
               xx, yy, path, title: str = "") -> Path:
    """A grid of decision regions: ``panels[(hidden, (decay, epoch))] = (grid scores or labels, caption)``.

    One row per hidden size, one block of columns per L2 weight decay (shaded apart, the λ
    above the block), one column per epoch inside a block; every row and every column has
    its header, and each panel its caption (train and test error).
    """
    n_rows, n_cols = len(hidden_sizes), len(sweep_epochs)
    figure = Figure(figsize=(2.2 * n_cols * len(decays) + 0.8, 2.45 * n_rows + 1.4), layout="constrained")
    blocks = np.atleast_1d(figure.subfigures(1, len(decays), wspace=0.02))
    n_classes = 2
    for b, (block, decay) in enumerate(zip(blocks, decays)):
        block.set_facecolor(GROUP_SHADES[b % 2])
        block.suptitle(f"L2 weight decay λ = {decay:g}", fontsize=10, fontweight="bold")
        axes = np.asarray(block.subplots(n_rows, n_cols, squeeze=False))
        for i, hidden in enumerate(hidden_sizes):
            for j, epoch in enumerate(sweep_epochs):
                labels, caption = panels[(hidden, (decay, epoch))]
                ax = axes[i, j]
                n_classes = _draw_regions(ax, xx, yy, labels, X, y, point_size=2, axes_labels=False)
                ax.set_title(f"after {epoch} epoch{'' if epoch == 1 else 's'}\n{caption}", fontsize=8)
                if j == 0:
                    ax.set_ylabel(f"{hidden} hidden units", fontsize=9)
    figure.legend(handles=_class_legend(n_classes), loc="outside lower center", ncol=2 * n_classes, fontsize=8)
    if title:
        figure.suptitle(title, fontsize=11)
    return save_figure(figure, path)


BENCH_COLOURS = {"loop": "tab:gray", "matrix": "tab:blue", "torch": "tab:orange", "torch-cuda": "tab:green"}


EFFICIENCY_AXIS_TOP = 120.0  # % of the ceiling: bars above 100% (a noisy ceiling) are cut here and flagged


def plot_bench(rows: list, path, title: str = "", target_efficiency: float | None = None) -> Path:
    """``compare.bench`` rows as two bar charts over the grid points (hidden, batch, dtype).

    Top: seconds per epoch, log scale (the loop version is 10-30× slower). Bottom: each
    implementation's GFLOP/s as a share of its own library's GEMM ceiling, with the target
    as a dashed line when given. A share above 100% cannot be a real efficiency (the
    ceiling's rounds were slowed by other processes): such a bar is hatched, cut at the top
    of the axis and labelled "noisy ceiling".
    """
    points = list(dict.fromkeys((r["hidden"], r["batch_size"], r["dtype"]) for r in rows))
    impls = [impl for impl in BENCH_COLOURS if any(r["impl"] == impl for r in rows)]
    by = {(r["hidden"], r["batch_size"], r["dtype"], r["impl"]): r for r in rows}
    x = np.arange(len(points))
    width = 0.8 / len(impls)
    figure = Figure(figsize=(max(8.5, 1.3 * len(points) + 4.5), 7.5), layout="constrained")
    ax_time, ax_eff = figure.subplots(2, 1, sharex=True)
    flagged = False
    for k, impl in enumerate(impls):
        offset = (k - (len(impls) - 1) / 2) * width
        seconds = [by[(*p, impl)]["seconds_per_epoch"] if (*p, impl) in by else np.nan for p in points]
        share = np.array([100 * by[(*p, impl)]["efficiency"] if (*p, impl) in by else np.nan for p in points])
        label = {"loop": "loop (per example)", "matrix": "matrix (per minibatch)"}.get(impl, impl)
        ax_time.bar(x + offset, seconds, width, label=label, color=BENCH_COLOURS[impl])
        noisy = share > 100
        ax_eff.bar(x + offset, np.where(noisy, EFFICIENCY_AXIS_TOP, share), width, color=BENCH_COLOURS[impl],
                   hatch=None, label=label)
        for xi, value in zip(x[noisy] + offset, share[noisy]):
            flagged = True
            ax_eff.bar(xi, EFFICIENCY_AXIS_TOP - 100, width, bottom=100, color="white", edgecolor=BENCH_COLOURS[impl],
                       hatch="///")
            ax_eff.text(xi, EFFICIENCY_AXIS_TOP - 2, f"{value:.0f}%\nnoisy\nceiling", ha="center", va="top",
                        fontsize=6.5)
    ax_time.set_yscale("log")
    ax_time.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax_time.set_ylabel("seconds per epoch (log scale)")
    ax_time.set_title("time of one epoch (50,000 images): lower is faster", fontsize=10)
    ax_time.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    ax_time.grid(axis="y", which="major", alpha=0.3)
    ax_eff.set_ylabel("% of its library's GEMM ceiling")
    ax_eff.set_title("GFLOP/s as a share of the library's own matrix-product speed on these shapes", fontsize=10)
    ax_eff.set_ylim(0, EFFICIENCY_AXIS_TOP)
    ax_eff.axhline(100, color="grey", linewidth=0.8)
    if target_efficiency is not None:
        ax_eff.axhline(100 * target_efficiency, color="black", linestyle="--", linewidth=1,
                       label=f"target for the matrix version: {target_efficiency:.0%}")
    ax_eff.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    ax_eff.grid(axis="y", alpha=0.3)
    ax_eff.set_xticks(x)
    ax_eff.set_xticklabels([f"d_h={h}, K={k}\n{dtype}" for h, k, dtype in points], fontsize=8)
    if flagged:
        figure.text(0.5, -0.01, "Hatched bars: above 100% of the ceiling, which a real efficiency cannot be; the "
                    "ceiling's rounds were slowed by other processes. Rerun that point on a quiet machine.",
                    ha="center", va="top", fontsize=8)
    if title:
        figure.suptitle(title, fontsize=11)
    return save_figure(figure, path)
