"""compare.grader.submissions.notebook_statements: which statements of a notebook are kept.

What a teacher sees is the module made from the notebook (its exact text, where each line came
from) and one note per skipped statement; what a student's factory becomes when it is missing is
``why_missing``. Each test writes a notebook in a shape students hand in and looks at those.
Quick: the notebooks are written as JSON, nothing runs but ``ast``.
"""

from __future__ import annotations

import json

import pytest

from compare.grader.submissions.notebook import extract_definitions
from compare.grader.submissions.notebook_statements import MAX_DEPTH, MAX_NOTES, NOTE_LIMIT, SyntaxProblem

SANDBOX = {"numpy", "math", "random", "functools", "__future__"}


def write(tmp_path, *sources, name="hw.ipynb"):
    """A v4 notebook of code cells (a source that starts with '#md' is a markdown cell)."""
    cells = [{"cell_type": "markdown", "metadata": {}, "source": s[3:]} if s.startswith("#md")
             else {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [], "source": s}
             for s in sources]
    document = {"nbformat": 4, "nbformat_minor": 4, "cells": cells,
                "metadata": {"kernelspec": {"name": "python3", "language": "python", "display_name": "Python 3"}}}
    path = tmp_path / name
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def extract(tmp_path, *sources, available=SANDBOX.__contains__):
    return extract_definitions(write(tmp_path, *sources), available=available)


def kept_lines(extracted) -> list[str]:
    return extracted.source.splitlines()


def notes_at(extracted) -> list[str]:
    """'cell 1, line 3' (or 'cell 2') of each note, in order."""
    return [note.split(": ", 1)[0] for note in extracted.skipped]


# ----------------------------------------------------------------------------- the notes
def test_a_long_statement_is_quoted_up_to_the_room_left(tmp_path):
    call = "train(" + ", ".join(f"arg{i}" for i in range(60)) + ")"
    extracted = extract(tmp_path, call)
    # 120 characters: "cell 1, line 1: " (16) + 84 characters and "…" + " — " + "not a definition" (16).
    assert extracted.skipped == [f"cell 1, line 1: {call[:84]}… — not a definition"]
    assert len(extracted.skipped[0]) == NOTE_LIMIT == 120


def test_a_long_reason_leaves_the_quote_twenty_characters(tmp_path):
    module = "a" * 100
    extracted = extract(tmp_path, f"import {module}")
    # The reason ("aaa… is not available for grading") is cut at 90 characters, the quote at 20;
    # the whole note is cut at 120.
    note = f"cell 1, line 1: import {module[:12]}… — {module[:89]}…"
    assert extracted.skipped == [note[:119] + "…"]


@pytest.mark.parametrize("length", [28, 29])
def test_a_reason_is_cut_at_90_characters(tmp_path, length):
    name = "a" * length  # the reason names it: 62 characters and the name
    extracted = extract(tmp_path, f"def fit(\n    {name},\n    {name},\n):\n    pass")
    reason = f"does not compile: duplicate argument '{name}' in function definition"
    said = reason if len(reason) <= 90 else reason[:89] + "…"
    assert extracted.skipped == [f"cell 1, line 1: def fit( … — {said}"]


def test_a_statement_of_several_lines_is_quoted_by_its_first(tmp_path):
    extracted = extract(tmp_path, "for epoch in range(10):\n    train()\n", "losses = [" + "x" * 200 + ",\n]\n")
    assert extracted.skipped[0] == "cell 1, line 1: for epoch in range(10): … — not a definition"
    # A first line already cut ends with one "…", not "… …".
    assert extracted.skipped[1] == f"cell 2, line 1: losses = [{'x' * 74}… — not a definition"


def test_a_one_line_statement_gets_no_ellipsis(tmp_path):
    extracted = extract(tmp_path, "train()")
    assert extracted.skipped == ["cell 1, line 1: train() — not a definition"]


def test_notes_on_one_line_keep_the_order_of_their_statements(tmp_path):
    extracted = extract(tmp_path, "train(); plot(); X = load()")
    assert extracted.skipped == ["cell 1, line 1: train() — not a definition", "cell 1, line 1: plot() — not a definition",
                                 "cell 1, line 1: X = load() — not a definition"]


