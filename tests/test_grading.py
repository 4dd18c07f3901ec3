"""Grading real submissions: the course's conventions, notebooks, folders, a whole class at once.

The submissions are written here from one template (``student``): a plain NumPy MLP whose
conventions (weights (in, out), column biases, X as columns, one-hot labels, a summed loss,
one L2 ``reg``, the factory's call) and whose one bug are chosen per test. Correct code under
the matching assignment must pass; the same code under another assignment must get exit 1 and
a verdict that names the convention (the math is right), never a false bug.
"""

from __future__ import annotations

import csv
import json
import re
import textwrap
from dataclasses import replace
from pathlib import Path

import nbformat
import numpy as np
import pytest

from compare import grade as G
from compare.grader.course import conventions as V
from compare.grader.course.assignment import PRESETS, Assignment, AssignmentError, load_assignment, preset
from compare.grader.results.report import format_report
from compare.validate import main, validate

TEMPLATE = '''
import numpy as np

WEIGHTS, BIASES, INPUTS, LABELS = {weights!r}, {biases!r}, {inputs!r}, {labels!r}
REDUCTION, PENALTY, L2_FACTOR, BUG = {reduction!r}, {penalty!r}, {l2_factor!r}, {bug!r}


def act(name, a):
    if name == "relu":
        return np.maximum(a, 0), (a > 0).astype(float)
    if name == "tanh":
        t = np.tanh(a)
        return t, 1 - t ** 2
    if name == "sigmoid":
        s = 1 / (1 + np.exp(-a))
        return s, s * (1 - s)
    sp = np.where(a > 20, a, np.log1p(np.exp(np.minimum(a, 20))))
    return sp, np.where(a > 20, 1.0, 1 / (1 + np.exp(-a)))


class Net:
    def __init__(self, sizes, activation="relu"):
        if activation not in ("relu", "tanh", "sigmoid", "softplus"):
            raise ValueError(activation)
        self.sizes, self.activation = tuple(sizes), activation
        rng = np.random.default_rng(1)
        self.params = {{}}
        for l in range(1, len(sizes)):
            W = rng.uniform(-1, 1, (sizes[l], sizes[l - 1]))
            self.params[f"W{{l}}"] = W.T.copy() if WEIGHTS == "in_out" else W
            b = np.zeros(sizes[l])
            self.params[f"b{{l}}"] = {{"vector": b, "column": b[:, None], "row": b[None, :]}}[BIASES].copy()

    def W(self, l):
        W = self.params[f"W{{l}}"]
        return W.T if WEIGHTS == "in_out" else W

    def {method}(self, X, y, *penalty):
        if INPUTS == "columns":
            X, y = X.T, (y.T if LABELS == "one_hot" else y)
        if LABELS == "one_hot":
            y = y.argmax(axis=1)
        L, K = len(self.sizes) - 1, X.shape[0]
        if PENALTY == "elastic_net":
            lambdas = list(penalty[0])
        elif PENALTY == "l2":
            lambdas = [0.0, penalty[0] * L2_FACTOR] * L
        else:
            lambdas = [0.0, 0.0] * L
        hs, ders = [X], []
        for l in range(1, L):
            h, d = act(self.activation, hs[-1] @ self.W(l).T + self.params[f"b{{l}}"].reshape(-1))
            hs.append(h)
            ders.append(d)
        o = hs[-1] @ self.W(L).T + self.params[f"b{{L}}"].reshape(-1)
        shift = o.max() if BUG == "batch_max" else o.max(axis=1, keepdims=True)
        p = np.exp(o - shift)
        p /= p.sum(axis=1, keepdims=True)
        if BUG == "log_eps":
            nll = -np.log(p[np.arange(K), y] + 1e-9)
        else:
            nll = -(o - shift - np.log(np.exp(o - shift).sum(axis=1, keepdims=True)))[np.arange(K), y]
        divisor = {{"mean": K, "sum": 1}}[REDUCTION] if BUG != "fixed_divisor" else 100
        loss = nll.sum() / divisor
        delta = p.copy()
        delta[np.arange(K), y] -= 1
        delta /= divisor
        grads = {{}}
        for l in range(L, 0, -1):
            W = self.W(l)
            l1, l2 = lambdas[2 * l - 2], lambdas[2 * l - 1]
            loss += l1 * np.abs(W).sum() + l2 * (W ** 2).sum()
            g = delta.T @ hs[l - 1]
            if BUG != "penalty_in_update":
                g = g + l1 * np.sign(W) + 2 * l2 * W
            grads[f"W{{l}}"] = g.T if WEIGHTS == "in_out" else g
            grads[f"b{{l}}"] = delta.sum(axis=0).reshape(self.params[f"b{{l}}"].shape)
            if l > 1:
                delta = (delta @ W) * ders[l - 2]
        return loss, grads

{factory}
'''

