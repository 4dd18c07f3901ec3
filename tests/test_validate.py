"""compare.validate: anyone's backprop against autograd, with a diagnosis; exit codes 0/1/2.

The implementations under test live in ``tests/student_impls/``: ``student.py`` (correct,
written independently of ``manual/``), ``wrong.py`` (one bug each) and ``hostile.py`` (each
breaks the contract). Most runs go through ``validate()`` in this process (the student code
still runs in its own worker); a few go through the real CLI in a subprocess.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from compare.grader.course import cases as C
from compare.grader.course.assignment import load_assignment
from compare.grader.diagnosis.aggregation import _patterns, diagnose
from compare.grader.diagnosis.detectors import ParamView, detect_penalty_terms, diagnose_param
from compare.grader.diagnosis.evidence import Evidence
from compare.grader.diagnosis.loss import diagnose_loss
from compare.grader.diagnosis.variants import altered_loss_and_grads
from compare.grader.judging.battery import compare_case
from compare.grader.sandbox.errors import StudentError
from compare.grader.sandbox.host import Host
from compare.grader.submissions.submission import parse_spec
from compare.validate import assert_matches_reference, main, validate
from manual import MLP

ROOT = Path(__file__).resolve().parent.parent
N_CASES = sum(len(C.battery(activation)) for activation in C.ACTIVATIONS)  # a full implementation runs them all
IMPLS = Path(__file__).resolve().parent / "student_impls"
STUDENT, WRONG, HOSTILE = (str(IMPLS / name) for name in ("student.py", "wrong.py", "hostile.py"))

# wrong.py class -> a phrase the first (most likely) finding of its diagnosis must contain
BUGS = {
    "SumNotMean": "sum over the examples instead of the mean",
    "MeanTwice": "divided by k twice",
    "ReluNoMask": "derivative is missing",
    "BiasRegularised": "biases are regularised",
    "L2FactorTwo": "l2 term is off by a factor 2",
    "L1Missing": "l1 term (λ11·sign(w)) is missing",
    "PenaltyMissingFromGrad": "penalty missing from the gradient",
    "PenaltyMissingFromLoss": "loss has no penalty",
    "NoPenaltyOnLayer2": "penalty missing from the gradient",
    "LambdasSwapped": "the l1 term uses λ12",
    "TransposedW1": "transposed",
    "NaiveSoftmax": "softmax overflow",
    "SignFlipped": "wrong sign",
    "SigmoidGradFromX": "x(1 - x)",
    "TanhGradNoSquare": "you use 1 - tanh(x),",
    "SoftplusGradSign": "σ(-x)",
    "LabelOffByOne": "off by one",
    "OnehotMissing": "onehot(y) is not subtracted",
    "LastExampleOnly": "only the last example",
    "PreActivationAsInput": "pre-activation h^a",
    "IgnoresParams": "does not read the values written into `params`",
    "AccumulatesAcrossCalls": "accumulate across calls",
    "Float32": "float32",
    "IgnoresActivation": "ignores its activation",
    "LossSumNotMean": "loss is the sum over the batch",
    "MatrixSoftmaxAxis": "softmax over the wrong axis",
    "GradientTimesM": "number of classes",
}
# ... and where the finding must point (a parameter or "loss"), when that is telling
WHERE = {
    "NoPenaltyOnLayer2": {"W2"},
    "TransposedW1": {"W1"},
    "PreActivationAsInput": {"W2"},
    "PenaltyMissingFromLoss": {"loss"},
    "LossSumNotMean": {"loss"},
    "BiasRegularised": {"b1", "b2"},
}

# hostile.py factory -> a phrase its one-line reason must contain
BROKEN = {
    "NOT_A_FACTORY": "not a callable factory",
    "raises": "raised RuntimeError: my network is not ready",
    "returns_none": "without a `params` dict",
    "NoLossAndGrads": "without a loss_and_grads method",
    "ParamsTransposed": "it stores W1 as (in, out) (5, 4) where the assignment asks (out, in) (4, 5); in that layout",
    "RaisesInLossAndGrads": "raised ZeroDivisionError",
    "ReturnsLossOnly": "must return a pair (loss, grads)",
    "LossIsString": "the loss must be a real number",
    "GradsAsList": "grads must be a dict",
    "GradsAsLists": "grads['W1'] is a list, not a NumPy array",
    "WrongKeys": "missing ['W1', 'b1', 'W2', 'b2']",
    "ReturnsNaN": "NaN or inf in b1",
    "MutatesX": "modified its input X in place",
    "UpdatesParams": "changed params['W1']",
    "ParamsCopies": "not writable",
    "HangsOnHugeInput": "relu/mnist-width did not return within",
    "HangsOnLargeBatch": "relu/large-batch did not return within",
    "HangsInC": "did not return within",
    "Sleeps": "did not return within",
    "SlowEveryCall": "total time budget",
    "ExitsProcess": "exit code 3",
    "CallsSysExit": "SystemExit",
}


@pytest.fixture
def impls_on_path(monkeypatch):
    """Import the student modules in this process (for factories passed as objects)."""
    monkeypatch.syspath_prepend(str(IMPLS))
    for name in ("student", "wrong", "hostile"):
        sys.modules.pop(name, None)
    yield lambda name: importlib.import_module(name)
    for name in ("student", "wrong", "hostile"):
        sys.modules.pop(name, None)


# ----------------------------------------------------------------------------- the battery
def test_battery_covers_the_issue():
    all_cases = [c for act in C.ACTIVATIONS for c in C.battery(act)]
    names = {c.name for c in all_cases}
    assert {"relu/one-example", "relu/minibatch", "relu/regularised", "relu/zero-preactivation",
            "relu/large-logits", "relu/large-negative-logits", "relu/mnist-width", "relu/large-batch",
            "relu/two-hidden"} <= names
    assert {c.activation for c in all_cases} == set(C.ACTIVATIONS)
    assert any(c.K == 1 for c in all_cases) and any(c.K > 1 for c in all_cases)
    assert any(c.sizes == (784, 32, 10) for c in all_cases) and max(c.K for c in all_cases) >= 1000
    assert any(c.sizes[1] == 2 for c in all_cases)
    assert any(c.regularised for c in all_cases) and any(not c.regularised for c in all_cases)
    for case in all_cases:
        assert case.params["W1"].shape == (case.sizes[1], case.sizes[0])
        assert not case.X.flags.writeable  # shared, never modified
        assert all(np.all(b != 0) for k, b in case.params.items() if k.startswith("b") and C.ZERO_PREACT
                   not in case.tags)
        assert len(case.lambdas) == 2 * case.n_layers


def test_battery_is_deterministic():
    a, b = C.battery("tanh", seed=3), C.battery("tanh", seed=3)
    for x, y in zip(a, b):
        assert np.array_equal(x.X, y.X) and all(np.array_equal(x.params[k], y.params[k]) for k in x.params)


def test_zero_preactivation_case_has_exact_zeros_that_matter():
    case = C.zero_preactivation()
    ev = Evidence(case, *compare_ref(case))
    pre = ev.pre_activations[0]
    assert (pre == 0).sum() >= 6 and (pre > 0).any()
    # the rect'(0) = 1 convention gives different gradients on this batch
    _, wrong = altered_loss_and_grads(case, derivative=lambda x: (x >= 0).to(x.dtype))
    assert not np.allclose(wrong["W1"], ev.reference_grads["W1"], rtol=1e-6, atol=0)


@pytest.mark.parametrize("activation", C.ACTIVATIONS)
def test_large_logit_cases_overflow_a_naive_softmax_but_not_the_loss(activation):
    for sign in (+1, -1):
        case = C.large_logits(activation, sign=sign)
        ev = Evidence(case, *compare_ref(case))
        logits = ev.tape["pre"][-1]
        assert np.all(np.abs(logits) > 990)
        with np.errstate(over="ignore", invalid="ignore"):
            naive = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        assert not np.all(np.isfinite(naive))
        assert np.isfinite(ev.reference_loss) and ev.reference_loss < 20


@pytest.mark.parametrize("activation", C.ACTIVATIONS)
def test_every_activation_gets_the_stability_cases_and_real_sizes(activation):
    """A tanh-only network's softmax is as likely to overflow: the stress cases are not relu's alone."""
    cases = {c.name.partition("/")[2]: c for c in C.battery(activation)}
    assert {"large-logits", "large-negative-logits", "mixed-scales", "mnist-width", "large-batch"} <= set(cases)
    assert ("zero-preactivation" in cases) == (activation == "relu")
    assert cases["large-batch"].K == 1024 and cases["mnist-width"].sizes == (784, 32, 10)
    case = cases["mixed-scales"]  # one example near +1000, one near 0, one near -1000, whatever the activation
    top = Evidence(case, *compare_ref(case)).tape["pre"][-1].max(axis=1)
    assert top.max() > 950 and top.min() < -950 and np.abs(top).min() < 200, top


def test_a_tanh_only_softmax_that_overflows_fails():
    """It passed with 4 small cases when the stress cases ran for relu only."""
    report = validate(str(IMPLS / "tanh_only.py"), assignment=load_assignment(IMPLS / "tanh_only.toml"))
    assert report.exit_code == 1, report.error
    assert {c.case.name for c in report.failed_cases} == {"tanh/large-logits", "tanh/large-negative-logits",
                                                          "tanh/mixed-scales"}
    assert "softmax overflow" in report.diagnosis[0].message.lower() or "overflows" in report.diagnosis[0].message
    assert len(report.cases) == len(C.battery("tanh"))


def test_hidden_pre_activations_stay_moderate():
    """So sigmoid/tanh derivatives are well-conditioned and torch's softplus threshold never matters."""
    for act in C.ACTIVATIONS:
        for case in C.battery(act):
            if C.ZERO_PREACT in case.tags:
                continue  # integers, relu only
            ev = Evidence(case, *compare_ref(case))
            assert max(float(np.abs(a).max()) for a in ev.pre_activations) < 5, case.name