def test_notes_are_in_notebook_order_whatever_the_order_found(tmp_path):
    # The IPython line of cell 1 is noted after the statements of cell 1 were judged, yet listed first.
    extracted = extract(tmp_path, "train()\n%time fit()\nplot()", "#mdnotes", "show()")
    assert notes_at(extracted) == ["cell 1, line 1", "cell 1, line 2", "cell 1, line 3", "cell 3, line 1"]


@pytest.mark.parametrize("count", [MAX_NOTES, MAX_NOTES + 1])
def test_notes_are_capped_at_their_bound_and_one_over(tmp_path, count):
    extracted = extract(tmp_path, "\n".join(f"train({i})" for i in range(count)))
    assert MAX_NOTES == 200
    if count == MAX_NOTES:
        assert len(extracted.skipped) == 200 and extracted.skipped[-1].startswith("cell 1, line 200: train(199)")
    else:
        assert len(extracted.skipped) == 201
        assert extracted.skipped[199].startswith("cell 1, line 200: train(199)")
        assert extracted.skipped[200] == "… and 1 more skipped, not listed"


# ----------------------------------------------------------------------------- cells that do not parse
def test_each_kind_of_broken_cell_is_noted_and_kept_as_a_problem(tmp_path):
    extracted = extract(
        tmp_path,
        "import numpy as np",
        "def make_mlp(sizes, activation):\n    # TODO: port to Python 3\n    print 'building'\n",
        "def relu(z):\n    return np.maximum(z 0)\n",
        "W = " + "-" * 100_000 + "1\ndef deep(): pass\n",
        "def nul():\n    return 'a\x00b'\n",
        "SURROGATE = '\ud800'\ndef lone(): pass\n",
        "OK = 1",
        "TOTAL = " + "1 + " * 10_000 + "1",  # the parser's recursion, not its stack
    )
    assert extracted.skipped == [
        "cell 2, line 3: Python 2 syntax (print statement), cell skipped",
        "cell 3, line 2: syntax error (invalid syntax. Perhaps you forgot a comma?), cell skipped",
        "cell 4: nested too deeply to parse, cell skipped",
        "cell 5: syntax error (source code string cannot contain null bytes), cell skipped",
        "cell 6: not Python source (invalid characters), cell skipped",
        "cell 8: nested too deeply to parse, cell skipped",
    ]
    problems = extracted.syntax_errors
    assert [(p.cell, p.line, p.cause) for p in problems] == [
        (2, 3, "Python 2 syntax (print statement)"),
        (3, 2, "SyntaxError: invalid syntax. Perhaps you forgot a comma?"),
        (4, 0, "nested too deeply for Python to parse"),
        (5, 0, "SyntaxError: source code string cannot contain null bytes"),
        (6, 0, "not Python source (invalid characters)"),
        (8, 0, "nested too deeply for Python to parse"),
    ]
    assert [p.names for p in problems] == [
        {"make_mlp"}, {"relu"}, {"W", "deep"}, {"nul"}, {"SURROGATE", "lone"}, {"TOTAL"}]
    assert [str(p) for p in problems[2:5:2]] == [
        "cell 4: nested too deeply for Python to parse", "cell 6: not Python source (invalid characters)"]
    assert kept_lines(extracted) == ["import numpy as np", "OK = 1"]


def test_a_syntax_error_without_a_message_is_invalid_syntax(tmp_path):
    from compare.grader.submissions.notebook_statements import _State

    state = _State(lambda top: True)
    error = SyntaxError()
    error.lineno = 3
    state.note_parse_error(2, error, "def f(:\n")
    assert state.result().skipped == ["cell 2, line 3: syntax error (invalid syntax), cell skipped"]
    assert str(state.syntax_errors[0]) == "cell 2, line 3: SyntaxError: invalid syntax"


