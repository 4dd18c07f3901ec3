"""Rerun the sample outputs shown in the docs and redraw the docs' figures from the same runs.

    python docs/regenerate.py                 # the quick samples (seconds), rewritten in place, with their figures
    python docs/regenerate.py --check         # only say which quick samples differ (exit 1 if any)
    python docs/regenerate.py --long          # also the long ones (full MNIST and Fashion-MNIST runs, the bench)
    python docs/regenerate.py --figures       # only the samples that draw a figure (--long: the long ones too)
    python docs/regenerate.py --startup       # time each command's --help against `import numpy`

A sample is a fenced block between two markers in a Markdown file of the repository:

    <!-- sample: NAME -->
    ```text
    $ python -m compare.gradcheck --batch-size 10
    ...what the command printed...
    ```
    <!-- /sample -->

``SAMPLES`` says which command makes each one. ``tests/test_docs.py`` reruns the quick samples
and compares them with the docs through ``normalise``, which masks only what varies from
machine to machine: timings, memory, the data folder, and the digits of errors at the level of
rounding (below 1e-12), which depend on the BLAS's order of summation.

**Figures come from the sample beside them.** A sample that draws figures copies them to
``docs/figures/`` from the very run whose output the block shows, and writes the numbers they
were drawn from next to them as ``docs/figures/<sample>.json`` (``FIGURE_DATA``): the table
rows, the summary, the bench rows. ``tests/test_docs.py`` checks that these numbers are the
ones the doc prints, so a figure can no longer contradict the table beside it. A sample with
``block=False`` has no block: its figure sits beside numbers written by hand in the doc (the
test then looks for its final accuracies there).

Run from the repository root with ``COMPARE_DATA_DIR`` pointing at the MNIST files for the long
samples and the figures.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
FIGURES = DOCS / "figures"
DATA_PLACEHOLDER = "/path/to/data"


@dataclass(frozen=True)
class Sample:
    doc: str  # the Markdown file, relative to the repository root
    argv: tuple  # what follows `python -m`
    long: bool = False  # minutes: regenerated with --long only, not rerun by the tests
    head: int | None = None  # show only the first `head` and the last `tail` lines, with … between
    tail: int = 0
    stderr: bool = False  # the sample is what the command printed on stderr (an error)
    in_repo: bool = False  # runs from the repository's root (it names files there and writes nothing)
    figures: tuple = ()  # (file the run writes, name in docs/figures/) pairs: copied from this very run
    data: str | None = None  # the run's file of numbers behind the figures, saved as docs/figures/<name>.json
    block: bool = True  # False: a run for its figures only (no block; the doc's numbers are hand-written)


CIRCLES_OUT = "runs/circles"
SWEEP_OUT = "runs/circles-sweep"
MNIST_OUT = "runs/mnist"
FASHION_OUT = "runs/fashion-mnist"
BENCH_JSON, BENCH_PNG = "runs/bench-quick.json", "runs/bench-quick.png"

SAMPLES = {
    "gradcheck-k10": Sample("docs/homework.md", ("compare.gradcheck", "--batch-size", "10")),
    "gradcheck-values": Sample("docs/homework.md", ("compare.gradcheck", "--batch-size", "1", "--show-values"),
                               head=32),
    "circles": Sample("docs/training.md", ("compare.train_both", "--dataset", "circles", "--no-progress",
                                           "--out", CIRCLES_OUT),
                      figures=((f"{CIRCLES_OUT}/curves.png", "curves-circles.png"),
                               (f"{CIRCLES_OUT}/decision_regions.png", "decision-regions-circles.png")),
                      data=f"{CIRCLES_OUT}/metrics.json"),
    "circles-sweep": Sample("docs/training.md", ("compare.train_both", "--dataset", "circles", "--sweep",
                                                 "--no-progress", "--sweep-hidden", "2", "4", "10",
                                                 "--sweep-decays", "0", "0.01", "--out", SWEEP_OUT),
                            long=True, figures=((f"{SWEEP_OUT}/sweep.png", "sweep-circles.png"),),
                            data=f"{SWEEP_OUT}/sweep.json"),
    "bad-flag": Sample("README.md", ("compare.train_both", "--optimizer", "lbfgs"), stderr=True),
    "validate-pass": Sample("docs/validation.md", ("compare.validate", "manual:MLP", "--brief"), in_repo=True),
    "validate-fail": Sample("docs/validation.md", ("compare.validate", "tests/student_impls/wrong.py:L2FactorTwo",
                                                   "--brief"), head=8, tail=6, in_repo=True),
    "validate-convention": Sample("docs/validation.md", ("compare.validate", "tests/student_impls/in_out.py:make_mlp",
                                                         "--brief"), head=1, tail=2, in_repo=True),
    "validate-course": Sample("docs/validation.md", ("compare.validate", "tests/student_impls/in_out.py:make_mlp",
                                                     "--assignment", "tests/student_impls/in_out.toml", "--brief"),
                              head=1, tail=1, in_repo=True),
    "validate-error": Sample("docs/validation.md", ("compare.validate", "tests/student_impls/hostile.py:MutatesX"),
                             stderr=True, in_repo=True),
    "mnist": Sample("README.md", ("compare.train_both", "--no-progress", "--out", MNIST_OUT), long=True,
                    head=6, tail=5, figures=((f"{MNIST_OUT}/curves.png", "curves-mnist.png"),),
                    data=f"{MNIST_OUT}/metrics.json"),
    "fashion-mnist": Sample("docs/training.md", ("compare.train_both", "--dataset", "fashion-mnist", "--no-progress",
                                                 "--out", FASHION_OUT), long=True, block=False,
                            figures=((f"{FASHION_OUT}/curves.png", "curves-fashion-mnist.png"),),
                            data=f"{FASHION_OUT}/metrics.json"),
    "bench-quick": Sample("docs/benchmark.md", ("compare.bench", "--quick", "--no-progress", "--json", BENCH_JSON,
                                                "--plot", BENCH_PNG), long=True,
                          figures=((BENCH_PNG, "bench-quick.png"),), data=BENCH_JSON),
}
# Figures drawn before their numbers were saved beside them: each gets its .json at its sample's next
# `--long` run (a full MNIST training: minutes on an idle machine).
FIGURES_WITHOUT_DATA = {"curves-mnist.png"}


def figure_data_path(name: str) -> Path:
    """docs/figures/<sample>.json: the numbers behind the figures of sample ``name``."""
    return FIGURES / f"{name}.json"


def figure_data(raw: dict) -> dict:
    """What a run's file of numbers keeps in docs/figures: nothing that names this machine's folders.

    A train_both run's metrics.json: the command, the summary and every epoch's record. A sweep's
    sweep.json: the command and each cell's records at the epochs drawn. A bench's JSON: its meta
    (machine, threads, load), rows and targets, not the individual timed epochs.
    """
    if "rows" in raw:  # compare.bench --json
        return {key: raw[key] for key in ("meta", "rows", "targets")}
    config = raw["config"]
    if "runs" in raw:  # --sweep
        drawn = set(config["sweep_epochs"])
        return {"command": config["command"], "sweep_epochs": config["sweep_epochs"],
                "runs": [{**{k: run[k] for k in ("hidden", "weight_decay")},
                          "epochs": [record for record in run["epochs"] if record["epoch"] in drawn]}
                         for run in raw["runs"]]}
    return {"command": config["command"], "summary": raw["summary"], "epochs": raw["epochs"]}


def figure_mismatches(name: str, data: dict, doc_text: str) -> list:
    """Where the doc's numbers for sample ``name`` differ from ``data``, the numbers its figures show.

    train_both: every table row and the summary line the block prints, rebuilt from the data's
    records (the very same text when the block and the figure come from one run); with no
    block, the final test accuracy of each twin must appear in the doc. --sweep: each cell's
    line. bench: each row. Returns the expected lines that the doc lacks (empty: they agree).
    """
    sys.path.insert(0, str(REPO))
    from compare.lab.bench.table import format_row
    from compare.lab.epoch_table import summary_line, table_rows
    from compare.lab.sweep import cell_line

    sample = SAMPLES[name]
    shown = doc_samples(REPO / sample.doc).get(name, "") if sample.block else doc_text
    lines = set(shown.splitlines())
    if "rows" in data:
        expected = [format_row(row) for row in data["rows"]]
    elif "runs" in data:
        expected = [cell_line(run["hidden"], run["weight_decay"], run["epochs"][-1]) for run in data["runs"]]
    elif sample.block:
        by_epoch = {record["epoch"]: record for record in data["epochs"]}
        printed = [int(m[1]) for m in re.finditer(r"^ *(\d+) manual ", shown, re.M)]
        expected = [row for epoch in printed for row in table_rows(by_epoch[epoch]) if epoch in by_epoch]
        expected += [f"epoch {epoch} (not in the figure's data)" for epoch in printed if epoch not in by_epoch]
        expected.append(summary_line(data["summary"]))
    else:
        accuracy = data["summary"]["final_test_accuracy"]
        return [f"{100 * accuracy[twin]:.2f}%" for twin in ("manual", "torch") if f"{100 * accuracy[twin]:.2f}%" not in shown]
    return [line for line in expected if line not in lines]


def save_figures(name: str, sample: Sample, cwd: Path = REPO) -> None:
    """Copy the figures of the run just made for ``name`` to docs/figures, and its numbers beside them."""
    import json

    for produced, figure in sample.figures:
        shutil.copy(cwd / produced, FIGURES / figure)
        print(f"  docs/figures/{figure}", flush=True)
    if sample.data:
        data = figure_data(json.loads((cwd / sample.data).read_text()))
        figure_data_path(name).write_text(mask_paths(json.dumps(data, indent=1, ensure_ascii=False), cwd) + "\n")
        print(f"  {figure_data_path(name).relative_to(REPO)}", flush=True)


BEGIN = re.compile(r"<!-- sample: (?P<name>[\w-]+) -->\n```text\n(?P<body>.*?)```\n<!-- /sample -->", re.S)


# --------------------------------------------------------------------------- running a sample
def run_sample(sample: Sample, cwd: Path = REPO) -> str:
    """The sample's text: '$ python -m ...' then what the command printed (trimmed per ``sample``)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "MPLBACKEND": "Agg", "COLUMNS": "120",
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    result = subprocess.run([sys.executable, "-m", *sample.argv], cwd=cwd, env=env, capture_output=True,
                            text=True, timeout=3600)
    lines = (result.stderr if sample.stderr else result.stdout).rstrip("\n").splitlines()
    if sample.head is not None and len(lines) > sample.head + sample.tail:
        lines = lines[: sample.head] + ["…"] + (lines[-sample.tail :] if sample.tail else [])
    text = "\n".join(["$ python -m " + " ".join(sample.argv), *lines]) + "\n"
    return mask_paths(text, cwd)


