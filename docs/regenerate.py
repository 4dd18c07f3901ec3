"""Rerun the sample outputs shown in the docs and redraw the docs' figures from the current code.

    python docs/regenerate.py                 # the quick samples (seconds), rewritten in place
    python docs/regenerate.py --check         # only say which quick samples differ (exit 1 if any)
    python docs/regenerate.py --long          # also the long ones (a full MNIST run: minutes)
    python docs/regenerate.py --figures       # redraw docs/figures/*.png (a few minutes)
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
    figure: str | None = None  # copy the run's curves.png to docs/figures/<figure> when regenerating


SAMPLES = {
    "gradcheck-k10": Sample("docs/homework.md", ("compare.gradcheck", "--batch-size", "10")),
    "gradcheck-values": Sample("docs/homework.md", ("compare.gradcheck", "--batch-size", "1", "--show-values"),
                               head=32),
    "circles": Sample("docs/training.md", ("compare.train_both", "--dataset", "circles", "--no-progress",
                                           "--out", "runs/circles")),
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
    "mnist": Sample("README.md", ("compare.train_both", "--no-progress", "--out", "runs/mnist"), long=True,
                    head=6, tail=5, figure="curves-mnist.png"),
}

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
    """Rerun the samples ``names``; rewrite the docs (or, with ``check_only``, just compare)."""
    differing = []
    for name in names:
        sample = SAMPLES[name]
        doc = REPO / sample.doc
        if name not in doc_samples(doc):
            raise SystemExit(f"regenerate: error: {sample.doc} has no block <!-- sample: {name} -->")
        fresh = run_sample(sample)
        if normalise(fresh) != normalise(doc_samples(doc)[name]):
            differing.append(name)
        if not check_only and fresh != doc_samples(doc)[name]:
            rewrite(doc, name, fresh)
        if not check_only and sample.figure:
            out = REPO / sample.argv[sample.argv.index("--out") + 1]
            shutil.copy(out / "curves.png", FIGURES / sample.figure)
        print(f"{name:<18} {sample.doc:<18} {'differs' if name in differing else 'same'}", flush=True)
    return differing


# --------------------------------------------------------------------------- figures
def figures() -> None:
    """Redraw docs/figures/*.png with the commands a reader would run (small, 90 dpi)."""
    FIGURES.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        runs = [
            (("compare.train_both", "--dataset", "circles", "--no-progress", "--out", str(tmp / "c")),
             {"curves.png": "curves-circles.png", "decision_regions.png": "decision-regions-circles.png"}),
            (("compare.train_both", "--dataset", "circles", "--sweep", "--no-progress", "--sweep-hidden", "2", "4",
              "10", "--sweep-decays", "0", "0.01", "--out", str(tmp / "s")), {"sweep.png": "sweep-circles.png"}),
            (("compare.bench", "--quick", "--no-progress", "--plot", str(tmp / "bench.png")),
             {"bench.png": "bench-quick.png"}),
        ]
        for argv, copies in runs:
            print("$ python -m " + " ".join(argv), flush=True)
            subprocess.run([sys.executable, "-m", *argv], cwd=REPO, check=True, stdout=subprocess.DEVNULL,
                           env={**os.environ, "MPLBACKEND": "Agg"})
            out = Path(argv[argv.index("--out") + 1]) if "--out" in argv else tmp
            for produced, name in copies.items():
                shutil.copy(out / produced, FIGURES / name)
                print(f"  docs/figures/{name}", flush=True)


def replot_curves(metrics_json: Path, png: Path) -> None:
    """Redraw a finished run's curves.png from its metrics.json with the current plotting code."""
    import json

    sys.path.insert(0, str(REPO))
    from compare.config import TrainConfig, describe
    from compare.plots import plot_curves
    from compare.train_both import curves_caption

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
    parser.add_argument("--figures", action="store_true", help="redraw docs/figures/*.png")
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
    if args.figures:
        figures()
        return 0
    names = args.names or [n for n, s in SAMPLES.items() if args.long or not s.long]
    differing = regenerate(names, check_only=args.check)
    return 1 if args.check and differing else 0


if __name__ == "__main__":
    sys.exit(main())