def test_syntax_problem_says_its_place():
    assert str(SyntaxProblem(4, 2, "SyntaxError: expected ':'")) == "cell 4, line 2: SyntaxError: expected ':'"
    assert str(SyntaxProblem(4, 0, "nested too deeply for Python to parse")) == (
        "cell 4: nested too deeply for Python to parse")


def test_why_missing_names_the_first_broken_cell_that_defines_the_factory(tmp_path):
    extracted = extract(tmp_path, "def helper(:\n    pass", "def make_mlp(s, a):\n    return MLP(s a)",
                        "make_mlp = lambda s, a: MLP(s a)")
    assert extracted.why_missing("make_mlp") == (
        "cell 2, line 2: SyntaxError: invalid syntax. Perhaps you forgot a comma? "
        "(the factory 'make_mlp' is defined in no cell that parses)")
    assert extracted.why_missing("make_net") is None


def test_a_star_import_may_bind_the_factory_so_nothing_is_said(tmp_path):
    extracted = extract(tmp_path, "from numpy import *", "make_mlp = build()", "def make_net(:\n    pass",
                        available=lambda top: True)
    assert extracted.star_import
    assert extracted.why_missing("make_mlp") is None and extracted.why_missing("make_net") is None
    plain = extract(tmp_path, "import numpy", "make_mlp = build()")
    assert not plain.star_import and plain.why_missing("make_mlp").startswith("cell 2, line 1: make_mlp = build()")


def test_why_missing_prefers_the_broken_cell_to_a_skipped_binder(tmp_path):
    extracted = extract(tmp_path, "make_mlp = build()", "def make_mlp(:\n    pass")
    assert extracted.why_missing("make_mlp").startswith("cell 2, line 1: SyntaxError")


def test_a_skipped_binder_is_the_first_one_and_forgotten_once_kept(tmp_path):
    extracted = extract(tmp_path, "factory = build(1)\nfactory = build(2)", "other = load()\nother = 3")
    assert extracted.why_missing("factory").startswith("cell 1, line 1: factory = build(1) — not a definition")
    assert extracted.why_missing("other") is None  # kept later: defined
    assert set(extracted.skipped_binders) == {"factory"}


def test_a_skipped_import_is_a_skipped_binder(tmp_path):
    extracted = extract(tmp_path, "from models import make_mlp", "from .models import build")
    assert extracted.why_missing("make_mlp").startswith(
        "cell 1, line 1: from models import make_mlp — models is not available for grading (it binds")
    assert extracted.why_missing("build").startswith("cell 2, line 1: from .models import build — relative import")


def test_a_name_already_kept_is_not_a_skipped_binder(tmp_path):
    extracted = extract(tmp_path, "LR = 0.1\nLR, data = 0.2, load()")
    assert extracted.skipped_binders == {"data": "cell 1, line 2: LR, data = 0.2, load() — not a definition"}


def test_where_turns_a_module_line_into_a_cell_and_line(tmp_path):
    extracted = extract(tmp_path, "#mdintro", "import numpy as np\n\nX = 1", "def f():\n    return 1")
    assert extracted.line_map == {1: (2, 1), 2: (2, 3), 3: (3, 1), 4: (3, 2)}
    assert [extracted.where(n) for n in (1, 2, 4, 5)] == ["cell 2, line 1", "cell 2, line 3", "cell 3, line 2",
                                                          "line 5"]


# ----------------------------------------------------------------------------- what is kept silently, what not
def test_docstrings_pass_and_ellipsis_are_dropped_silently_a_bare_value_is_noted(tmp_path):
    extracted = extract(tmp_path, "'''Part 1'''\nb'raw'\n...\npass\n42\nnet\nX = 1")
    assert kept_lines(extracted) == ["X = 1"]
    assert extracted.skipped == ["cell 1, line 5: 42 — not a definition", "cell 1, line 6: net — not a definition"]


def test_an_empty_notebook_makes_an_empty_module(tmp_path):
    extracted = extract(tmp_path, "train()")
    assert extracted.source == "" and extracted.line_map == {} and extracted.names == set()


def test_the_module_ends_with_one_newline(tmp_path):
    assert extract(tmp_path, "X = 1", "Y = 2").source == "X = 1\nY = 2\n"


