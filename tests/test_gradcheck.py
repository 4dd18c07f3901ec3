"""The gradient-check report (compare.lab.gradients) and its CLI (compare.gradcheck)."""

import json
import subprocess
import sys

import pytest

from compare import gradcheck
from compare.lab.diff import TOLERANCES
from compare.lab.gradients import METHODS, check_gradients


def test_report_covers_every_method_and_parameter():
    report = check_gradients((3, 4, 2), "tanh", batch_size=5, lambdas=[1e-3] * 4)
    assert report.passed
    seen = {(row.method, row.name) for row in report.rows}
    for method in METHODS:
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
    report = check_gradients((3, 4, 2), "relu", batch_size=8, seed=1)
    failed = {(row.method, row.name) for row in report.failures()}
    assert failed == {("manual-matrix", "W1")}


def test_large_nets_skip_finite_differences_with_a_note():
    report = check_gradients((50, 60, 10), "relu", batch_size=4, fd_limit=1000)
    assert report.passed
    assert not any(row.method == "finite-diff" for row in report.rows)
    assert "finite differences skipped" in report.notes[0]


def test_float32_uses_the_float32_tolerance():
    report = check_gradients((5, 6, 3), "sigmoid", batch_size=10, dtype="float32")
    assert report.passed
    assert {row.diff.rtol for row in report.rows if row.method != "finite-diff"} == {TOLERANCES["float32"].rtol}


def test_cli_default_is_the_homeworks_cases(tmp_path, capsys):
    out = tmp_path / "report.json"
    assert gradcheck.main(["--json", str(out), "--show-values"]) == 0
    stdout = capsys.readouterr().out
    assert "K=1 " in stdout and "K=10 " in stdout
    assert "sizes=(2, 2, 2)" in stdout
    assert "ratio true / estimated for W1" in stdout
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
        (["--json", "/no/such/folder/report.json"], "--json /no/such/folder/report.json: there is no folder"),
    ],
)
def test_cli_bad_input_exits_2_with_one_line(args, message, capsys):
    """In-process (main returns the exit status); the real exit path is the test below."""
    assert gradcheck.main(args) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert message in captured.err
    assert captured.err.startswith("gradcheck: error: ")
    assert len(captured.err.strip().splitlines()) == 1


def test_cli_argparse_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        gradcheck.main(["--batch-size", "ten"])
    assert exit_info.value.code == 2
    assert "invalid int value: 'ten'" in capsys.readouterr().err


def test_cli_exit_status_of_the_real_process():
    """One real process: ``python -m compare.gradcheck`` exits with main's status, one line, no traceback."""
    result = subprocess.run(
        [sys.executable, "-m", "compare.gradcheck", "--activation", "gelu"],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "gradcheck: error: unknown activation 'gelu'; choose one of relu, sigmoid, softplus, tanh"
    )