def compare_ref(case):
    from compare.grader.judging.reference import reference_loss_and_grads

    return reference_loss_and_grads(case)


# ----------------------------------------------------------------------------- correct implementations
@pytest.mark.parametrize("spec", ["manual:MLP", f"{STUDENT}:StudentMLP", f"{STUDENT}:make_mlp",
                                  f"{STUDENT}:AliasingMLP", f"{STUDENT}:Float32Params", f"{HOSTILE}:PrintsALot"])
def test_correct_implementations_pass(spec):
    report = validate(spec)
    assert report.exit_code == 0, report.verdict + "\n" + "\n".join(f.message for f in report.diagnosis)
    assert len(report.cases) == N_CASES and not report.skipped and not report.diagnosis
    assert report.elapsed_s < 30


def test_unsupported_activations_and_depth_are_skipped_not_failed():
    report = validate(f"{STUDENT}:OnlyRelu")
    assert report.exit_code == 0, report.verdict
    assert {c.case.activation for c in report.cases} == {"relu"}
    skipped = "\n".join(report.skipped)
    for what in ("'tanh'", "'sigmoid'", "'softplus'", "two hidden layers"):
        assert what in skipped
    assert "ValueError: only relu is implemented" in skipped


def test_relu_is_required():
    class NoRelu:
        def __init__(self, sizes, activation):
            raise ValueError(f"{activation} not implemented")

    report = validate(NoRelu, timeout=5)
    assert report.exit_code == 2 and "NoRelu((5, 4, 3), 'relu') raised ValueError" in report.error