def test_statements_the_compiler_refuses_are_noted(tmp_path):
    extracted = extract(tmp_path, "def fit(x, x):\n    pass", "from __future__ import braces", "X = 1")
    assert extracted.skipped == [
        "cell 1, line 1: def fit(x, x): … — does not compile: duplicate argument 'x' in function definition",
        "cell 2, line 1: from __future__ import braces — unknown __future__ feature braces",
    ]
    assert kept_lines(extracted) == ["X = 1"]


def test_a_def_that_the_compiler_refuses_is_noted_and_not_bound(tmp_path):
    extracted = extract(tmp_path, "def f():\n    nonlocal x\n", "g = f")
    assert extracted.skipped[0] == "cell 1, line 1: def f(): … — does not compile: no binding for nonlocal 'x' found"
    assert "f" not in extracted.names and extracted.skipped[1].startswith("cell 2, line 1: g = f")


def test_future_imports_lead_the_module_in_their_order(tmp_path):
    extracted = extract(tmp_path, "import numpy as np", "from __future__ import annotations",
                        "from __future__ import division, print_function")
    assert kept_lines(extracted) == ["from __future__ import annotations",
                                     "from __future__ import division, print_function", "import numpy as np"]
    assert extracted.line_map == {1: (2, 1), 2: (3, 1), 3: (1, 1)}


# ----------------------------------------------------------------------------- imports
def test_imports_are_judged_by_their_top_level_module(tmp_path):
    extracted = extract(tmp_path, "import numpy.linalg\nfrom numpy.random import default_rng\n"
                        "import numpy as np, pandas as pd\nimport pandas.io\nfrom pandas import DataFrame")
    assert kept_lines(extracted) == ["import numpy.linalg", "from numpy.random import default_rng",
                                     "import numpy as np"]
    assert extracted.skipped == [
        "cell 1, line 3: import numpy as np, pandas as pd — pandas is not available for grading",
        "cell 1, line 4: import pandas.io — pandas.io is not available for grading",
        "cell 1, line 5: from pandas import DataFrame — pandas is not available for grading",
    ]
    assert "pd" not in extracted.names and {"numpy", "default_rng", "np"} <= extracted.names


def test_a_mixed_import_keeps_what_is_available_in_its_order(tmp_path):
    extracted = extract(tmp_path, "import math, seaborn as sns, numpy as np, tqdm")
    assert kept_lines(extracted) == ["import math, numpy as np"]
    assert extracted.skipped == ["cell 1, line 1: import math, seaborn as sns, numpy as np, tqdm — "
                                 "seaborn, tqdm is not available for grading"]
    assert extracted.names == {"math", "np"}


def test_a_relative_import_is_skipped_even_when_everything_is_available(tmp_path):
    extracted = extract(tmp_path, "from . import layers\nfrom .net import MLP", available=lambda top: True)
    assert extracted.source == "" and notes_at(extracted) == ["cell 1, line 1", "cell 1, line 2"]
    assert all(note.endswith("— relative import in a notebook") for note in extracted.skipped)


def test_imported_names_are_known_by_where_they_come_from(tmp_path):
    extracted = extract(
        tmp_path,
        "import numpy.random as npr\nfrom numpy import random as rnd, float64 as f64\nimport numpy\nimport random",
        "R1 = npr.default_rng(0)\nR2 = rnd.default_rng(1)\nR3 = numpy.random.default_rng(2)\nX = f64(1)\n"
        "rnd.seed(0)\nrandom.seed(3)\nnumpy.random.seed(4)\nnpr.randn(3)\nrandom.shuffle(L)",
    )
    assert kept_lines(extracted)[4:] == ["R1 = npr.default_rng(0)", "R2 = rnd.default_rng(1)",
                                         "R3 = numpy.random.default_rng(2)", "X = f64(1)", "rnd.seed(0)",
                                         "random.seed(3)", "numpy.random.seed(4)"]
    assert notes_at(extracted) == ["cell 2, line 8", "cell 2, line 9"]


