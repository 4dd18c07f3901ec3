"""The gradient-check report and its CLI."""

import json
import subprocess
import sys

import numpy as np
import pytest

from compare import gradcheck
from compare.diff import TOLERANCES, compare_arrays


def test_compare_arrays_reports_the_worst_entry():
    expected = np.array([[1.0, 2.0], [3.0, 4.0]])
    actual = expected.copy()
    actual[1, 0] += 3e-5
    diff = compare_arrays(actual, expected, TOLERANCES["finite-diff"])
    assert diff.worst_index == (1, 0)
    assert diff.max_abs_error == pytest.approx(3e-5)
    assert diff.max_rel_error == pytest.approx(3e-5 / (3.0 + 3e-5))
    assert not diff.passed
    assert compare_arrays(expected, expected, TOLERANCES["float64"]).passed


def test_compare_arrays_judges_tiny_entries_on_the_array_scale_and_fails_nan():
    expected = np.array([1.0, 1e-17])
    actual = np.array([1.0, 3e-17])  # rounding noise on an entry that is 0 in exact arithmetic
    assert compare_arrays(actual, expected, TOLERANCES["float64"]).passed
    bad = compare_arrays(np.array([1.0, np.nan]), expected, TOLERANCES["float64"])
    assert not bad.passed and bad.worst_index == (1,)
    with pytest.raises(ValueError, match="shape"):
        compare_arrays(np.ones(3), np.ones(2), TOLERANCES["float64"])


def test_report_covers_every_method_and_parameter():
    report = gradcheck.check_gradients((3, 4, 2), "tanh", batch_size=5, lambdas=[1e-3] * 4)
    assert report.passed
    seen = {(row.method, row.name) for row in report.rows}
    for method in gradcheck.METHODS:
        for name in ("W1", "b1", "W2", "b2", "X"):
            assert (method, name) in seen
    for row in report.rows:
        if row.method == "finite-diff":
            low, high = row.fd_ratio
            assert 1 - 1e-5 < low <= high < 1 + 1e-5  # the homework's ratio, ≈ 1
    assert json.dumps(report.to_dict())  # serialisable


def test_report_catches_a_wrong_gradient(monkeypatch):
    from manual import MLP

    original = MLP.loss_and_grads

    def sum_instead_of_mean(self, X, y, lambdas=None, mode="matrix"):
        loss, grads = original(self, X, y, lambdas, mode)
        if mode == "matrix":
            grads["W1"] = grads["W1"] * len(X)
        return loss, grads

    monkeypatch.setattr(MLP, "loss_and_grads", sum_instead_of_mean)
    report = gradcheck.check_gradients((3, 4, 2), "relu", batch_size=8, seed=1)
    failed = {(row.method, row.name) for row in report.failures()}
    assert failed == {("manual-matrix", "W1")}


def test_large_nets_skip_finite_differences_with_a_note():
    report = gradcheck.check_gradients((50, 60, 10), "relu", batch_size=4, fd_limit=1000)
    assert report.passed
    assert not any(row.method == "finite-diff" for row in report.rows)
    assert "finite differences skipped" in report.notes[0]


def test_float32_uses_the_float32_tolerance():
    report = gradcheck.check_gradients((5, 6, 3), "sigmoid", batch_size=10, dtype="float32")
    assert report.passed
    assert {row.diff.rtol for row in report.rows if row.method != "finite-diff"} == {TOLERANCES["float32"].rtol}


def run_cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "compare.gradcheck", *args], capture_output=True, text=True, timeout=120
    )


def test_cli_default_is_the_homeworks_cases(tmp_path):
    out = tmp_path / "report.json"
    result = run_cli("--json", str(out), "--show-values")
    assert result.returncode == 0, result.stderr
    assert "K=1 " in result.stdout and "K=10 " in result.stdout
    assert "sizes=(2, 2, 2)" in result.stdout
    assert "ratio true / estimated for W1" in result.stdout
    reports = json.loads(out.read_text())
    assert [r["config"]["batch_size"] for r in reports] == [1, 10]
    assert all(r["passed"] for r in reports)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--activation", "gelu"], "unknown activation 'gelu'"),
        (["--lambdas", "0.1", "0.1"], "expected 4 lambdas"),
        (["--sizes", "3", "2"], "at least 3 entries"),
        (["--batch-size", "0"], "batch size must be a positive integer"),
    ],
)
def test_cli_bad_input_exits_2_with_one_line(args, message):
    result = run_cli(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
