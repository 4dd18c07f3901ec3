"""A course's conventions as an instructor writes them: every key's bad value refused by name,
every bound at its value and one past it, and what a TOML file changes of the preset it extends."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from compare.grader.course.assignment import (
    ACTIVATIONS,
    PRESETS,
    Assignment,
    AssignmentError,
    as_assignment,
    load_assignment,
    load_assignment_dict,
    preset,
    with_layout,
)

A2_KEYWORDS = {"input_dim": "d", "hidden_dim": "h", "num_classes": "m", "reg": "reg"}


@pytest.mark.parametrize("changes, said", [
    ({"call": "kwargs"}, "call = 'kwargs' is not one of 'sizes_activation', 'sizes', 'dims', 'keywords'"),
    ({"weights": "in-out"}, "weights = 'in-out' is not one of 'out_in', 'in_out'"),
    ({"biases": "col"}, "biases = 'col' is not one of 'vector', 'column', 'row'"),
    ({"inputs": "cols"}, "inputs = 'cols' is not one of 'rows', 'columns'"),
    ({"labels": "onehot"}, "labels = 'onehot' is not one of 'int', 'one_hot'"),
    ({"reduction": "avg"}, "reduction = 'avg' is not one of 'mean', 'sum'"),
    ({"penalty": "l1"}, "penalty = 'l1' is not one of 'elastic_net', 'l2', 'none'"),
    ({"penalty_in": "init"}, "penalty_in = 'init' is not one of 'method', 'constructor'"),
    ({"gradient_shapes": "any"}, "gradient_shapes = 'any' is not one of 'exact', 'broadcast'"),
    ({"factory": "make-mlp"}, "factory = 'make-mlp' is not a Python name"),
    ({"factory": "Net..make"}, "factory = 'Net..make' is not a Python name"),
    ({"method": 3}, "method = 3 is not a Python name"),
    ({"factory_aliases": "factory"}, "factory_aliases = 'factory' must be a list of Python names"),
    ({"factory_aliases": ["ok", "not ok"]}, "factory_aliases = ['ok', 'not ok'] must be a list of Python names"),
    ({"l2_factor": 0}, "l2_factor = 0 must be a positive number (1.0, or 0.5 for 0.5·reg·‖W‖²)"),
    ({"l2_factor": -0.5}, "l2_factor = -0.5 must be a positive number"),
    ({"l2_factor": float("inf")}, "l2_factor = inf must be a positive number"),
    ({"l2_factor": True}, "l2_factor = True must be a positive number"),
    ({"l2_factor": "1"}, "l2_factor = '1' must be a positive number"),
    ({"activations": []}, "activations = [] must be a non-empty list of distinct names among relu, tanh, sigmoid, softplus"),
    ({"activations": ["relu", "relu"]}, "activations = ['relu', 'relu'] must be a non-empty list of distinct names"),
    ({"activations": ["relu", "gelu"]}, "activations = ['relu', 'gelu'] must be"),
    ({"activations": "relu"}, "activations = 'relu' must be"),
    ({"allow_imports": "scipy"}, "allow_imports = 'scipy' must be a list of module names"),
    ({"allow_imports": ["scipy.linalg"]}, "allow_imports = ['scipy.linalg'] must be a list of module names"),
    ({"allow_imports": [3]}, "allow_imports = [3] must be a list of module names"),
    ({"extends": "cs231n-a3"}, "extends = 'cs231n-a3' is not a preset (presets: homework, cs231n, cs231n-2016, "
                               "cs231n-a2, cs231n-a2-fc)"),
    ({"file": "/home/alice/mlp.py"}, "file = '/home/alice/mlp.py' must be a path inside a student's folder"),
    ({"file": "\\\\server\\mlp.py"}, "must be a path inside a student's folder"),
    ({"file": "cs231n/../../mlp.py"}, "file = 'cs231n/../../mlp.py' must be a path inside"),
    ({"file": ".."}, "file = '..' must be a path inside"),
    ({"file": "  "}, "file = '  ' must be a path inside"),
    ({"file": 3}, "file = 3 must be a path inside"),
    ({"points": {"*": -1}}, "points = {'*': -1} must map case names or globs (\"*/regularised\") to points ≥ 0"),
    ({"points": {"*": True}}, "must map case names or globs"),
    ({"points": {"*": float("inf")}}, "must map case names or globs"),
    ({"points": {"*": "2"}}, "must map case names or globs"),
    ({"points": {" ": 1}}, "must map case names or globs"),
    ({"points": (("*", 1, 2),)}, "must map case names or globs"),
    ({"points": ((3, 1),)}, "must map case names or globs"),
    ({"points": "*=1"}, "must map case names or globs"),
    ({"points": ("ab",)}, "must map case names or globs"),
    ({"total": 0}, "total = 0 must be a positive number"),
    ({"total": -3}, "total = -3 must be a positive number"),
    ({"total": float("inf")}, "total = inf must be a positive number"),
    ({"total": True}, "total = True must be a positive number"),
    ({"total": "10"}, "total = '10' must be a positive number"),
    ({"conventions_cost_points": 1}, "conventions_cost_points = 1 must be true or false"),
    ({"visibility": "public"}, "visibility = 'public' is not one of 'visible', 'hidden', 'after_due_date', "
                               "'after_published'"),
    ({"log_epsilon": 0.0100001}, "log_epsilon = 0.0100001 must be a number from 0 (no ε) to 0.01"),
    ({"log_epsilon": -1e-9}, "log_epsilon = -1e-09 must be a number from 0"),
    ({"log_epsilon": True}, "log_epsilon = True must be a number from 0"),
    ({"log_epsilon": "0"}, "log_epsilon = '0' must be a number from 0"),
    ({"relu_grad_at_zero": [1]}, "relu_grad_at_zero = [1] must be [0] or [0, 1]"),
    ({"relu_grad_at_zero": [0, 2]}, "relu_grad_at_zero = [0, 2] must be [0] or [0, 1]"),
    ({"relu_grad_at_zero": [0, True]}, "relu_grad_at_zero = [0, True] must be [0] or [0, 1]"),
    ({"relu_grad_at_zero": 0}, "relu_grad_at_zero = 0 must be [0] or [0, 1]"),
    ({"accept_l2_factors": [100]}, "accept_l2_factors = [100] must be a list of positive numbers (e.g. [0.5])"),
    ({"accept_l2_factors": [0]}, "accept_l2_factors = [0] must be a list of positive numbers"),
    ({"accept_l2_factors": [True]}, "accept_l2_factors = [True] must be a list"),
    ({"accept_l2_factors": ["0.5"]}, "accept_l2_factors = ['0.5'] must be a list"),
    ({"accept_l2_factors": 0.5}, "accept_l2_factors = 0.5 must be a list"),
    ({"keywords": {"input_dim": "dim"}, "call": "keywords"},
     "keywords: input_dim = 'dim' is not one of 'd', 'h', 'hidden', 'm', 'sizes', 'activation', 'reg'"),
    ({"keywords": {"input dim": "d"}, "call": "keywords"}, "keywords = {'input dim': 'd'} must be a table of "
                                                          "argument names"),
    ({"keywords": 3, "call": "keywords"}, "keywords = 3 must be a table of argument names"),
    ({"keywords": ("abc",), "call": "keywords"}, "keywords = ('abc',) must be a table of argument names"),
    ({"keywords": (3,), "call": "keywords"}, "keywords = (3,) must be a table of argument names"),
    ({"keywords": {"d": "d"}}, "call = 'keywords' needs a keywords table (and a keywords table needs it): "
                               "call = 'sizes_activation', keywords = {'d': 'd'}"),
    ({"call": "keywords"}, "call = 'keywords' needs a keywords table"),
    ({"call": "keywords", "keywords": {"d": "d"}, "constants": {"dtype": None}},
     "constants: dtype = None must be a number, a string or a boolean"),
    ({"call": "keywords", "keywords": {"d": "d"}, "constants": {"dims": [1]}}, "constants: dims = [1] must be"),
    ({"call": "keywords", "keywords": {"d": "d"}, "constants": {"o": {}}}, "constants: o = {} must be"),
    ({"constants": {"dtype": "float64"}}, "constants = {'dtype': 'float64'} needs call = 'keywords'"),
    ({"penalty_in": "constructor"}, "penalty_in = 'constructor' needs penalty = 'l2' and a keywords argument given"),
    ({"penalty_in": "constructor", "penalty": "l2"}, "penalty_in = 'constructor' needs penalty = 'l2'"),
    ({"penalty_in": "constructor", "call": "keywords", "keywords": A2_KEYWORDS},
     "penalty_in = 'constructor' needs penalty = 'l2'"),
    ({"penalty": "l2", "call": "keywords", "keywords": A2_KEYWORDS},
     "keywords give \"reg\" to the constructor: set penalty_in = 'constructor'"),
])
def test_a_bad_value_is_refused_by_name(changes, said):
    with pytest.raises(AssignmentError) as caught:
        Assignment(**changes)
    assert said in str(caught.value)


@pytest.mark.parametrize("changes", [
    {"log_epsilon": 0.01}, {"log_epsilon": 0}, {"accept_l2_factors": [99.9, 0.5]}, {"l2_factor": 1e-12},
    {"total": 1e-9}, {"points": {"*": 0}}, {"relu_grad_at_zero": [1, 0]}, {"file": "cs231n/classifiers/fc_net.py"},
    {"file": "kit.net"}, {"activations": list(ACTIVATIONS)}, {"conventions_cost_points": False},
    {"call": "keywords", "keywords": {"sizes": "sizes"}, "constants": {"dtype": "float64", "seed": 0, "fast": True}},
    {"penalty": "l2", "penalty_in": "constructor", "call": "keywords", "keywords": A2_KEYWORDS},
    {"visibility": "after_published"}, {"factory": "Net.create", "method": "loss"},
])
def test_values_at_their_bounds_are_taken(changes):
    Assignment(**changes)


def test_values_are_normalised():
    a = Assignment(activations=["tanh", "relu"], allow_imports=["scipy"], l2_factor=1, log_epsilon=0,
                   relu_grad_at_zero=[1, 0, 1], accept_l2_factors=[0.5, 1, 2], points={"*/x": 2, "a": 1},
                   factory_aliases=["factory", "make_mlp", "build", "factory"], total=10)
    assert a.activations == ("tanh", "relu") and a.allow_imports == ("scipy",)
    assert type(a.l2_factor) is float and type(a.log_epsilon) is float
    assert a.relu_grad_at_zero == (0, 1) and a.accept_l2_factors == (0.5, 2.0)  # its own factor is no other
    assert a.points == (("*/x", 2.0), ("a", 1.0)) and all(type(v) is float for _, v in a.points)
    assert a.factory_aliases == ("factory", "build") and a.factory_names == ("make_mlp", "factory", "build")
    keywords = Assignment(call="keywords", keywords={"b": "h", "a": "d"}, constants={"dtype": "float64"})
    assert keywords.keywords == (("b", "h"), ("a", "d")) and keywords.constants == (("dtype", "float64"),)


def test_an_assignment_cannot_be_changed_once_made():
    with pytest.raises(dataclasses.FrozenInstanceError):
        Assignment().reduction = "sum"


def test_the_homework_contract_is_the_default():
    a = Assignment()
    assert (a.name, a.factory, a.factory_aliases, a.call, a.method, a.weights, a.biases, a.inputs, a.labels) == (
        "homework", "make_mlp", ("factory",), "sizes_activation", "loss_and_grads", "out_in", "vector", "rows", "int")
    assert (a.reduction, a.penalty, a.penalty_in, a.l2_factor, a.activations, a.gradient_shapes) == (
        "mean", "elastic_net", "method", 1.0, ("relu",), "exact")
    assert (a.log_epsilon, a.relu_grad_at_zero, a.accept_l2_factors, a.allow_imports, a.extends, a.file) == (
        0.0, (0,), (), (), None, None)
    assert (a.points, a.total, a.conventions_cost_points, a.visibility) == ((), None, True, "visible")
    assert preset("homework") == a


def test_the_presets():
    cs = preset("cs231n")
    assert (cs.factory, cs.factory_aliases, cs.call, cs.method, cs.weights, cs.penalty, cs.l2_factor) == (
        "TwoLayerNet", (), "dims", "loss", "in_out", "l2", 1.0)
    assert (cs.gradient_shapes, cs.relu_grad_at_zero, cs.log_epsilon) == ("broadcast", (0, 1), 1e-7)
    assert preset("cs231n-2016") == dataclasses.replace(cs, name="cs231n-2016", l2_factor=0.5)
    a2 = preset("cs231n-a2")
    assert (a2.call, dict(a2.keywords), a2.penalty_in, a2.l2_factor) == ("keywords", A2_KEYWORDS, "constructor", 0.5)
    fc = preset("cs231n-a2-fc")
    assert dict(fc.keywords) == {"hidden_dims": "hidden", "input_dim": "d", "num_classes": "m", "reg": "reg"}
    assert fc.constants == (("dtype", "float64"),) and fc.factory == "FullyConnectedNet" and fc.l2_factor == 0.5
    with pytest.raises(AssignmentError, match="no preset named 'cs231n-a3' \\(presets: homework, cs231n, "):
        preset("cs231n-a3")


def test_which_activations_are_tried():
    assert Assignment(activations=["tanh"]).tried_activations == ("tanh", "relu", "sigmoid", "softplus")
    assert preset("cs231n").tried_activations == ("relu",)  # dims: it cannot be told one
    assert Assignment(call="sizes", activations=["tanh", "relu"]).tried_activations == ("tanh",)
    told = Assignment(call="keywords", keywords={"sizes": "sizes", "act": "activation"})
    assert told.tried_activations == ("relu", "tanh", "sigmoid", "softplus")
    assert preset("cs231n-a2").tried_activations == ("relu",)


def test_describe_says_the_preset_and_what_differs():
    assert Assignment().describe() == "homework (the homework's contract)"
    assert preset("cs231n").describe() == "cs231n (the cs231n preset)"
    assert dataclasses.replace(preset("cs231n"), name="course", extends="cs231n", reduction="sum").describe() == \
        "course (the cs231n preset with reduction='sum')"
    assert Assignment(name="mine", reduction="sum", biases="column").describe() == \
        "mine (biases='column', reduction='sum')"
    assert Assignment(name="homework", reduction="sum").describe() == "homework (the homework preset with reduction='sum')"
    assert Assignment().with_factory("build").describe() == "homework (the homework preset with factory='build')"
    assert Assignment().with_factory("build").factory_names == ("build",)


def test_a_saved_assignment_is_read_back_the_same():
    for a in (*PRESETS.values(), Assignment(points={"*": 2}, total=5, allow_imports=["scipy"])):
        saved = a.to_dict()
        assert isinstance(saved["keywords"], dict) and isinstance(saved["points"], dict)
        assert isinstance(saved["activations"], list)
        assert load_assignment_dict(saved) == a
    with pytest.raises(AssignmentError, match="unknown key 'zeta' in a saved assignment"):
        load_assignment_dict({**Assignment().to_dict(), "zeta": 1, "zz": 2})


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_a_toml_file_changes_only_its_keys(tmp_path):
    a = load_assignment(write(tmp_path / "course.toml", 'reduction = "sum"\n'))
    assert a == dataclasses.replace(Assignment(), name="course", reduction="sum")
    b = load_assignment(write(tmp_path / "mine.toml", 'factory = "build"\n'))
    assert b.factory_names == ("build",)  # the course named its factory: no other
    c = load_assignment(write(tmp_path / "both.toml", 'factory = "build"\nfactory_aliases = ["make"]\n'))
    assert c.factory_names == ("build", "make")


def test_a_toml_file_over_a_preset(tmp_path):
    over = load_assignment(write(tmp_path / "c.toml", "l2_factor = 0.5\n"), base=preset("cs231n"))
    assert over.extends == "cs231n" and over.name == "c" and over.l2_factor == 0.5 and over.call == "dims"
    extends = load_assignment(write(tmp_path / "e.toml", 'extends = "cs231n-a2"\nname = "fall"\n'))
    assert extends.name == "fall" and extends.penalty_in == "constructor" and extends.extends == "cs231n-a2"
    same = load_assignment(write(tmp_path / "s.toml", 'extends = "cs231n"\n'), base=preset("cs231n"))
    assert same.call == "dims"


@pytest.mark.parametrize("text, said", [
    ("reduce = 'sum'\nzeta = 1\n", "unknown key 'reduce' (known keys: accept_l2_factors, activations, allow_imports,"),
    ("reduction = \n", "is not valid TOML"),
    ("extends = 'cs231n-a3'\n", "extends = 'cs231n-a3' is not a preset (presets: homework, cs231n,"),
    ("extends = 3\n", "extends = 3 is not a preset"),
    ("reduction = 'avg'\n", "bad.toml: reduction = 'avg' is not one of 'mean', 'sum'"),
])
def test_a_bad_toml_file_is_refused_by_name(tmp_path, text, said):
    with pytest.raises(AssignmentError) as caught:
        load_assignment(write(tmp_path / "bad.toml", text))
    assert said in str(caught.value)
    assert str(tmp_path / "bad.toml") in str(caught.value)


def test_a_toml_file_that_cannot_be_read(tmp_path):
    with pytest.raises(AssignmentError, match=f"cannot read assignment file {tmp_path / 'gone.toml'}: No such file"):
        load_assignment(tmp_path / "gone.toml")
    (tmp_path / "latin.toml").write_bytes(b"name = '\xe9'\n")
    with pytest.raises(AssignmentError, match="latin.toml is not valid TOML"):
        load_assignment(tmp_path / "latin.toml")


def test_a_toml_file_extending_another_preset_than_the_one_given(tmp_path):
    path = write(tmp_path / "c.toml", 'extends = "cs231n"\n')
    with pytest.raises(AssignmentError, match=f"{path} extends 'cs231n', but the preset 'cs231n-a2' was also given"):
        load_assignment(path, base=preset("cs231n-a2"))


def test_what_names_an_assignment(tmp_path):
    assert as_assignment(None) == preset("homework")
    assert as_assignment("cs231n") is preset("cs231n")
    a = Assignment(reduction="sum")
    assert as_assignment(a) is a
    path = write(tmp_path / "course.toml", 'reduction = "sum"\n')
    assert as_assignment(path).reduction == "sum" and as_assignment(str(path)).name == "course"
    with pytest.raises(AssignmentError, match="no preset named 'cs231" + "n-a3' \\(presets: .*a course's own "
                                              "conventions: the path of its .toml file\\)"):
        as_assignment("cs231n-a3")
    with pytest.raises(TypeError, match="assignment must be an Assignment, a preset's name or a .toml file's path, "
                                        "got dict"):
        as_assignment({"reduction": "sum"})
    assert with_layout(a, weights="in_out") == dataclasses.replace(a, weights="in_out")
    with pytest.raises(AssignmentError):
        with_layout(a, weights="sideways")