def test_seeding_with_what_is_not_constant_is_skipped(tmp_path):
    extracted = extract(tmp_path, "import numpy as np\nnp.random.seed(SEED)\nnp.random.seed(seed=load())\n"
                        "np.random.seed(0)")
    assert kept_lines(extracted) == ["import numpy as np", "np.random.seed(0)"]
    assert notes_at(extracted) == ["cell 1, line 2", "cell 1, line 3"]


# ----------------------------------------------------------------------------- constants
def test_every_kind_of_constant_expression_is_kept(tmp_path):
    body = ("import numpy as np\n"
            "SIZES = [2, 4, 2]\n"
            "S = {1, 2}\n"
            "ALL = [*SIZES, 3]\n"
            "MERGED = {**{'a': 1}, 'b': 2}\n"
            "NEG = -1\n"
            "EITHER = SIZES or None\n"
            "BIG = 3 > 2\n"
            "PICK = 1 if BIG else 2\n"
            "FIRST = SIZES[0]\n"
            "TAIL = SIZES[1:]\n"
            "NAME = f'mlp-{NEG:>{FIRST}}'\n"
            "T = float\n"
            "PI = np.pi\n"
            "K = np.zeros(3, dtype=np.float64)\n"
            "relu = lambda z, *, floor=0.0: np.maximum(z, floor)\n"
            "scale = lambda z, *, by, shift=1.0: z * by + shift\n"
            "SUM = 1 + 2\n")
    extracted = extract(tmp_path, body)
    assert extracted.source == body and extracted.skipped == []


@pytest.mark.parametrize("statement", [
    "S = {1, load()}", "ALL = [*load(), 3]", "D = {'a': load()}", "D = {**load()}", "NEG = -load()",
    "EITHER = load() or None", "BIG = load() > 2", "PICK = 1 if load() else 2", "FIRST = load()[0]",
    "TAIL = X[load():]", "TAIL = X[:load()]", "TAIL = X[::load()]", "PICK = load() if X else 2",
    "PICK = 1 if X else load()", "NAME = f'{load()}'", "NAME = f'{1:{load()}}'", "K = np.zeros(3, dtype=load())",
    "K = np.zeros(load())", "K = np.full(3, load())", "K = np.full(load(), 3)", "f = lambda z, by=load(): z", "f = lambda z, *, by=load(): z", "SUM = 1 + load()",
    "V = unknown", "A = (1).real", "C = np.random.randn(3)", "D = np.loadtxt('d.txt')", "E = open('f')",
    "F = [x for x in range(3)]",
])
def test_what_is_not_a_constant_expression_is_skipped(tmp_path, statement):
    extracted = extract(tmp_path, "import numpy as np\nX = (1, 2)", statement)
    assert kept_lines(extracted) == ["import numpy as np", "X = (1, 2)"]
    assert extracted.skipped == [f"cell 2, line 1: {statement} — not a definition"]


def test_constant_nesting_is_judged_up_to_its_bound_and_one_over(tmp_path):
    assert MAX_DEPTH == 60
    at_bound = "Z = " + "[" * 60 + "1" + "]" * 60
    over = "Z = " + "[" * 61 + "1" + "]" * 61
    assert kept_lines(extract(tmp_path, at_bound)) == [at_bound]
    assert extract(tmp_path, over).source == ""


def test_nested_calls_count_twice_toward_the_bound(tmp_path):
    # A call and its arguments are two levels: 30 nested calls reach the bound, 31 go over.
    at_bound = "Z = " + "abs(" * 30 + "1" + ")" * 30
    over = "Z = " + "abs(" * 31 + "1" + ")" * 31
    assert kept_lines(extract(tmp_path, at_bound)) == [at_bound]
    assert extract(tmp_path, over).source == ""


def test_a_chain_of_thousands_of_attributes_is_skipped_not_a_crash(tmp_path):
    chain = "X = np." + "a." * 2000 + "zeros(3)"
    extracted = extract(tmp_path, "import numpy as np", chain)
    assert kept_lines(extracted) == ["import numpy as np"]
    assert notes_at(extracted) == ["cell 2, line 1"]