# ----------------------------------------------------------------------------- wrong implementations
@pytest.mark.parametrize("name", sorted(BUGS))
def test_wrong_implementation_is_caught_and_diagnosed(name):
    report = validate(f"{WRONG}:{name}")
    assert report.exit_code == 1, report.verdict
    assert report.diagnosis, "a failing run always says something"
    first = report.diagnosis[0]
    assert BUGS[name] in first.message.lower(), "\n".join(f.message for f in report.diagnosis)
    if name in WHERE:
        params = {w.partition(":")[2] for f in report.diagnosis[:2] for w in f.where}
        assert WHERE[name] <= params, params


def test_diagnosis_names_the_layer_for_a_one_layer_penalty_bug():
    report = validate(f"{WRONG}:NoPenaltyOnLayer2")
    text = "\n".join(f.message for f in report.diagnosis)
    assert "no penalty on layer 2" in text
    penalty = next(f for f in report.diagnosis if f.key == "penalty-missing-grad")
    assert {w.split(":")[1] for w in penalty.where} <= {"W2", "W3"}  # never W1: it is regularised


def test_crash_after_failures_exits_2_but_still_names_the_bug():
    """W δ instead of Wᵀ δ works while W2 is square (2-2-2), then the student's code crashes (5-4-3)."""
    report = validate(f"{WRONG}:UntransposedBackprop")
    assert report.exit_code == 2
    assert "raised ValueError" in report.error and "[case relu/regularised]" in report.error
    assert "goes through W instead of Wᵀ" in report.error and "\n" not in report.error


def test_failing_report_table_shows_errors_and_worst_index():
    report = validate(f"{WRONG}:ReluGradAtZero")
    (failed,) = report.failed_cases
    assert failed.case.name == "relu/zero-preactivation"
    rows = {row.name: row for row in failed.rows}
    assert rows["loss"].passed and rows["W2"].passed and not rows["W1"].passed and not rows["b1"].passed
    assert rows["W1"].diff.max_rel_error > 1e-3 and len(rows["W1"].diff.worst_index) == 2


# ----------------------------------------------------------------------------- contract breakers
@pytest.mark.parametrize("name", sorted(BROKEN))
def test_contract_breakers_exit_2_with_a_reason(name):
    fast = name in ("HangsOnHugeInput", "HangsOnLargeBatch", "HangsInC", "Sleeps")
    start = time.perf_counter()
    report = validate(f"{HOSTILE}:{name}", timeout=1.5 if fast else 10, budget=3 if name == "SlowEveryCall" else 25)
    assert report.exit_code == 2, report.verdict
    assert BROKEN[name] in report.error
    assert "\n" not in report.error and "Traceback" not in report.error
    assert time.perf_counter() - start < 15


@pytest.mark.parametrize("spec, reason", [
    ("manual", "no colon"),
    (":MLP", "names no module or file"),
    ("manual:", "is not a Python name"),
    ("no_such_module_xyz:MLP", "no module named 'no_such_module_xyz'"),
    ("manual:NoSuchThing", "no 'NoSuchThing' in module 'manual'"),
    ("tests/student_impls/no_such_file.py:MLP", "no such file"),
    ("manual.functions:ACTIVATIONS", "not a callable factory"),
])
def test_bad_specs_exit_2(spec, reason, capsys):
    assert main([spec]) == 2
    out, err = capsys.readouterr()
    assert reason in err and err.count("\n") == 1 and "Traceback" not in err
    assert out == ""