def mask_paths(text: str, cwd: Path) -> str:
    """``text`` without this machine's folders: the data folder as /path/to/data, ``cwd`` as '.'."""
    data_dir = os.environ.get("COMPARE_DATA_DIR")
    if data_dir:
        text = text.replace(str(Path(data_dir).resolve()), DATA_PLACEHOLDER)
    return text.replace(str(cwd), ".")


# --------------------------------------------------------------------------- what may differ
TIMING = [
    (re.compile(r"(?<=\s)\d+\.\d\d(?=( +\d\.\d\de[-+]\d\d)?$)", re.M), "#"),  # train_both's s/epoch column
    (re.compile(r"\d+ s wall, peak RSS \d+ MiB"), "# s wall, peak RSS # MiB"),
]
SCIENTIFIC = re.compile(r"(?P<mantissa>\d\.\d+)e(?P<exponent>[-+]\d+)")
GRADCHECK_ROW = re.compile(r"^(?P<head>  \S+ +\S+ +\(.*?\) +)(?P<abs>\S+) +(?P<rel>\S+)  (?P<index>\(.*?\)) ", re.M)
RATIO = re.compile(r"(\d\.\d{6})\d+")


def normalise(text: str) -> str:
    """``text`` with what varies by machine masked: timings, memory, rounding-level digits.

    - the seconds per epoch of train_both's table, its wall time and peak memory → '#';
    - a number below 1e-12 in scientific notation (rounding level in float64) → '≈0', and a
      gradcheck row whose errors are both at that level loses its worst index (which entry
      rounds worst depends on the BLAS);
    - a number between 1e-12 and 1e-6 keeps its order of magnitude only (finite-difference
      errors: their leading digit depends on the same roundings);
    - ratios keep 6 decimals.
    """
    for pattern, replacement in TIMING:
        text = pattern.sub(replacement, text)

    def row(match):
        if all(_tiny(match[k]) for k in ("abs", "rel")):
            return f"{match['head']}{match['abs']} {match['rel']}  (…) "
        return match[0]

    text = GRADCHECK_ROW.sub(row, text)
    text = SCIENTIFIC.sub(_magnitude, text)
    return RATIO.sub(r"\1", text)