FACTORIES = {
    "sizes_activation": "def {name}(sizes, activation):\n    return Net(sizes, activation)\n",
    "sizes": "def {name}(sizes):\n    return Net(sizes, 'tanh')\n",  # a tanh-only course
    "dims": "class {name}(Net):\n    def __init__(self, *dims):\n        super().__init__(dims)\n",
}


def student(*, weights="out_in", biases="vector", inputs="rows", labels="int", reduction="mean",
            penalty="elastic_net", l2_factor=1.0, call="sizes_activation", method="loss_and_grads",
            name="factory", bug=None) -> str:
    """The source of one submission with these conventions (and this bug)."""
    factory = FACTORIES[call].format(name=name)
    return TEMPLATE.format(weights=weights, biases=biases, inputs=inputs, labels=labels, reduction=reduction,
                           penalty=penalty, l2_factor=l2_factor, bug=bug, method=method, factory=factory)


def write(folder: Path, filename: str, source: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / filename
    path.write_text(source)
    return path


CONVENTIONS = {  # a correct submission to each of these conventions passes under the matching assignment
    "homework": {},
    "in_out_column": {"weights": "in_out", "biases": "column"},
    "row_biases": {"biases": "row"},
    "columns_one_hot": {"inputs": "columns", "labels": "one_hot"},
    "one_hot_rows": {"labels": "one_hot"},
    "sum": {"reduction": "sum"},
    "l2_half": {"penalty": "l2", "l2_factor": 0.5},
    "no_penalty_sizes_call": {"penalty": "none", "call": "sizes", "activations": ["tanh"]},
    "dims_call": {"call": "dims", "method": "forward_backward"},
}


def _assignment(conv: dict) -> Assignment:
    return Assignment(name="course", **conv)


def _student_kwargs(conv: dict) -> dict:
    return {k: v for k, v in conv.items() if k != "activations"}


# ----------------------------------------------------------------------------- assignments
def test_assignment_file_keys_and_errors(tmp_path):
    path = write(tmp_path, "course.toml", textwrap.dedent('''
        factory = "make_net"
        call = "dims"
        method = "loss"
        weights = "in_out"
        biases = "column"
        inputs = "columns"
        labels = "one_hot"
        reduction = "sum"
        penalty = "l2"
        l2_factor = 0.5
        activations = ["tanh", "relu"]
    '''))
    a = load_assignment(path)
    assert (a.name, a.factory, a.call, a.method, a.weights, a.biases, a.inputs, a.labels, a.reduction,
            a.penalty, a.l2_factor, a.activations) == ("course", "make_net", "dims", "loss", "in_out", "column",
                                                       "columns", "one_hot", "sum", "l2", 0.5, ("tanh", "relu"))
    assert a.tried_activations == ("tanh",)  # factory(d, h, m) cannot be told its activation
    assert Assignment().tried_activations == ("relu", "tanh", "sigmoid", "softplus")
    for text, words in (('weights = "rows"', "weights = 'rows' is not one of 'out_in', 'in_out'"),
                        ('reduce = "sum"', "unknown key 'reduce'"),
                        ("l2_factor = -1", "l2_factor = -1"),
                        ('activations = ["gelu"]', "activations = ['gelu']"),
                        ("factory = 3", "factory = 3 is not a Python name"),
                        ("weights = [", "is not valid TOML")):
        with pytest.raises(AssignmentError, match=words.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
            load_assignment(write(tmp_path, "bad.toml", text))
    with pytest.raises(AssignmentError, match="no preset named 'pytorch'"):
        preset("pytorch")
    assert PRESETS["homework"] == Assignment()
    cs = PRESETS["cs231n"]
    assert (cs.factory, cs.call, cs.method, cs.weights, cs.penalty, cs.l2_factor) == (
        "TwoLayerNet", "dims", "loss", "in_out", "l2", 1.0)


def test_layouts_round_trip_exactly():
    rng = np.random.default_rng(3)
    params = {"W1": rng.standard_normal((4, 5)), "b1": rng.standard_normal(4),
              "W2": rng.standard_normal((3, 4)), "b2": rng.standard_normal(3)}
    for weights in ("out_in", "in_out"):
        for biases in ("vector", "column", "row"):
            a = Assignment(weights=weights, biases=biases)
            theirs = V.to_student(a, params)
            assert theirs["W1"].shape == ((5, 4) if weights == "in_out" else (4, 5))
            assert theirs["b1"].shape == {"vector": (4,), "column": (4, 1), "row": (1, 4)}[biases]
            for name, value in params.items():
                assert np.array_equal(V.from_student(a, name, theirs[name], value.shape), value)
    with pytest.raises(ValueError, match=r"shape \(4, 1\), expected \(4,\)"):
        V.from_student(Assignment(), "b1", np.zeros((4, 1)), (4,))


def test_summed_answers_read_back_as_means():
    """loss_sum = K·mean_NLL + P reads back as mean_NLL + P, exactly, gradients likewise."""
    from compare.grader.course import cases as C
    from compare.grader.judging.battery import reference

    case = C.regularised("relu")
    ref_loss, ref_grads = reference(case)
    pen_loss, pen_grads = V.penalty_parts(case)
    K = case.K
    summed = {n: K * (g - pen_grads.get(n, 0)) + pen_grads.get(n, 0) for n, g in ref_grads.items()}
    loss, grads = V.read_back(Assignment(reduction="sum"), case, K * (ref_loss - pen_loss) + pen_loss, summed)
    assert abs(loss - ref_loss) <= 1e-12 * abs(ref_loss)
    for name in ref_grads:
        np.testing.assert_allclose(grads[name], ref_grads[name], rtol=1e-12, atol=1e-15)


# ----------------------------------------------------------------------------- the factory's name
@pytest.mark.parametrize("name", ["make_mlp", "factory"])
def test_the_readmes_name_and_the_old_one_grade_with_no_option(tmp_path, name, capsys):
    path = write(tmp_path, "alice.py", student(name=name))
    assert main([str(path), "--brief"]) == 0
    assert f"validating {path}:{name} (homework" in capsys.readouterr().out  # the name it defines, said


def test_a_factory_named_otherwise_is_named_in_the_error_and_graded_with_factory(tmp_path, capsys):
    path = write(tmp_path, "alice.py", student(name="build_net"))
    assert main([str(path)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"validate: {path}: no 'make_mlp' (nor 'factory') in alice.py; it defines build_net(sizes, activation): "
        "grade it with --factory build_net")
    assert main([str(path), "--factory", "build_net", "--brief"]) == 0
    assert f"validating {path}:build_net (homework (the homework preset with factory='build_net'))" in capsys.readouterr().out


def test_a_class_with_the_method_is_a_plausible_factory_too(tmp_path):
    path = write(tmp_path, "alice.py", student(name="build_net").replace("def build_net", "def _build_net"))
    report = validate(str(path))
    assert report.error == "no 'make_mlp' (nor 'factory') in alice.py; it defines Net(sizes, activation): " \
                           "grade it with --factory Net"
    assert report.error_kind == "load"


def test_a_name_bound_at_run_time_is_still_found(tmp_path):
    """Reading the file finds no accepted name: the worker looks each one up in turn."""
    path = write(tmp_path, "alice.py", student(name="build_net") + '\nglobals()["fac" + "tory"] = build_net\n')
    report = validate(str(path))
    assert report.exit_code == 0, report.error


def test_a_course_that_names_its_factory_accepts_that_name_only(tmp_path):
    assert Assignment().factory_names == ("make_mlp", "factory")
    named = load_assignment(write(tmp_path, "course.toml", 'factory = "make_net"\n'))
    assert named.factory_names == ("make_net",)
    both = load_assignment(write(tmp_path, "both.toml", 'factory = "make_net"\nfactory_aliases = ["net"]\n'))
    assert both.factory_names == ("make_net", "net")
    assert Assignment().with_factory("Net").factory_names == ("Net",)
    assert preset("cs231n").factory_names == ("TwoLayerNet",)
    with pytest.raises(AssignmentError, match="factory_aliases = 'net' must be a list of Python names"):
        Assignment(factory_aliases="net")
    path = write(tmp_path, "alice.py", student(name="factory"))
    assert "no 'make_net' in alice.py" in validate(str(path), assignment=named).error


# ----------------------------------------------------------------------------- conventions, each way
@pytest.mark.parametrize("label", sorted(CONVENTIONS))
def test_correct_code_passes_under_its_own_conventions(tmp_path, label):
    conv = CONVENTIONS[label]
    a = _assignment(conv)
    path = write(tmp_path, "sub.py", student(**_student_kwargs(conv)))
    report = validate(str(path), assignment=a, timeout=5, budget=30)
    assert report.exit_code == 0, report.error or report.verdict + str([f.message for f in report.diagnosis])
    assert not report.conventions


@pytest.mark.parametrize("label, words", [
    ("in_out_column", "it stores W1 as (in, out) (5, 4) where the assignment asks (out, in) (4, 5); "
                      "it stores b1 as a column (4, 1) where the assignment asks a vector (4,)"),
    ("row_biases", "it stores b1 as a row (1, 4) where the assignment asks a vector (4,)"),
    ("columns_one_hot", "it takes X as (d, K) columns (5, 8) where the assignment gives (K, d) rows (8, 5); "
                        "it takes y as one-hot labels (3, 8) where the assignment gives integer labels (8,)"),
    ("one_hot_rows", "it takes y as one-hot labels (8, 3) where the assignment gives integer labels (8,)"),
    ("sum", "it returns the sum over the batch where the assignment asks the mean"),
])
def test_right_math_other_conventions_is_said_exactly(tmp_path, label, words):
    """Under the homework's contract, code written to another convention is told that convention
    (exit 1), with no false bug first."""
    path = write(tmp_path, "sub.py", student(**_student_kwargs(CONVENTIONS[label])))
    report = validate(f"{path}:factory", timeout=5, budget=30)
    assert report.exit_code == 1, report.error
    assert report.verdict.startswith("FAIL — the backprop is right"), report.verdict
    assert words in report.verdict, report.verdict


def test_the_factory_call_style_is_found(tmp_path):
    path = write(tmp_path, "sub.py", student(call="dims", name="Net2"))
    report = validate(f"{path}:Net2", timeout=5, budget=30)
    assert report.exit_code == 1 and report.verdict.startswith("FAIL — the backprop is right")
    assert "its factory is called as Net2(5, 4, 3) where the assignment calls Net2((5, 4, 3), 'relu')" in report.verdict


def test_cs231n_preset(tmp_path, capsys):
    path = write(tmp_path, "two_layer_net.py", student(weights="in_out", penalty="l2", call="dims", method="loss",
                                                       name="TwoLayerNet"))
    assert main([str(path), "--preset", "cs231n"]) == 0
    out = capsys.readouterr().out
    assert "verdict: PASS" in out and "cs231n" in out


def test_a_preset_is_extended_by_the_keys_a_file_gives(tmp_path, capsys):
    """The 2016 starter's 0.5·reg·‖W‖²: the preset plus one key, in the file or beside --preset."""
    half = write(tmp_path, "half.py", student(weights="in_out", penalty="l2", l2_factor=0.5, call="dims",
                                              method="loss", name="TwoLayerNet"))
    assert validate(str(half), assignment=preset("cs231n")).exit_code == 1
    extends = write(tmp_path, "course.toml", 'extends = "cs231n"\nl2_factor = 0.5\n')
    a = load_assignment(extends)
    assert a == Assignment(**{**PRESETS["cs231n"].to_dict(), "name": "course", "l2_factor": 0.5, "extends": "cs231n"})
    assert a.describe() == "course (the cs231n preset with l2_factor=0.5)"
    assert main([str(half), "--assignment", str(extends), "--brief"]) == 0
    assert "validating " + f"{half}:TwoLayerNet (course (the cs231n preset with l2_factor=0.5))" in capsys.readouterr().out
    only_key = write(tmp_path, "half.toml", "l2_factor = 0.5\n")
    assert load_assignment(only_key, base=preset("cs231n")) == replace(a, name="half")
    assert main([str(half), "--preset", "cs231n", "--assignment", str(only_key)]) == 0
    capsys.readouterr()
    assert main([str(half), "--preset", "homework", "--assignment", str(extends)]) == 2
    assert capsys.readouterr().err.strip() == (f"validate: error: {extends} extends 'cs231n', but the preset "
                                               "'homework' was also given")
    with pytest.raises(AssignmentError, match=r"extends = 'pytorch' is not a preset \(presets: homework, cs231n"):
        load_assignment(write(tmp_path, "bad.toml", 'extends = "pytorch"\n'))


FC_NET = Path(__file__).resolve().parent / "student_impls" / "fc_net.py"


def test_cs231n_assignment_2_presets(capsys):
    """TwoLayerNet(input_dim=..., hidden_dim=..., num_classes=..., reg=...): reg given to the constructor,
    loss(X, y) with 0.5·reg·Σ‖W‖²; FullyConnectedNet(hidden_dims, ..., dtype) at any depth."""
    assert main([str(FC_NET), "--preset", "cs231n-a2"]) == 0
    out = capsys.readouterr().out
    assert "validating " + f"{FC_NET}:TwoLayerNet (cs231n-a2 (the cs231n-a2 preset))" in out
    assert "skipped: two hidden layers (sizes of length 4): the assignment's TwoLayerNet takes one hidden size" in out
    assert "relu/regularised" in out and "verdict: PASS" in out
    report = validate(str(FC_NET), assignment=preset("cs231n-a2-fc"))
    assert report.exit_code == 0, report.error or report.verdict
    assert "relu/two-hidden" in {c.case.name for c in report.cases} and not report.skipped


def test_a_constructor_reg_reaches_the_network(tmp_path):
    """A TwoLayerNet that ignores the reg it is given fails the regularised cases, and only those."""
    source = FC_NET.read_text().replace("        self.reg = reg\n        self.params = {", "        self.reg = 0.0\n"
                                        "        self.params = {", 1)
    report = validate(str(write(tmp_path, "fc_net.py", source)), assignment=preset("cs231n-a2"))
    assert report.exit_code == 1
    assert {c.case.name for c in report.failed_cases} == {"relu/regularised", "relu/mnist-width"}


def test_the_assignment_1_api_under_the_assignment_2_preset_says_which_argument(tmp_path):
    path = write(tmp_path, "two_layer_net.py", student(weights="in_out", penalty="l2", call="dims", method="loss",
                                                       name="TwoLayerNet"))
    report = validate(str(path), assignment=preset("cs231n-a2"))
    assert report.exit_code == 2
    assert report.error.startswith("TwoLayerNet(input_dim=5, hidden_dim=4, num_classes=3, reg=0.013) raised "
                                   "TypeError: ")
    assert "unexpected keyword argument 'input_dim'" in report.error


def test_the_2016_starter_has_its_own_preset(tmp_path):
    path = write(tmp_path, "half.py", student(weights="in_out", penalty="l2", l2_factor=0.5, call="dims",
                                              method="loss", name="TwoLayerNet"))
    assert validate(str(path), assignment=preset("cs231n-2016")).exit_code == 0


def test_keywords_calls_are_checked(tmp_path):
    for text, words in (('call = "keywords"', "call = 'keywords' needs a keywords table"),
                        ('call = "keywords"\nkeywords = {n_in = "inputs"}', "keywords: n_in = 'inputs' is not one of"),
                        ('call = "keywords"\nkeywords = {n_in = "d"}\npenalty = "l2"\npenalty_in = "constructor"',
                         "penalty_in = 'constructor' needs penalty = 'l2' and a keywords argument"),
                        ('call = "keywords"\nkeywords = {n_in = "d", reg = "reg"}\npenalty = "l2"',
                         "set penalty_in = 'constructor'"),
                        ('constants = {dtype = "float64"}', "needs call = 'keywords'"),
                        ('call = "keywords"\nkeywords = {n_in = "d"}\nconstants = {shape = [1, 2]}',
                         "must be a number, a string or a boolean")):
        with pytest.raises(AssignmentError, match=re.escape(words)):
            load_assignment(write(tmp_path, "bad.toml", text))
    a = load_assignment(write(tmp_path, "course.toml", 'call = "keywords"\nkeywords = {layer_sizes = "sizes", '
                                                       'nonlinearity = "activation"}\nconstants = {seed = 0}\n'))
    assert V.factory_call(a, "Net", (5, 4, 3), "tanh") == (
        [{"**": {"layer_sizes": [5, 4, 3], "nonlinearity": "tanh", "seed": 0}}],
        "Net(layer_sizes=[5, 4, 3], nonlinearity='tanh', seed=0)")
    assert a.tried_activations == ("relu", "tanh", "sigmoid", "softplus")  # it is told its activation
    assert a.to_dict()["keywords"] == {"layer_sizes": "sizes", "nonlinearity": "activation"}


@pytest.mark.parametrize("bug, words", [
    ("penalty_in_update", "its gradients leave out the penalty"),
    ("batch_max", "one max over the whole batch"),
    ("fixed_divisor", "100"),
])
def test_real_bugs_get_their_own_words_first(tmp_path, bug, words):
    path = write(tmp_path, "sub.py", student(bug=bug))
    report = validate(f"{path}:factory", timeout=5, budget=30)
    assert report.exit_code == 1, report.error
    first = report.conventions[0] if report.conventions else report.diagnosis[0].message
    assert words in first, (report.verdict, [f.message for f in report.diagnosis])


# ----------------------------------------------------------------------------- harmless differences
ROW_BIAS_GRADS = ('grads[f"b{l}"] = delta.sum(axis=0).reshape(self.params[f"b{l}"].shape)',
                  'grads[f"b{l}"] = delta.sum(axis=0, keepdims=True)')  # (1, h) for an (h,) bias


def test_a_row_bias_gradient_is_a_convention_or_accepted(tmp_path):
    path = write(tmp_path, "sub.py", student(name="make_mlp").replace(*ROW_BIAS_GRADS))
    report = validate(str(path))
    assert report.exit_code == 1, report.error  # no longer an error that hides everything else
    assert report.verdict == ("FAIL — the backprop is right (all 37 cases agree once read in its own conventions), "
                              "but grads['b1'] has shape (1, 2) where params['b1'] is (2,); grads['b2'] has shape "
                              "(1, 2) where params['b2'] is (2,) — a convention, not a bug (the same entries, "
                              "another shape)")
    assert not report.diagnosis
    accepted = validate(str(path), assignment=Assignment(gradient_shapes="broadcast"))
    assert accepted.exit_code == 0 and accepted.verdict.startswith("PASS — all 37 cases agree")
    assert accepted.accepted == ["grads['b1'] has shape (1, 2) where params['b1'] is (2,); grads['b2'] has shape "
                                 "(1, 2) where params['b2'] is (2,) (the assignment accepts it: gradient_shapes = "
                                 '"broadcast")']
    data = report.to_dict()
    assert data["exit_code"] == 1 and data["conventions"] == report.conventions and data["accepted"] == []
    assert accepted.to_dict()["accepted"] == accepted.accepted


def test_a_convention_does_not_hide_a_real_bug(tmp_path):
    path = write(tmp_path, "sub.py", student(name="make_mlp", bug="batch_max").replace(*ROW_BIAS_GRADS))
    report = validate(str(path))
    assert report.exit_code == 1, report.error
    assert report.verdict.startswith("FAIL — 4 of 37 cases disagree with the torch reference (float64, rtol 1e-10); "
                                     "besides, grads['b1'] has shape (1, 2)"), report.verdict
    assert "one max over the whole batch" in report.diagnosis[0].message
    assert report.summary.startswith(report.diagnosis[0].message + "; besides, grads['b1'] has shape (1, 2)")


def test_the_cs231n_preset_accepts_row_bias_gradients_as_its_notebook_does(tmp_path):
    path = write(tmp_path, "net.py", student(weights="in_out", penalty="l2", call="dims", method="loss",
                                             name="TwoLayerNet").replace(*ROW_BIAS_GRADS))
    report = validate(str(path), assignment=preset("cs231n"))
    assert report.exit_code == 0, report.error or report.verdict
    assert "grads['b1'] has shape (1, 2) where params['b1'] is (2,)" in report.accepted[0]


@pytest.mark.parametrize("log_epsilon, exit_code", [(0.0, 1), (1e-10, 1), (1e-9, 0), (1e-7, 0)])
def test_an_epsilon_inside_the_log_up_to_the_courses_bound(tmp_path, log_epsilon, exit_code):
    """ε = 1e-9 made every case fail; now it is one convention (exit 1), or accepted up to the bound."""
    path = write(tmp_path, "sub.py", student(bug="log_eps"))
    report = validate(f"{path}:factory", assignment=Assignment(log_epsilon=log_epsilon))
    assert report.exit_code == exit_code, report.verdict
    words = "its loss has an ε inside the log, −log(p_y + ε) with ε ≈ 1e-09, where the assignment asks −log p_y"
    assert not report.diagnosis and len(report.cases) == 37
    if exit_code:
        assert report.verdict.startswith("FAIL — the backprop is right") and words + " — a convention, not a bug" \
            in report.verdict
    else:
        assert report.accepted == [f"{words} (the assignment accepts it: log_epsilon = {log_epsilon:g})"]


def test_relu_derivative_one_at_zero_is_a_convention_or_accepted():
    wrong = str(Path(__file__).resolve().parent / "student_impls" / "wrong.py") + ":ReluGradAtZero"
    report = validate(wrong)
    assert report.exit_code == 1 and not report.diagnosis
    assert [c.case.name for c in report.failed_cases] == ["relu/zero-preactivation"]
    (case,) = [c for c in report.to_dict()["cases"] if not c["passed"]]
    assert case["harmless"].startswith("its ReLU derivative at 0 is 1") and case["accepted"] is False
    assert report.conventions == ["its ReLU derivative at 0 is 1 (the mask h^a >= 0) where the assignment takes "
                                  "rect'(0) = 0 (the mask h^a > 0) — a convention, not a bug"]
    assert "a convention, not a bug: its ReLU derivative at 0 is 1" in format_report(report)
    accepted = validate(wrong, assignment=Assignment(relu_grad_at_zero=[0, 1]))
    assert accepted.exit_code == 0 and "relu_grad_at_zero = [0, 1]" in accepted.accepted[0]


def test_another_l2_factor_is_a_convention_or_accepted(tmp_path):
    path = write(tmp_path, "sub.py", student(penalty="l2", l2_factor=0.5))
    course = Assignment(penalty="l2")
    report = validate(f"{path}:factory", assignment=course)
    assert report.exit_code == 1 and not report.diagnosis
    assert report.conventions == ["its L2 term is 0.5·reg·Σ‖W‖² where the assignment asks reg·Σ‖W‖² — a convention, "
                                  "not a bug"]
    assert validate(f"{path}:factory", assignment=replace(course, accept_l2_factors=[0.5])).exit_code == 0


def test_harmless_keys_are_checked(tmp_path):
    for text, words in (("log_epsilon = -1e-9", "log_epsilon = -1e-09 must be a number from 0"),
                        ("relu_grad_at_zero = [1]", "relu_grad_at_zero = [1] must be [0] or [0, 1]"),
                        ('accept_l2_factors = "half"', "accept_l2_factors = 'half' must be a list"),
                        ('gradient_shapes = "loose"', "gradient_shapes = 'loose' is not one of")):
        with pytest.raises(AssignmentError, match=re.escape(words)):
            load_assignment(write(tmp_path, "bad.toml", text))


# ----------------------------------------------------------------------------- notebooks and folders
def notebook(path: Path, cells: list) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) if not c.startswith("#md ") else nbformat.v4.new_markdown_cell(c[4:])
                for c in cells]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


def test_a_notebook_is_graded_on_its_definitions(tmp_path):
    source = student()
    path = notebook(tmp_path / "hw.ipynb", [
        "#md # Homework 3",
        "import numpy as np\nimport matplotlib.pyplot as plt",
        source,
        "data = np.loadtxt('circles.txt')\nnet = factory((2, 4, 2), 'relu')",
        "for epoch in range(100):\n    net.loss_and_grads(data[:, :2], data[:, 2].astype(int), [0] * 4)",
        "plt.plot([1, 2, 3])\nplt.show()",
    ])
    report = validate(str(path), timeout=5, budget=30)
    assert report.exit_code == 0, report.error
    notes = "\n".join(report.notes)
    assert "only its definitions are graded" in notes and "matplotlib" in notes
    assert "np.loadtxt" in notes and "plt.plot" in notes


def test_a_notebook_error_points_at_its_cell(tmp_path):
    path = notebook(tmp_path / "hw.ipynb", [
        "import numpy as np",
        "def factory(sizes, activation):\n    x = 1\n    raise RuntimeError('not done yet')",
    ])
    report = validate(str(path), timeout=5, budget=30)
    assert report.exit_code == 2 and "not done yet" in report.error
    assert "hw.ipynb cell 2, line 3" in report.error, report.error


def test_not_a_notebook(tmp_path):
    path = write(tmp_path, "hw.ipynb", "{ not json")
    report = validate(str(path), timeout=5, budget=30)
    assert report.exit_code == 2 and "hw.ipynb" in report.error and "not a Jupyter notebook" in report.error


# ----------------------------------------------------------------------------- a whole class
def make_class(folder: Path) -> dict:
    """A small class written to the README's contract (make_mlp): the status each student must get."""
    write(folder, "alice.py", student(name="make_mlp"))
    write(folder, "bob.py", student(weights="in_out", name="make_mlp"))
    write(folder, "carol.py", student(bug="batch_max", name="make_mlp"))
    write(folder, "dan.py", "import numpy as np\nimport sklearn.linear_model\n\n" + student(name="make_mlp"))
    notebook(folder / "erin.ipynb", ["import numpy as np", student(name="make_mlp"), "net = make_mlp((2, 3, 2), 'relu')\nnet"])
    write(folder / "frank", "utils.py", "import numpy as np\nSCALE = 1.0\n")
    write(folder / "frank", "mlp.py", "from utils import SCALE\n" + student(name="make_mlp"))
    write(folder / "gina", "notes.txt", "I did not finish")
    write(folder, "hank.py", student(name="_inner") + "\nimport os\n\n\ndef make_mlp(sizes, activation):\n"
                             "    print(open(os.path.join(os.path.dirname(__file__), 'alice.py')).read())\n"
                             "    return _inner(sizes, activation)\n")
    return {"alice": "pass", "bob": "fail", "carol": "fail", "dan": "pass", "erin": "pass", "frank": "pass",
            "gina": "error", "hank": "error"}


def test_grade_a_class(tmp_path, capsys):
    expected = make_class(tmp_path / "subs")
    out = tmp_path / "grades"
    assert G.main([str(tmp_path / "subs"), "--out", str(out), "--no-progress", "--timeout", "5"]) == 0
    with open(out / "grades.csv", newline="") as fh:
        reader = csv.DictReader(fh)
        assert tuple(reader.fieldnames) == G.CSV_COLUMNS
        rows = {row["student"]: row for row in reader}
    assert {s: r["status"] for s, r in rows.items()} == expected
    assert {s: int(r["exit_code"]) for s, r in rows.items()} == {
        s: {"pass": 0, "fail": 1, "error": 2}[v] for s, v in expected.items()}
    assert "it stores W1 as (in, out)" in rows["bob"]["summary"]
    # An import the sandbox lacks is stubbed (starter code imports what graded code never uses), and said.
    assert "stubbed: sklearn.linear_model (not available to graded code" in (out / "dan.md").read_text()
    assert ("stubbed: sklearn.linear_model (not available to graded code; used only if called)"
            in json.loads((out / "dan.json").read_text())["notes"])
    assert "gina/ holds no .py or .ipynb file" in rows["gina"]["summary"]
    assert "alice.py" in rows["hank"]["summary"]  # a neighbour's file is not in its sandbox
    assert int(rows["alice"]["cases_passed"]) == int(rows["alice"]["cases_total"]) > 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["counts"] == {"pass": 4, "fail": 2, "error": 2, "internal": 0} and summary["n_students"] == 8
    assert (out / "summary.png").stat().st_size > 10_000
    feedback = (out / "bob.md").read_text()
    assert feedback.startswith("# bob: fail") and "the backprop is right" in feedback
    assert json.loads((out / "carol.json").read_text())["exit_code"] == 1


def test_grade_bad_usage(tmp_path, capsys):
    assert G.main([str(tmp_path / "missing")]) == 2
    assert "no such folder" in capsys.readouterr().err
    (tmp_path / "subs").mkdir()
    assert G.main([str(tmp_path / "subs"), "--jobs", "0"]) == 2
    assert G.main([str(tmp_path / "subs"), "--preset", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 2 and "Traceback" not in err


# ----------------------------------------------------------------------------- experiments at import
def test_a_module_that_runs_its_experiment_at_import_is_graded_on_its_definitions(tmp_path):
    source = student() + "\ndata = np.loadtxt('circles.txt')\nnet = factory((2, 4, 2), 'relu')\n"
    report = validate(str(write(tmp_path, "hw.py", source)) + ":factory", timeout=5, budget=30)
    assert report.exit_code == 0, report.error
    notes = "\n".join(report.notes)
    assert "FileNotFoundError: circles.txt not found. (hw.py:" in notes and "graded on its definitions only" in notes
    assert "data = np.loadtxt('circles.txt') — not a definition" in notes


def test_a_module_that_hangs_at_import_is_graded_on_its_definitions(tmp_path):
    source = student() + "\nwhile True:\n    pass\n"
    report = validate(str(write(tmp_path, "hw.py", source)) + ":factory", timeout=5, budget=4)
    assert report.exit_code == 0, report.error
    assert "did not finish in time" in report.notes[0]


def test_definitions_alone_that_do_not_load_keep_the_first_error(tmp_path):
    report = validate(str(write(tmp_path, "hw.py", "import numpy as np\ndata = np.loadtxt('x.txt')\n")) + ":factory",
                      timeout=5, budget=10)
    assert report.exit_code == 2 and "FileNotFoundError: x.txt not found. (hw.py:2:" in report.error


def test_a_cs231n_bug_is_said_with_reg_not_lambdas(tmp_path):
    """reg·W instead of 2·reg·W in the gradient: named with the course's reg, no L1 term invented."""
    source = student(weights="in_out", penalty="l2", call="dims", method="loss", name="TwoLayerNet")
    source = source.replace("g = g + l1 * np.sign(W) + 2 * l2 * W", "g = g + l1 * np.sign(W) + l2 * W")
    report = validate(str(write(tmp_path, "net.py", source)), assignment=preset("cs231n"), timeout=5, budget=30)
    assert report.exit_code == 1
    first = report.diagnosis[0].message
    assert first.startswith("the L2 term is off by a factor 2: reg·W instead of 2·reg·W"), first
    assert "L1" not in first and "λ" not in first


def test_the_in_out_example_passes_under_its_assignment():
    """tests/student_impls/in_out.py (the docs' example): told its layout under the homework, passes under its own."""
    impl = Path(__file__).parent / "student_impls" / "in_out.py"
    report = validate(f"{impl}:make_mlp", timeout=5, budget=30)
    assert report.exit_code == 1 and "it stores b1 as a column (4, 1)" in report.verdict
    course = load_assignment(impl.with_suffix(".toml"))
    report = validate(f"{impl}:make_mlp", assignment=course, timeout=5, budget=30)
    assert report.exit_code == 0 and report.cases and not report.conventions