def test_module_that_fails_to_import(tmp_path):
    (tmp_path / "broken_student.py").write_text("import numpy as np\ndef make(:\n")
    report = validate(f"{tmp_path / 'broken_student.py'}:make")
    assert report.exit_code == 2 and "SyntaxError" in report.error
    # A module the sandbox lacks is stubbed (starter code imports plotting libraries): the file
    # loads, and the factory that uses it says what it used.
    (tmp_path / "needs_jax.py").write_text("import jax_is_not_installed_here\n"
                                           "def make(sizes, activation):\n"
                                           "    return jax_is_not_installed_here.MLP(sizes)\n")
    report = validate(f"{tmp_path / 'needs_jax.py'}:make")
    assert report.exit_code == 2 and ("jax_is_not_installed_here.MLP() was called, but jax_is_not_installed_here "
                                      "is not available to graded code") in report.error
    assert "(needs_jax.py:3 in make: return jax_is_not_installed_here.MLP(sizes))" in report.error


def test_validate_rejects_bad_arguments():
    with pytest.raises(ValueError, match="timeout"):
        validate("manual:MLP", timeout=0)
    with pytest.raises(TypeError, match="factory"):
        validate(42)
    with pytest.raises(ValueError, match="no preset named 'cs321n'"):
        validate("manual:MLP", assignment="cs321n")
    with pytest.raises(ValueError, match="cannot read assignment file missing.toml"):
        validate("manual:MLP", assignment="missing.toml")
    with pytest.raises(TypeError, match="a preset's name or a .toml file's path, got dict"):
        validate("manual:MLP", assignment={"weights": "in_out"})