def _tiny(number: str) -> bool:
    try:
        return abs(float(number)) < 1e-12
    except ValueError:
        return False


def _magnitude(match) -> str:
    value = float(match[0])
    if value < 1e-12:
        return "≈0"
    if value < 1e-6:
        return f"~1e{int(match['exponent'])}"
    return match[0]


# --------------------------------------------------------------------------- the docs' blocks
def doc_samples(doc: Path) -> dict:
    """{name: body} of every sample block in ``doc``."""
    return {m["name"]: m["body"] for m in BEGIN.finditer(doc.read_text())}


def rewrite(doc: Path, name: str, body: str) -> bool:
    """Put ``body`` into the sample block ``name`` of ``doc``; True when it changed."""
    text = doc.read_text()
    new = BEGIN.sub(lambda m: m[0] if m["name"] != name else
                    f"<!-- sample: {name} -->\n```text\n{body}```\n<!-- /sample -->", text)
    if new != text:
        doc.write_text(new)
    return new != text


def regenerate(names, check_only=False) -> list:
    """Rerun the samples ``names``; rewrite the docs and their figures (or, with ``check_only``, just compare)."""
    differing = []
    for name in names:
        sample = SAMPLES[name]
        doc = REPO / sample.doc
        if sample.block and name not in doc_samples(doc):
            raise SystemExit(f"regenerate: error: {sample.doc} has no block <!-- sample: {name} -->")
        fresh = run_sample(sample)
        if sample.block:
            if normalise(fresh) != normalise(doc_samples(doc)[name]):
                differing.append(name)
            if not check_only and fresh != doc_samples(doc)[name]:
                rewrite(doc, name, fresh)
        print(f"{name:<18} {sample.doc:<18} {'differs' if name in differing else 'same'}", flush=True)
        if not check_only and sample.figures:
            FIGURES.mkdir(exist_ok=True)
            save_figures(name, sample)
    return differing