def test_a_builtin_the_student_redefined_is_not_the_builtin(tmp_path):
    extracted = extract(tmp_path, "def float(x):\n    return open(x)\n", "INF = float('inf')\nN = len((1, 2))")
    assert kept_lines(extracted) == ["def float(x):", "    return open(x)", "N = len((1, 2))"]
    assert notes_at(extracted) == ["cell 2, line 1"]


def test_a_name_rebound_loses_where_it_came_from(tmp_path):
    extracted = extract(
        tmp_path,
        "import numpy as np\nimport math as m",
        "def np():\n    return 0\n",
        "m = 3\nX = np.zeros(3)\nY = m.sqrt(2)\n",
    )
    assert kept_lines(extracted)[-1] == "m = 3"
    assert notes_at(extracted) == ["cell 3, line 2", "cell 3, line 3"]


def test_augmented_assignments_only_to_a_kept_constant(tmp_path):
    extracted = extract(
        tmp_path,
        "LR = 0.1\nLR *= 0.5\nLR += load()\nnet *= 2\n",
        "class MLP:\n    pass\nMLP += 1\nLR = 0.2\ndef LR():\n    pass\nLR *= 2\nX = [1]\nX[0] += 1\n",
    )
    assert kept_lines(extracted) == ["LR = 0.1", "LR *= 0.5", "class MLP:", "    pass", "LR = 0.2", "def LR():",
                                     "    pass", "X = [1]"]
    assert notes_at(extracted) == ["cell 1, line 3", "cell 1, line 4", "cell 2, line 3", "cell 2, line 7",
                                   "cell 2, line 9"]


def test_annotated_assignments(tmp_path):
    extracted = extract(tmp_path, "import numpy as np",
                        "EPS: float = 1e-8\nW: np.ndarray = np.zeros(3)\nHIDDEN: int\nX: Tensor = 1\n"
                        "Y: float = load()\nobj.x: int = 1\nZ = HIDDEN\n")
    assert kept_lines(extracted)[1:] == ["EPS: float = 1e-8", "W: np.ndarray = np.zeros(3)", "HIDDEN: int"]
    assert notes_at(extracted) == ["cell 2, line 4", "cell 2, line 5", "cell 2, line 6", "cell 2, line 7"]
    assert "HIDDEN" not in extracted.names and {"EPS", "W"} <= extracted.names


def test_starred_and_nested_targets_bind_every_name(tmp_path):
    extracted = extract(tmp_path, "A, *REST = 1, 2, 3\n[B, (C, D)] = [4, (5, 6)]\nALL = (A, REST, B, C, D)")
    assert extracted.skipped == [] and {"A", "REST", "B", "C", "D", "ALL"} <= extracted.names


# ----------------------------------------------------------------------------- what is attached to a definition
def test_methods_attached_one_after_another_are_all_kept(tmp_path):
    extracted = extract(tmp_path, "class MLP:\n    pass",
                        "def forward(self, X):\n    return X\nMLP.forward = forward\n"
                        "def loss(self, X, y):\n    return 0.0\nMLP.loss = loss\nsetattr(MLP, 'grads', loss)\n")
    assert kept_lines(extracted)[-2:] == ["MLP.loss = loss", "setattr(MLP, 'grads', loss)"]
    assert extracted.skipped == [] and "MLP" in extracted.names