# ----------------------------------------------------------------------------- the CLI for real
def _cli(*args, timeout=60):
    return subprocess.run([sys.executable, "-m", "compare.validate", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


def test_cli_pass_exit_0_within_30_seconds():
    start = time.perf_counter()
    result = _cli("manual:MLP")
    elapsed = time.perf_counter() - start
    assert result.returncode == 0, result.stderr
    assert f"verdict: PASS — all {N_CASES} cases" in result.stdout and "relu/mnist-width" in result.stdout
    assert elapsed < 30


def test_cli_fail_exit_1_prints_tables_and_diagnosis():
    result = _cli("tests/student_impls/wrong.py:SumNotMean", "--brief")
    assert result.returncode == 1, result.stderr
    assert "max rel err" in result.stdout and "FAIL" in result.stdout
    assert "diagnosis (most likely first):" in result.stdout and "sum over the examples" in result.stdout


def test_cli_hostile_exit_2_one_line_no_traceback():
    result = _cli("tests/student_impls/hostile.py:HangsInC", "--timeout", "1")
    assert result.returncode == 2
    assert result.stdout == "" and "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1 and "did not return within 1 s" in result.stderr


# ----------------------------------------------------------------------------- JSON for graders
def test_json_report(tmp_path, capsys):
    path = tmp_path / "report.json"
    assert main([f"{WRONG}:L2FactorTwo", "--json", str(path)]) == 1
    capsys.readouterr()
    data = json.loads(path.read_text())
    assert data["exit_code"] == 1 and data["verdict"] == "fail" and data["error"] is None
    assert data["n_cases"] == N_CASES and data["n_failed"] == len([c for c in data["cases"] if not c["passed"]])
    assert "off by a factor 2" in data["diagnosis"][0]["message"]
    row = next(r for c in data["cases"] if not c["passed"] for r in c["rows"] if not r["passed"])
    assert {"name", "max_abs_error", "max_rel_error", "worst_index", "passed"} <= set(row)


def test_json_report_on_contract_error(tmp_path, capsys):
    path = tmp_path / "report.json"
    assert main([f"{HOSTILE}:MutatesX", "--json", str(path)]) == 2
    capsys.readouterr()
    data = json.loads(path.read_text())
    assert data["exit_code"] == 2 and data["verdict"] == "error" and "in place" in data["error"]


def test_json_report_is_strict_json_with_nan_results(tmp_path, capsys):
    path = tmp_path / "report.json"
    assert main([f"{WRONG}:NaiveSoftmax", "--json", str(path)]) == 1
    capsys.readouterr()
    def reject(constant):
        raise AssertionError(f"non-standard JSON constant {constant}")

    data = json.loads(path.read_text(), parse_constant=reject)
    row = next(r for c in data["cases"] if c["name"] == "relu/large-logits" for r in c["rows"] if r["name"] == "W1")
    assert row["max_abs_error"] in ("NaN", "Infinity") and row["passed"] is False  # never null


# ----------------------------------------------------------------------------- instructors' pytest helper
def test_assert_matches_reference_passes_for_a_correct_class(impls_on_path):
    student = impls_on_path("student")
    report = assert_matches_reference(student.StudentMLP)
    assert report.exit_code == 0


def test_assert_matches_reference_fails_with_the_diagnosis(impls_on_path):
    wrong = impls_on_path("wrong")
    with pytest.raises(AssertionError, match="sum over the examples instead of the mean"):
        assert_matches_reference(wrong.SumNotMean)


def test_assert_matches_reference_contract_error(impls_on_path):
    hostile = impls_on_path("hostile")
    with pytest.raises(AssertionError, match="breaks the contract: .*modified its input X"):
        assert_matches_reference(hostile.MutatesX)


class _LoopMLP(MLP):
    """manual.MLP in its loop mode: a closure-made factory runs in this process."""

    def loss_and_grads(self, X, y, lambdas=None):
        return super().loss_and_grads(X, y, lambdas, mode="loop")


def test_assert_matches_reference_takes_a_preset_name_or_a_toml_path():
    """A course's pytest file names its conventions as a user would."""
    report = assert_matches_reference(f"{IMPLS / 'fc_net.py'}:TwoLayerNet", assignment="cs231n-a2")
    assert report.assignment == "cs231n-a2 (the cs231n-a2 preset)" and report.exit_code == 0
    course = IMPLS / "in_out.toml"
    for given in (course, str(course)):
        report = assert_matches_reference(f"{IMPLS / 'in_out.py'}:make_mlp", assignment=given)
        assert report.assignment.startswith("in_out (weights='in_out'")
    with pytest.raises(AssertionError, match="disagrees with the torch reference"):
        assert_matches_reference(str(IMPLS / "tanh_only.py"), assignment=str(IMPLS / "tanh_only.toml"))


def test_in_process_factories_closure_and_lambda():
    seed = 5
    report = assert_matches_reference(lambda sizes, activation: _LoopMLP(sizes, activation, seed=seed))
    assert report.exit_code == 0 and report.target.startswith("test_in_process")


def test_in_process_runaway_call_is_abandoned():
    class Stuck(MLP):
        def loss_and_grads(self, X, y, lambdas=None):
            time.sleep(30)

    start = time.perf_counter()
    report = validate(lambda sizes, activation: Stuck(sizes, activation), timeout=0.5)
    assert report.exit_code == 2 and "did not return within 0.5 s" in report.error
    assert time.perf_counter() - start < 5


# ----------------------------------------------------------------------------- detectors, one by one
def test_detect_scaled_sum_and_penalty_factors():
    case = C.regularised("relu")
    ev = Evidence(case, *compare_ref(case))
    data, pen, K = ev.data[1]["W1"], ev.penalty_grads["W1"], case.K
    for s, key in ((K * data + pen, "sum-not-mean"), (data / K + pen, "mean-twice"),
                   (data + pen / K, "penalty-over-K"), (data, "penalty-missing-grad"),
                   (-(data + pen), "sign-flipped")):
        p = ParamView(case, "W1", s, ev.reference_grads["W1"], ev)
        assert diagnose_param(p).key == key


def test_detect_penalty_terms_reads_off_each_coefficient():
    case = C.regularised("tanh")
    ev = Evidence(case, *compare_ref(case))
    W, r = case.params["W2"], ev.reference_grads["W2"]
    lam21, lam22 = case.lambdas[2], case.lambdas[3]
    for s, key in ((r - lam22 * W, "l2-factor-2"), (r - lam21 * np.sign(W), "l1-missing"),
                   (r + lam21 * np.sign(W), "l1-factor-2"), (r - 2 * lam22 * W, "l2-missing"),
                   (r - lam21 * np.sign(W) + lam21 * W, "l1-uses-W")):
        finding = detect_penalty_terms(ParamView(case, "W2", s, r, ev))
        assert finding is not None and finding.key == key, (key, finding)
    uses_other = r - lam21 * np.sign(W) + case.lambdas[0] * np.sign(W)
    assert "uses λ11" in detect_penalty_terms(ParamView(case, "W2", uses_other, r, ev)).message


def test_detect_bias_regularised():
    case = C.regularised("sigmoid")
    ev = Evidence(case, *compare_ref(case))
    b, r = case.params["b1"], ev.reference_grads["b1"]
    s = r + case.lambdas[0] * np.sign(b) + 2 * case.lambdas[1] * b
    assert diagnose_param(ParamView(case, "b1", s, r, ev)).key == "biases-regularised"


def test_detect_transposed_and_precision():
    case = C.minibatch("relu")
    ev = Evidence(case, *compare_ref(case))
    r = ev.reference_grads["W2"]
    assert diagnose_param(ParamView(case, "W2", r.T.copy(), r, ev)).key == "transposed"
    noisy = r * (1 + 1e-7)
    assert diagnose_param(ParamView(case, "W2", noisy, r, ev, max_rel_error=1e-7)).key == "precision"


def test_detect_zero_units_without_a_matching_hypothesis():
    """rect'(0) = 0.5 matches no hypothesis, but the errors sit only in units with exact zeros."""
    case = C.zero_preactivation()
    _, wrong = altered_loss_and_grads(case, derivative=lambda x: (x > 0).to(x.dtype) + 0.5 * (x == 0).to(x.dtype))
    ev = Evidence(case, *compare_ref(case))
    finding = diagnose_param(ParamView(case, "b1", wrong["b1"], ev.reference_grads["b1"], ev))
    assert finding.key == "relu-zero" and "exactly 0" in finding.message


def test_detect_accumulated_across_calls():
    case = C.minibatch("relu")
    ev = Evidence(case, *compare_ref(case))
    r, prev = ev.reference_grads["W1"], np.full((2, 2), 0.25)
    p = ParamView(case, "W1", r + prev, r, ev, previous=prev)
    assert diagnose_param(p).key == "accumulates-across-calls"


def test_loss_detector():
    case = C.regularised("relu")
    ev = Evidence(case, *compare_ref(case))
    nll = ev.data[0]
    pen = ev.reference_loss - nll
    assert diagnose_loss(ev, nll).key == "loss-no-penalty"
    assert diagnose_loss(ev, case.K * nll + pen).key == "sum-not-mean"
    assert diagnose_loss(ev, float("nan")).key == "nonfinite"
    assert diagnose_loss(ev, ev.reference_loss + 1.2345) is None


def test_patterns_name_the_narrowest_tag():
    outcomes = []
    for case in C.battery("relu"):
        loss, grads = compare_ref(case)
        if C.ZERO_PREACT in case.tags:
            grads = {k: v + 1.0 for k, v in grads.items()}
        outcomes.append(compare_case(case, loss, grads).outcome)
    keys = [f.key for f in _patterns(outcomes)]
    assert keys == ["pattern-zero-preactivation"]


def test_unrecognised_bug_still_gets_a_pointer():
    case = C.minibatch("relu")
    loss, grads = compare_ref(case)
    rng = np.random.default_rng(0)
    grads = {k: v + rng.normal(size=v.shape) for k, v in grads.items()}
    findings = diagnose([compare_case(case, loss, grads).outcome])
    assert findings and all(f.key not in ("sum-not-mean", "transposed") for f in findings)


# ----------------------------------------------------------------------------- the sandbox's contract checks
def test_host_normalise_accepts_scalars_and_array_likes():
    loss, grads = Host._normalise((np.float64(1.5), {"W1": np.array([[1, 2], [3, 4]]), "b1": np.zeros(2)}), "m")
    assert loss == 1.5 and grads["W1"].dtype == np.float64
    loss, _ = Host._normalise((np.array([2.0]), {"W1": np.ones((2, 2)), "b1": np.zeros(2)}), "m")
    assert loss == 2.0
    for bad, phrase in (((1.0,), "pair"), ((np.ones(3), {}), "one number"),
                        ((1.0, {"W1": np.ones((2, 2)), "b1": "x"}), "str, not a NumPy array"),
                        ((1.0, {"W1": np.ones((2, 2)), "b1": [0.0, 1.0]}), "list, not a NumPy array"),
                        ((1.0, {"W1": np.ones((2, 2)), "b1": np.array(["a", "b"])}), "real numbers"),
                        (("0.5", {}), "real number"), (([0.5], {}), "real number"),
                        ((True, {}), "real number")):
        with pytest.raises(StudentError, match=phrase.replace("(", r"\(").replace(")", r"\)")):
            Host._normalise(bad, "m")


def test_parse_spec_accepts_paths_with_colons_in_them():
    assert parse_spec("C:/course/student.py:make") == ("C:/course/student.py", "make")
    assert parse_spec("pkg.mod:Factory.create") == ("pkg.mod", "Factory.create")


def test_worker_side_modules_do_not_import_torch():
    """The worker's own modules need only the standard library and NumPy (torch is not even in its sandbox)."""
    code = ("import sys; import compare.grader.sandbox.host, compare.grader.sandbox.wire, compare.grader.sandbox.worker; "
            "print(sorted(m for m in ('torch', 'manual', 'reference', 'compare.grader.diagnosis.aggregation') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.stdout.strip() == "[]", result.stderr


# ----------------------------------------------------------------------------- exit codes and what is printed
def test_brief_prints_only_the_failing_tables(tmp_path, capsys):
    path = tmp_path / "report.json"
    assert main([f"{WRONG}:LastExampleOnly", "--brief", "--json", str(path)]) == 1
    brief = capsys.readouterr().out
    data = json.loads(path.read_text())
    failing = [c["name"] for c in data["cases"] if not c["passed"]]
    passing = [c["name"] for c in data["cases"] if c["passed"]]
    assert failing and passing  # one-example cases pass: only the last example counts there
    assert brief.count("max abs err") == len(failing)
    assert all(f"{name} " in brief or f"{name}:" in brief for name in failing)
    assert "verdict: FAIL" in brief and "diagnosis (most likely first):" in brief
    assert main([f"{WRONG}:LastExampleOnly"]) == 1
    full = capsys.readouterr().out
    assert full.count("max abs err") == len(data["cases"])


def test_brief_on_a_passing_implementation_prints_the_verdict_without_tables(capsys):
    assert main(["manual:MLP", "--brief"]) == 0
    out, err = capsys.readouterr()
    assert "max abs err" not in out and f"verdict: PASS — all {N_CASES} cases" in out and err == ""


def test_a_broken_contract_is_one_line_on_stderr_naming_the_spec_and_exit_2(capsys):
    assert main([f"{HOSTILE}:LossIsString"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1
    assert err.startswith(f"validate: {HOSTILE}:LossIsString: ") and "the loss must be a real number" in err


@pytest.mark.parametrize("argv, phrase", [
    (["--timeout", "0", "manual:MLP"], "validate: error: argument --timeout: expected a positive number of "
                                       "seconds, got '0'"),
    (["--budget", "nan", "manual:MLP"], "argument --budget: expected a positive number of seconds, got 'nan'"),
    (["--budget", "inf", "manual:MLP"], "got 'inf'"),
    (["--memory", "-5", "manual:MLP"], "argument --memory: expected a whole number of MiB ≥ 256, got '-5'"),
    (["--memory", "100", "manual:MLP"], "validate: error: argument --memory: expected a whole number of MiB ≥ 256, "
                                       "got '100'"),
    (["manual:MLP", "--preset", "no-such-course"], "argument --preset: invalid choice"),
    (["manual:MLP", "--json", "/no/such/folder/report.json"], "--json /no/such/folder/report.json: its folder "
                                                               "does not exist"),
    (["manual:MLP", "--assignment", "/no/such/course.toml"], "validate: error: "),
    ([], "the following arguments are required: spec"),
])
def test_usage_errors_are_one_line_and_exit_2(argv, phrase, capsys):
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and err.startswith("validate: error: ") and phrase in err, err


def test_ctrl_c_during_a_run_is_exit_130_and_one_line(monkeypatch, capsys):
    from compare import cli
    from compare.grader.judging import battery

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_startup_handler", None)  # pytest, not the command: return instead of leaving
    monkeypatch.setattr(battery, "run", interrupted)
    assert main([f"{STUDENT}:StudentMLP"]) == 130
    assert capsys.readouterr() == ("", "validate: interrupted\n")


def test_the_dying_line_of_a_process_is_what_the_student_reads(tmp_path):
    """A submission that floods stderr and then dies: the error ends with its last words, not its first."""
    (tmp_path / "noisy.py").write_text(
        "import os, sys\n"
        "from student import StudentMLP\n"
        "class Noisy(StudentMLP):\n"
        "    def loss_and_grads(self, X, y, lambdas):\n"
        "        for i in range(20000):\n"
        "            sys.stderr.write(f'epoch {i}: still training\\n')\n"
        "        sys.stderr.write('Fatal Python error: out of patience\\n')\n"
        "        sys.stderr.flush()\n"
        "        os._exit(7)\n")
    (tmp_path / "student.py").write_text(Path(STUDENT).read_text())
    report = validate(f"{tmp_path / 'noisy.py'}:Noisy", timeout=10, budget=20)
    assert report.exit_code == 2 and report.error_kind == "died", report.error
    assert report.error.endswith("(exit code 7): Fatal Python error: out of patience"), report.error
    assert "epoch 0:" not in report.error


def test_a_report_that_cannot_be_written_is_refused_before_anything_runs(tmp_path, capsys):
    taken = tmp_path / "report.json"
    taken.mkdir()  # a folder where the report file should go
    assert main([f"{HOSTILE}:NOT_A_FACTORY", "--json", str(taken)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err == f"validate: error: --json {taken}: is a folder\n"  # no verdict: nothing ran
    assert list(tmp_path.iterdir()) == [taken] and list(taken.iterdir()) == []  # no temporary file left behind


def test_the_current_folder_leaves_the_path_unless_it_is_the_project(tmp_path, monkeypatch):
    """A student's folder as the current one: its ``reference.py`` must never shadow the project's."""
    from compare.grader.validation import own_modules_first

    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(sys, "path", ["", str(ROOT), str(tmp_path)])
    own_modules_first()
    assert sys.path == ["", str(ROOT), str(tmp_path)]  # the project's own checkout: nothing to shadow
    for folder in (tmp_path, ROOT / "compare", ROOT / "compare" / "grader"):
        monkeypatch.chdir(folder)
        monkeypatch.setattr(sys, "path", ["", ".", str(folder), str(ROOT)])
        own_modules_first()
        assert sys.path == [str(ROOT)], folder


# ----------------------------------------------------------------------------- where a factory runs
def test_a_factory_importable_by_name_runs_isolated_under_its_file_and_name(impls_on_path):
    from compare.grader.workers.runner import InProcessRunner

    report = validate(impls_on_path("student").StudentMLP)
    assert (report.exit_code, report.target) == (0, f"{STUDENT}:StudentMLP")
    assert report.isolation and report.isolation != InProcessRunner.level


class _CalledFactory:
    """A callable object: no __qualname__ of its own, so no name to import it by."""

    def __call__(self, sizes, activation):
        return MLP(sizes, activation)


@pytest.mark.parametrize("where", ["no module", "no name", "__main__", "another object", "a module without a file"])
def test_a_factory_no_fresh_interpreter_can_import_by_name_is_trusted_code_run_here(where, monkeypatch):
    """Only a factory that ``file.py:name`` gives back in a fresh interpreter runs in a worker: any
    other (a script's own, one renamed, one of a module built in memory) runs here, as trusted code."""
    import types

    from compare.grader.workers.runner import InProcessRunner

    def make(sizes, activation):
        return MLP(sizes, activation)

    factory, name = make, "make_mlp_here"
    make.__qualname__ = make.__name__ = name
    if where == "no module":
        monkeypatch.setattr(make, "__module__", None)
    elif where == "no name":
        factory = _CalledFactory()
        name = repr(factory)
    elif where == "__main__":  # a script's own factory: importing the script by its file would run it again
        make.__module__ = "__main__"
        monkeypatch.setattr(sys.modules["__main__"], name, make, raising=False)
    elif where == "another object":  # manual.MLP by name, but not that object: it must not be run in its place
        make.__module__, make.__qualname__ = "manual", "MLP"
        name = "MLP"
    else:
        module = types.ModuleType("factories_in_memory")
        module.make_mlp_here = make
        monkeypatch.setitem(sys.modules, "factories_in_memory", module)
        make.__module__ = "factories_in_memory"
    report = validate(factory)
    assert report.exit_code == 0 and report.isolation == InProcessRunner.level, (report.error, report.isolation)
    assert report.target == name


@pytest.mark.parametrize("defines, named", [
    ("make_mlp = StudentMLP\nfactory = None\n", "make_mlp"),  # the assignment's name first
    ("from student import StudentMLP as factory\n", "factory"),  # only its alias: said in every message
    ("globals()['make_mlp'] = StudentMLP\n", "make_mlp"),  # not seen by reading it: tried in turn by the worker
])
def test_a_bare_path_is_graded_by_the_name_it_defines(tmp_path, defines, named):
    (tmp_path / "student.py").write_text(Path(STUDENT).read_text())  # beside it: its own folder comes with it
    (tmp_path / "mine.py").write_text("from student import StudentMLP\n" + defines)
    report = validate(str(tmp_path / "mine.py"))
    assert (report.exit_code, report.target) == (0, f"{tmp_path / 'mine.py'}:{named}"), report.error


def test_a_factory_defined_at_run_time_only_under_the_alias_is_found_by_the_worker(tmp_path):
    (tmp_path / "student.py").write_text(Path(STUDENT).read_text())
    (tmp_path / "mine.py").write_text("from student import StudentMLP\nglobals()['factory'] = StudentMLP\n")
    report = validate(str(tmp_path / "mine.py"))
    assert report.exit_code == 0 and report.target.startswith(f"{tmp_path / 'mine.py'}:"), report.error


def test_a_student_of_a_class_is_judged_as_found_in_the_folder(tmp_path):
    """What ``backprop-grade`` found (a file of the class folder, the alias it defines) is what runs,
    under the name the folder gave it."""
    from compare.grader.classrun import grade_student
    from compare.grader.course.assignment import preset
    from compare.grader.options import grading_options
    from compare.grader.submissions import classfolder

    homework = preset("homework")
    (tmp_path / "amy.py").write_text(Path(STUDENT).read_text().replace("def make_mlp(", "def factory("))
    (student,) = classfolder.scan(tmp_path).students
    report = grade_student(student, homework, grading_options(homework))
    assert (report.exit_code, report.target) == (0, "amy.py:factory"), report.error
    assert report.isolation and report.score.score == report.score.max_score


def test_a_notebook_given_by_its_path_is_graded_by_the_alias_it_defines(tmp_path):
    """Its factory is bound under the assignment's alias, and a cell that tried the other name does
    not parse: the alias is graded all the same, the broken cell left out."""
    source = Path(STUDENT).read_text().replace("def make_mlp(", "def _unused(")
    cells = [source, "factory = StudentMLP\n", "make_mlp = lambda sizes, activation: StudentMLP(sizes activation)\n",
             "net = factory((4, 5, 3), 'relu')\nnet.train_for_hours()\n"]
    document = {"nbformat": 4, "nbformat_minor": 5, "metadata": {},
                "cells": [{"cell_type": "code", "metadata": {}, "source": cell, "outputs": [], "execution_count": None}
                          for cell in cells]}
    (tmp_path / "hw.ipynb").write_text(json.dumps(document))
    report = validate(str(tmp_path / "hw.ipynb"))
    assert (report.exit_code, report.target) == (0, f"{tmp_path / 'hw.ipynb'}:factory"), report.error


def test_a_students_factory_bound_only_at_run_time_is_tried_under_each_name(tmp_path):
    """The class folder could not see which name the file binds: the worker tries the assignment's
    names in turn, so the alias it binds when it runs is found."""
    from compare.grader.classrun import grade_student
    from compare.grader.course.assignment import preset
    from compare.grader.options import grading_options
    from compare.grader.submissions import classfolder

    homework = preset("homework")
    source = Path(STUDENT).read_text().replace("def make_mlp(", "def _unused(")
    (tmp_path / "amy.py").write_text(source + "\nglobals()['factory'] = StudentMLP\n")
    (student,) = classfolder.scan(tmp_path).students
    report = grade_student(student, homework, grading_options(homework))
    assert report.exit_code == 0, report.error


def test_no_reference_thread_outlives_a_validation(monkeypatch):
    """The references are computed in a thread while the worker starts; validate waits for it to
    stop before returning, also when the submission errors out at once (a thread still inside
    torch when the interpreter exits aborts it: 'terminate called without an active exception')."""
    import threading

    from compare.grader.judging import battery

    started = threading.Event()
    real_prepare = battery.prepare

    def slow_prepare(assignment, seed=0, stop=None):
        started.set()
        stop.wait(5)  # still busy when the battery ends
        time.sleep(0.2)
        real_prepare(assignment, seed, stop)

    monkeypatch.setattr(battery, "prepare", slow_prepare)
    report = validate("tests/student_impls/hostile.py:MutatesX")
    assert started.is_set() and report.exit_code == 2
    assert not [t for t in threading.enumerate() if t.name == "references"]