# --------------------------------------------------------------------------- figures
def replot_curves(metrics_json: Path, png: Path) -> None:
    """Redraw a finished run's curves.png from its metrics.json with the current plotting code."""
    import json

    sys.path.insert(0, str(REPO))
    from compare.lab.config import TrainConfig, describe
    from compare.lab.live_curves import curves_caption
    from compare.lab.plots import plot_curves

    metrics = json.loads(metrics_json.read_text())
    c = metrics["config"]
    config = TrainConfig(**{k: c[k] for k in ("hidden", "activation", "optimizer", "lr", "momentum", "lr_schedule",
                                              "batch_size", "epochs", "lambdas", "dtype")})
    plot_curves(metrics["epochs"], png, title=f"{c['dataset']}: {describe(config, c['sizes'])}",
                caption=curves_caption(metrics["summary"]))


# --------------------------------------------------------------------------- start-up times
def startup(repeats: int = 5) -> None:
    """Median wall time of each command's --help next to `python -c "import numpy"`."""
    def median_time(argv):
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            subprocess.run([sys.executable, *argv], cwd=REPO, stdout=subprocess.DEVNULL, check=True)
            times.append(time.perf_counter() - start)
        return sorted(times)[len(times) // 2]

    base = median_time(["-c", "import numpy"])
    label = 'python -c "import numpy"'
    print(f"{label:<36} {base:6.2f} s")
    for command in ("train_both", "gradcheck", "bench", "validate"):
        seconds = median_time(["-m", f"compare.{command}", "--help"])
        print(f"{'python -m compare.' + command + ' --help':<36} {seconds:6.2f} s  ({seconds / base:.1f}× numpy)")
    firsts = []
    for _ in range(repeats):  # a real run: time until its first line, then stop it
        start = time.perf_counter()
        process = subprocess.Popen([sys.executable, "-m", "compare.train_both", "--dataset", "circles",
                                    "--out", tempfile.mkdtemp()], cwd=REPO, stdout=subprocess.PIPE,
                                   stderr=subprocess.DEVNULL, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        process.stdout.readline()
        firsts.append(time.perf_counter() - start)
        process.kill()
        process.wait()
    first = sorted(firsts)[len(firsts) // 2]
    print(f"{'first line of compare.train_both':<36} {first:6.2f} s  ({first / base:.1f}× numpy)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python docs/regenerate.py", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare only; exit 1 when a quick sample differs")
    parser.add_argument("--long", action="store_true", help="also the long samples (minutes)")
    parser.add_argument("--figures", action="store_true",
                        help="only the samples that draw docs/figures/*.png (with --long, the long ones too)")
    parser.add_argument("--replot", nargs=2, metavar=("METRICS_JSON", "PNG"),
                        help="redraw a finished run's curves from its metrics.json")
    parser.add_argument("--startup", action="store_true", help="time each command's --help")
    parser.add_argument("names", nargs="*", help="only these samples")
    args = parser.parse_args(argv)
    if args.startup:
        startup()
        return 0
    if args.replot:
        replot_curves(Path(args.replot[0]), Path(args.replot[1]))
        return 0
    names = args.names or [n for n, s in SAMPLES.items() if (args.long or not s.long) and (s.figures or not args.figures)]
    differing = regenerate(names, check_only=args.check)
    return 1 if args.check and differing else 0


if __name__ == "__main__":
    sys.exit(main())