@pytest.mark.parametrize("statement", [
    "net.forward = forward",  # an attribute of an object made by the experiment
    "LR.real = forward",  # an attribute of a constant
    "MLP.inner.forward = forward",  # an attribute of an attribute
    "MLP.forward = load()",  # a value that is not constant
    "ACT[load()] = forward",  # an item whose key is not constant
    "data[0] = forward",  # an item of a name not kept
    "MLP()[0] = forward",  # an item of a call
    "setattr(net, 'forward', forward)",
    "setattr(LR, 'forward', forward)",
    "setattr(MLP, 'forward')",
    "setattr(MLP, 'forward', forward, 1)",
    "setattr(MLP, name, forward)",
    "setattr(MLP, 3, forward)",
    "setattr(MLP, 'forward', load())",
    "setattr(MLP, 'forward', value=forward)",
    "getattr(MLP, 'forward', forward)",
    "MLP.fit(X)",
    "MLP.forward = net.forward = forward",  # one target of a chained assignment is not attached to a definition
    "LR, MLP.forward = 0.2, forward",  # a tuple of targets that are not all names
    "[LR, ACT['x']] = 0.2, forward",
])
def test_what_is_not_attached_to_a_kept_definition_is_skipped(tmp_path, statement):
    extracted = extract(tmp_path, "LR = 0.1\nACT = {}\nclass MLP:\n    pass\ndef forward(self, X):\n    return X",
                        statement)
    assert extracted.skipped == [f"cell 2, line 1: {statement} — not a definition"]


def test_items_attached_to_a_kept_constant_or_definition_are_kept(tmp_path):
    extracted = extract(tmp_path, "ACT = {}\ndef relu(z):\n    return z\nACT['relu'] = relu\nrelu['x'] = 1")
    assert kept_lines(extracted)[-2:] == ["ACT['relu'] = relu", "relu['x'] = 1"]


def test_a_definition_rebound_to_a_constant_gets_nothing_attached(tmp_path):
    extracted = extract(tmp_path, "class MLP:\n    pass\nMLP = None\nMLP.forward = 1\nsetattr(MLP, 'x', 1)")
    assert notes_at(extracted) == ["cell 1, line 4", "cell 1, line 5"]


def test_a_setattr_the_student_defined_is_not_the_builtin(tmp_path):
    extracted = extract(tmp_path, "class MLP:\n    pass\ndef setattr(*args):\n    train()\nsetattr(MLP, 'x', 1)")
    assert notes_at(extracted) == ["cell 1, line 5"]


# ----------------------------------------------------------------------------- try blocks
def test_a_try_with_an_import_fallback_is_kept_and_binds_its_names(tmp_path):
    extracted = extract(
        tmp_path,
        "try:\n    import cupy as xp\nexcept (ImportError, ModuleNotFoundError):\n    import numpy as xp\n"
        "else:\n    GPU = True\nfinally:\n    pass\n",
        "try:\n    from tqdm import tqdm\nexcept ModuleNotFoundError:\n    tqdm = lambda x: x\n",
        "PI = xp.pi\nHAS = GPU\nBAR = tqdm\n",
    )
    assert extracted.skipped == [] and {"xp", "GPU", "tqdm", "PI", "HAS", "BAR"} <= extracted.names


@pytest.mark.parametrize("handler", ["except Exception:", "except:", "except (ImportError, OSError):",
                                     "except errors.ImportError:"])
def test_a_try_catching_more_than_import_errors_is_skipped(tmp_path, handler):
    extracted = extract(tmp_path, f"try:\n    import cupy as xp\n{handler}\n    import numpy as xp\n",
                        "PI = xp.pi")
    assert extracted.source == "" and notes_at(extracted) == ["cell 1, line 1", "cell 2, line 1"]


@pytest.mark.parametrize("inner", ["data = load()", "from . import layers", "from __future__ import annotations",
                                   "train()"])
def test_a_try_that_does_more_than_define_is_skipped_and_binds_nothing(tmp_path, inner):
    extracted = extract(tmp_path, f"try:\n    import numpy as xp\n    LR = 0.1\n    {inner}\n"
                                  "except ImportError:\n    pass\n", "PI = xp.pi\nHALF = LR / 2")
    assert extracted.source == "" and notes_at(extracted) == ["cell 1, line 1", "cell 2, line 1", "cell 2, line 2"]
    assert extracted.names == set()


# ----------------------------------------------------------------------------- the text kept
def test_a_statement_is_cut_from_its_line_by_bytes_not_characters(tmp_path):
    extracted = extract(tmp_path, "NAME = 'ü'; data = load()\nX = 'é'; Y = 'ñ'  # two\ntrain(); Z = 'ö'  # note")
    assert kept_lines(extracted) == ["NAME = 'ü'", "X = 'é'", "Y = 'ñ'  # two", "Z = 'ö'  # note"]
    assert extracted.line_map == {1: (1, 1), 2: (1, 2), 3: (1, 2), 4: (1, 3)}


def test_a_statement_over_several_lines_is_kept_whole(tmp_path):
    extracted = extract(tmp_path, "SIZES = (2,\n         4,\n         2)  # layers\nLR = 0.1")
    assert kept_lines(extracted) == ["SIZES = (2,", "         4,", "         2)  # layers", "LR = 0.1"]


def test_a_decorated_definition_starts_at_its_first_decorator(tmp_path):
    extracted = extract(tmp_path, "import functools\n\n@functools.lru_cache()\n@staticmethod\ndef f():\n"
                                  "    return 1\n")
    assert kept_lines(extracted)[1:] == ["@functools.lru_cache()", "@staticmethod", "def f():", "    return 1"]
    assert extracted.line_map[2] == (1, 3) and extracted.line_map[5] == (1, 6)


@pytest.mark.parametrize("where", ["else:\n    data = load()\n", "finally:\n    train()\n"])
def test_a_try_whose_else_or_finally_does_more_than_define_is_skipped(tmp_path, where):
    extracted = extract(tmp_path, "try:\n    import numpy as xp\nexcept ImportError:\n    xp = None\n" + where,
                        "PI = xp.pi")
    assert extracted.source == "" and notes_at(extracted) == ["cell 1, line 1", "cell 2, line 1"]


def test_a_try_whose_handler_does_more_than_define_is_skipped(tmp_path):
    extracted = extract(tmp_path, "try:\n    import cupy as xp\nexcept ImportError:\n    print('no GPU')\n")
    assert extracted.source == "" and notes_at(extracted) == ["cell 1, line 1"]


def test_an_async_definition_is_kept_and_bound(tmp_path):
    extracted = extract(tmp_path, "async def make_mlp(sizes, activation):\n    return sizes", "FACTORY = make_mlp")
    assert kept_lines(extracted) == ["async def make_mlp(sizes, activation):", "    return sizes", "FACTORY = make_mlp"]
    assert {"make_mlp", "FACTORY"} <= extracted.names and extracted.why_missing("make_mlp") is None


def test_seeding_arguments_are_judged_up_to_the_nesting_bound(tmp_path):
    # The seed call's arguments start one level down: 59 nested lists reach the bound, 60 go over.
    at_bound = "np.random.seed(" + "[" * 59 + "0" + "]" * 59 + ")"
    over = "np.random.seed(" + "[" * 60 + "0" + "]" * 60 + ")"
    assert kept_lines(extract(tmp_path, "import numpy as np", at_bound))[1:] == [at_bound]
    assert kept_lines(extract(tmp_path, "import numpy as np", over)) == ["import numpy as np"]


def test_keyword_arguments_are_judged_up_to_the_nesting_bound(tmp_path):
    # A keyword's value is two levels down from the call's: 58 nested lists reach the bound, 59 go over.
    at_bound = "Z = np.array(object=" + "[" * 58 + "0" + "]" * 58 + ")"
    over = "Z = np.array(object=" + "[" * 59 + "0" + "]" * 59 + ")"
    assert kept_lines(extract(tmp_path, "import numpy as np", at_bound))[1:] == [at_bound]
    assert kept_lines(extract(tmp_path, "import numpy as np", over)) == ["import numpy as np"]


def test_a_function_too_deep_to_compile_as_a_tree_is_kept_as_python_compiles_its_text(tmp_path):
    cell = "def total():\n    return " + "1 + " * 1500 + "1"
    extracted = extract(tmp_path, cell)
    assert extracted.source == cell + "\n" and extracted.skipped == []
    namespace = {}
    exec(compile(extracted.source, "<module>", "exec"), namespace)
    assert namespace["total"]() == 1501


def test_one_line_definitions_are_kept_as_written(tmp_path):
    cell = "class Config: pass;  # settings\ndef relu(z): return z * (z > 0);"
    assert extract(tmp_path, cell).source == cell + "\n"
