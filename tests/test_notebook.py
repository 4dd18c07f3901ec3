"""compare.grader.submissions.notebook: a notebook's definitions only, read with ast, never run.

Each notebook is written with nbformat into tmp_path; the extracted module is compiled (and, where
the test says so, executed here in a fresh namespace: the module under test never runs anything).
"""

from __future__ import annotations

import json
import re
import sys
import traceback

import nbformat
import numpy as np
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from compare.grader.submissions.notebook import NOTE_LIMIT, Extracted, NotebookError, extract_definitions

SANDBOX = {"numpy", "math", "random", "functools", "typing", "dataclasses", "__future__"}


def sandbox(top: str) -> bool:
    return top in SANDBOX


def write(tmp_path, *cells, name="hw.ipynb", validate=True, **metadata):
    """The notebook as nbformat writes it (``validate=False``: as JSON, quick for thousands of cells)."""
    notebook = new_notebook(cells=list(cells), metadata=metadata)
    path = tmp_path / name
    if validate:
        nbformat.write(notebook, str(path))
    else:
        path.write_text(json.dumps(notebook))
    return path


def run(extracted: Extracted) -> dict:
    """Execute the extracted module in a fresh namespace (the test's choice, never the module's)."""
    namespace = {"__name__": "submission"}
    exec(compile(extracted.source, "<notebook>", "exec"), namespace)
    return namespace


def places(extracted: Extracted) -> list[str]:
    """Where each note says the skipped thing is: 'cell 3, line 2' or 'cell 3'."""
    return [re.match(r"cell \d+(, line \d+)?", note).group() for note in extracted.skipped]


def skipped_at(extracted: Extracted, where: str) -> str:
    matches = [note for note in extracted.skipped if note.startswith(where + ":")]
    assert len(matches) == 1, (where, extracted.skipped)
    return matches[0]


MLP_NOTEBOOK = [
    new_markdown_cell("# Homework 2: backprop\nLoad the data, define the net, train it."),
    new_code_cell("%matplotlib inline\nimport numpy as np\nimport matplotlib.pyplot as plt\nfrom sklearn.datasets import make_moons"),
    new_code_cell("data = np.loadtxt('circles.txt')\nX, y = data[:, :2], data[:, 2].astype(int)"),
    new_code_cell("LR = 0.1  # learning rate\nSIZES = (2, 4, 2)\nrng = np.random.default_rng(0)"),
    new_code_cell(
        "def relu(z):\n"
        "    return np.maximum(z, 0)\n"
        "\n"
        "\n"
        "class MLP:\n"
        "    def __init__(self, sizes):\n"
        "        self.W = [rng.normal(size=(o, i)) for i, o in zip(sizes[:-1], sizes[1:])]\n"
        "        self.b = [np.zeros(o) for o in sizes[1:]]\n"
        "\n"
        "    def forward(self, X):\n"
        "        for W, b in zip(self.W[:-1], self.b[:-1]):\n"
        "            X = relu(X @ W.T + b)\n"
        "        return X @ self.W[-1].T + self.b[-1]\n"
    ),
    new_code_cell("net = MLP(SIZES)\nfor epoch in range(100):\n    net.train(X, y, LR)\nplt.plot(losses)\nplt.show()"),
]


def test_definitions_kept_in_order_and_the_rest_listed(tmp_path):
    extracted = extract_definitions(write(tmp_path, *MLP_NOTEBOOK), available=sandbox)
    compile(extracted.source, "<notebook>", "exec")
    source = extracted.source
    order = ["import numpy as np", "LR = 0.1  # learning rate", "SIZES = (2, 4, 2)",
             "rng = np.random.default_rng(0)", "def relu(z):", "class MLP:"]
    positions = [source.index(text) for text in order]
    assert positions == sorted(positions)
    for gone in ("loadtxt", "matplotlib", "sklearn", "net = MLP", "for epoch", "plt.", "%matplotlib"):
        assert gone not in source
    # One note per skipped statement, notebook order, numbered as Jupyter shows the cells (markdown counts).
    assert [note.split(" — ")[0] for note in extracted.skipped] == [
        "cell 2, line 1: %matplotlib inline",
        "cell 2, line 3: import matplotlib.pyplot as plt",
        "cell 2, line 4: from sklearn.datasets import make_moons",
        "cell 3, line 1: data = np.loadtxt('circles.txt')",
        "cell 3, line 2: X, y = data[:, :2], data[:, 2].astype(int)",
        "cell 6, line 1: net = MLP(SIZES)",
        "cell 6, line 2: for epoch in range(100): …",
        "cell 6, line 4: plt.plot(losses)",
        "cell 6, line 5: plt.show()",
    ]
    assert skipped_at(extracted, "cell 3, line 1").endswith("— not a definition")


def test_extracted_mlp_class_is_usable(tmp_path):
    namespace = run(extract_definitions(write(tmp_path, *MLP_NOTEBOOK), available=sandbox))
    assert "net" not in namespace and "data" not in namespace  # the training cell did not run
    net = namespace["MLP"](namespace["SIZES"])
    out = net.forward(np.ones((5, 2)))
    assert out.shape == (5, 2)
    assert [W.shape for W in net.W] == [(4, 2), (2, 4)]
    assert namespace["LR"] == 0.1


def test_unavailable_imports_are_named(tmp_path):
    path = write(tmp_path, new_code_cell(
        "import numpy as np, pandas as pd\n"
        "import torch.nn as nn\n"
        "from matplotlib import pyplot as plt\n"
        "import math"
    ))
    extracted = extract_definitions(path, available=sandbox)
    assert extracted.source == "import numpy as np\nimport math\n"  # the mixed import keeps numpy only
    assert extracted.line_map == {1: (1, 1), 2: (1, 4)}
    assert "pandas is not available for grading" in skipped_at(extracted, "cell 1, line 1")
    assert "torch.nn is not available for grading" in skipped_at(extracted, "cell 1, line 2")
    assert "matplotlib is not available for grading" in skipped_at(extracted, "cell 1, line 3")
    assert set(run(extracted)) >= {"np", "math"}
    # By default every module counts as available: nothing skipped.
    assert extract_definitions(path).skipped == []


def test_constants_kept_and_data_derived_assignments_skipped(tmp_path):
    path = write(tmp_path, new_code_cell(
        "import numpy as np\n"
        "import math\n"
        "LR = 0.1\n"
        "SIZES = (2, 4, 2)\n"
        "LAMBDAS = [1e-3, 0.0] * 2\n"
        "CONFIG = {'lr': LR, 'sizes': SIZES, 'name': f'mlp-{len(SIZES)}'}\n"
        "HIDDEN = SIZES[1:-1]\n"
        "EPS: float = 1e-8\n"
        "INF = float('inf')\n"
        "SCALE = math.sqrt(2.0) if LR < 1 else -1\n"
        "MEAN = np.array([0.5, -0.5], dtype=np.float64)\n"
        "A, B = 1, 2\n"
        "LR *= 0.5\n"
        "X = np.loadtxt('circles.txt')\n"
        "W = np.random.randn(100, 2)\n"
        "N = len(X)\n"
        "net = MLP(SIZES)\n"
        "losses = train(net, X)\n"
        "table = open('x.csv').read()\n"
        "obj.attr = 3\n"
        "K = unknown_name + 1\n"
        "Z = np.fromfile('z.bin')\n"
    ))
    extracted = extract_definitions(path, available=sandbox)
    namespace = run(extracted)
    assert namespace["LR"] == 0.05 and namespace["SIZES"] == (2, 4, 2) and namespace["HIDDEN"] == (4,)
    assert namespace["CONFIG"] == {"lr": 0.1, "sizes": (2, 4, 2), "name": "mlp-3"}
    assert namespace["EPS"] == 1e-8 and namespace["INF"] == float("inf") and namespace["SCALE"] == pytest.approx(2**0.5)
    assert np.array_equal(namespace["MEAN"], [0.5, -0.5]) and (namespace["A"], namespace["B"]) == (1, 2)
    for name in ("X", "W", "N", "net", "losses", "table", "K", "Z"):
        assert name not in namespace, name
    assert places(extracted) == [f"cell 1, line {n}" for n in range(14, 23)]


def test_magics_stripped_with_line_numbers_kept(tmp_path):
    path = write(
        tmp_path,
        new_code_cell("%load_ext autoreload\n!pip install \\\n    numpy\nfiles = !ls\nnp.dot?\ndef f(x):\n    %time y = x\n    return x + 1"),
        new_code_cell("%%timeit\ndef g():\n    return 1"),
    )
    extracted = extract_definitions(path, available=sandbox)
    assert "%" not in extracted.source and "!" not in extracted.source and "g()" not in extracted.source
    assert extracted.source.startswith("def f(x):\n    pass\n    return x + 1")
    assert extracted.line_map[1] == (1, 6) and extracted.line_map[3] == (1, 8)
    assert run(extracted)["f"](1) == 2
    notes = extracted.skipped
    assert places(extracted)[:5] == [
        "cell 1, line 1", "cell 1, line 2", "cell 1, line 4", "cell 1, line 5", "cell 1, line 7"]
    assert all("IPython" in note for note in notes[:5])
    assert notes[5] == "cell 2: %%timeit — cell magic, whole cell skipped"


def test_syntax_error_cell_skipped_with_its_line(tmp_path):
    path = write(
        tmp_path,
        new_code_cell("def ok():\n    return 1"),
        new_code_cell("X = 1\ndef broken(:\n    pass"),
        new_code_cell("Y = 2"),
    )
    extracted = extract_definitions(path, available=sandbox)
    assert "X = 1" not in extracted.source and "broken" not in extracted.source
    assert set(run(extracted)) >= {"ok", "Y"}
    note = skipped_at(extracted, "cell 2, line 2")
    assert "syntax error" in note and "cell skipped" in note


def test_line_map_turns_a_traceback_line_into_cell_and_line(tmp_path):
    path = write(
        tmp_path,
        new_markdown_cell("intro"),
        new_code_cell("from __future__ import annotations\nimport numpy as np\nnp.random.seed(0); X = load()"),
        new_code_cell("print('training')\n\n@staticmethod\ndef helper(x):\n    return x\n"),
        new_code_cell("def loss(p):\n    q = p + 1\n    return np.log(q) / 0 if False else 1 / (p - p)\n"),
    )
    extracted = extract_definitions(path, available=sandbox)
    lines = extracted.source.splitlines()
    assert lines[0] == "from __future__ import annotations"
    assert lines[1:3] == ["import numpy as np", "np.random.seed(0)"]
    assert lines[3] == "@staticmethod" and extracted.line_map[4] == (3, 3)
    namespace = run(extracted)
    with pytest.raises(ZeroDivisionError) as caught:
        namespace["loss"](2)
    frame = traceback.extract_tb(caught.value.__traceback__)[-1]
    assert frame.filename == "<notebook>" and lines[frame.lineno - 1].strip().startswith("return np.log")
    assert extracted.line_map[frame.lineno] == (4, 3)
    assert extracted.where(frame.lineno) == "cell 4, line 3"
    assert extracted.where(10_000) == "line 10000"
    assert set(extracted.line_map) == set(range(1, len(lines) + 1))
    assert skipped_at(extracted, "cell 3, line 1").startswith("cell 3, line 1: print('training')")


def test_entry_points_conditionals_and_try_blocks(tmp_path):
    path = write(tmp_path, new_code_cell(
        "try:\n"
        "    import cupy as xp\n"
        "except ImportError:\n"
        "    import numpy as xp\n"
        "try:\n"
        "    data = load()\n"
        "except OSError:\n"
        "    data = None\n"
        "if __name__ == '__main__':\n"
        "    main()\n"
        "with open('f') as f:\n"
        "    text = f.read()\n"
        "'''a cell docstring: skipped silently'''\n"
        "while True:\n"
        "    pass\n"
    ))
    extracted = extract_definitions(path, available=sandbox)
    assert extracted.source.startswith("try:\n    import cupy as xp\nexcept ImportError:\n    import numpy as xp\n")
    assert "data" not in extracted.source and "main" not in extracted.source
    assert places(extracted) == [
        "cell 1, line 5", "cell 1, line 9", "cell 1, line 11", "cell 1, line 14"]
    assert run(extracted)["xp"] is (sys.modules.get("cupy") or np)


def test_notes_are_short_and_printable(tmp_path):
    long_call = "train(" + ", ".join(f"arg{i}" for i in range(100)) + ")"
    path = write(tmp_path, new_code_cell(f"{long_call}\nprint('\x1b[2J\\rPASS')\nx = '\u202e' + y\n"))
    extracted = extract_definitions(path, available=sandbox)
    assert len(extracted.skipped) == 3
    for note in extracted.skipped:
        assert len(note) <= NOTE_LIMIT
        assert note.isprintable() and "PASS" not in note
    assert "…" in extracted.skipped[0] and extracted.skipped[0].endswith("— not a definition")


def test_not_a_notebook_raises_with_the_file_name(tmp_path):
    bad_json = tmp_path / "student_a.ipynb"
    bad_json.write_text('{\n  "cells": [],\n  oops\n}')
    with pytest.raises(NotebookError, match=r"^student_a\.ipynb: not a Jupyter notebook: invalid JSON at line 3$"):
        extract_definitions(bad_json)
    junk = tmp_path / "junk.ipynb"
    junk.write_bytes(bytes(range(256)) * 10)
    with pytest.raises(NotebookError, match=r"junk\.ipynb: not a Jupyter notebook"):
        extract_definitions(junk)
    not_a_notebook = tmp_path / "list.ipynb"
    not_a_notebook.write_text("[1, 2, 3]")
    with pytest.raises(NotebookError, match=r"list\.ipynb: not a Jupyter notebook"):
        extract_definitions(not_a_notebook)
    deep = tmp_path / "deep.ipynb"
    deep.write_text("[" * 100_000)
    with pytest.raises(NotebookError, match="deep.ipynb"):
        extract_definitions(deep)
    with pytest.raises(NotebookError, match="missing.ipynb: cannot open: No such file"):
        extract_definitions(tmp_path / "missing.ipynb")
    assert issubclass(NotebookError, ValueError)


def test_other_languages_and_oversized_notebooks_refused(tmp_path):
    r_notebook = write(tmp_path, new_code_cell("x <- 1"), name="r.ipynb",
                       kernelspec={"name": "ir", "language": "R", "display_name": "R"})
    with pytest.raises(NotebookError, match=r"r\.ipynb: not graded: a r notebook"):
        extract_definitions(r_notebook)
    many = write(tmp_path, *[new_code_cell("x = 1") for _ in range(2001)], name="many.ipynb", validate=False)
    with pytest.raises(NotebookError, match="many.ipynb: not graded: 2001 cells"):
        extract_definitions(many)
    big = write(tmp_path, new_code_cell("x = 1\n" * 400_000), name="big.ipynb")
    with pytest.raises(NotebookError, match="big.ipynb: not graded: more than 2 MB"):
        extract_definitions(big)


def test_hostile_cells_are_skipped_not_fatal(tmp_path):
    cells = [
        new_code_cell("-" * 100_000 + "1"),  # the parser's own recursion limit
        new_code_cell("Z = " + "[" * 100 + "]" * 100),  # parses, too deep to judge as a constant
        new_code_cell("s = 'a\x00b'\n"),  # a null byte in the source
        new_code_cell("def f():\n    break\n"),  # parses, the compiler refuses it
        new_code_cell("from __future__ import braces"),
        new_code_cell("import numpy as np\nOK = 1\n"),
    ]
    path = write(tmp_path, *cells)
    raw = json.loads(path.read_text())
    raw["cells"].append({"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None, "source": 7})
    raw["cells"].append({"cell_type": "code", "metadata": {}, "outputs": [], "source": "T = '\ud800'"})
    path.write_text(json.dumps(raw))
    extracted = extract_definitions(path, available=sandbox)
    assert extracted.source == "import numpy as np\nOK = 1\n"
    assert extracted.line_map == {1: (6, 1), 2: (6, 2)}
    assert [place.split(",")[0] for place in places(extracted)] == [f"cell {n}" for n in (1, 2, 3, 4, 5, 7, 8)]
    assert "nested too deeply" in extracted.skipped[0]
    assert "'break' outside loop" in extracted.skipped[3]
    assert "not text" in extracted.skipped[5]
    assert all(len(note) <= NOTE_LIMIT and note.isprintable() for note in extracted.skipped)


def test_nothing_in_the_notebook_runs_while_extracting(tmp_path):
    marker = tmp_path / "ran"
    path = write(tmp_path, new_code_cell(
        f"open({str(marker)!r}, 'w').write('x')\n"
        f"import os; os.system('touch {marker}')\n"
        f"X = __import__('os').system('touch {marker}')\n"
        "def f(x=__import__('os').system('touch /tmp/never')):\n    pass\n"
        "import never_installed_module_xyz\n"
    ))
    extracted = extract_definitions(path)
    assert not marker.exists()
    assert "never_installed_module_xyz" not in sys.modules
    assert "def f(" in extracted.source and "import never_installed_module_xyz" in extracted.source


def test_future_imports_go_first(tmp_path):
    path = write(
        tmp_path,
        new_code_cell("import numpy as np\nLR = 0.1"),
        new_code_cell("from __future__ import annotations\ndef f(x: Undefined) -> np.ndarray:\n    return x"),
    )
    extracted = extract_definitions(path, available=sandbox)
    assert extracted.source.splitlines()[:3] == ["from __future__ import annotations", "import numpy as np", "LR = 0.1"]
    assert extracted.line_map[1] == (2, 1) and extracted.line_map[2] == (1, 1) and extracted.line_map[4] == (2, 2)
    assert run(extracted)["f"].__annotations__ == {"x": "Undefined", "return": "np.ndarray"}


# ----------------------------------------------------------------------------- notebooks as students write them
STUDENT_STYLE = [
    new_markdown_cell("## Activations"),
    new_code_cell(
        "import numpy as np\n"
        "relu = lambda z: np.maximum(z, 0)\n"
        "relu_grad = lambda z: (z > 0).astype(float)\n"
        "def tanh_grad(z):\n"
        "    return 1 - np.tanh(z) ** 2\n"
        "ACT = {'relu': (relu, relu_grad), 'tanh': (np.tanh, tanh_grad)}\n"
        "PAIRS = (relu, relu_grad)\n"
        "EPS = np.finfo(np.float64).eps * 10\n"
        "SCALE = np.sqrt(2.0 / 784)\n"
        "shift = lambda z, by=np.float64(1.0): z - by\n"
    ),
    new_code_cell(
        "class MLP:\n"
        "    def __init__(self, sizes, activation='relu'):\n"
        "        self.f, self.df = ACT[activation]\n"
        "        self.params = {'W1': np.full((sizes[0], sizes[1]), SCALE)}\n"
    ),
    new_code_cell(
        "def forward(self, X):\n"
        "    return self.f(X @ self.params['W1'])\n"
        "MLP.forward = forward\n"
        "def loss_and_grads(self, X, y):\n"
        "    return float(self.forward(X).sum()), {}\n"
        "MLP.loss_and_grads = loss_and_grads\n"
        "setattr(MLP, 'n_layers', 1)\n"
        "ACT['identity'] = (lambda z: z, lambda z: np.ones_like(z))\n"
        "make_mlp = lambda sizes, activation: MLP(sizes, activation)\n"
    ),
    new_code_cell("net = make_mlp([2, 3], 'relu')\nMLP.trained = train(net)\nnet.extra = 1\nunknown.attr = 2"),
]


def test_lambdas_dicts_and_attached_methods_are_kept(tmp_path):
    extracted = extract_definitions(write(tmp_path, *STUDENT_STYLE), available=sandbox)
    namespace = run(extracted)
    net = namespace["make_mlp"]([2, 3], "relu")
    assert net.forward(np.array([[1.0, -2.0]])).shape == (1, 3)
    assert net.loss_and_grads(np.ones((1, 2)), None)[0] == pytest.approx(6 * (2.0 / 784) ** 0.5)
    assert namespace["MLP"].n_layers == 1 and set(namespace["ACT"]) == {"relu", "tanh", "identity"}
    assert namespace["PAIRS"][0] is namespace["relu"] and namespace["EPS"] > 0 and namespace["shift"](3.0) == 2.0
    assert {"make_mlp", "relu", "ACT", "MLP", "forward"} <= extracted.names and extracted.why_missing("make_mlp") is None
    # The last cell uses the network (training, an attribute of an object made here, an unknown name): skipped.
    assert places(extracted) == [f"cell 5, line {n}" for n in (1, 2, 3, 4)]
    assert "net" not in namespace and not hasattr(namespace["MLP"], "trained")


def test_an_attribute_of_a_name_not_defined_here_is_skipped(tmp_path):
    path = write(tmp_path, new_code_cell("import numpy as np\nnp.seterr = None\nX = 1\nX.attr = 2\nnp.x[0] = 1"))
    extracted = extract_definitions(path, available=sandbox)
    assert extracted.source == "import numpy as np\nX = 1\n"
    assert places(extracted) == ["cell 1, line 2", "cell 1, line 4", "cell 1, line 5"]


def test_a_syntax_error_that_hides_the_factory_is_the_error(tmp_path):
    path = write(
        tmp_path,
        new_code_cell("import numpy as np"),
        new_code_cell("def relu(z):\n    return np.maximum(z, 0)"),
        new_code_cell("X = 1\n\ndef make_mlp(sizes, activation):\n    return MLP(sizes activation)"),
        new_code_cell("def broken(:\n    pass"),
    )
    extracted = extract_definitions(path, available=sandbox)
    assert [str(p) for p in extracted.syntax_errors] == [
        "cell 3, line 4: SyntaxError: invalid syntax. Perhaps you forgot a comma?",
        "cell 4, line 1: SyntaxError: invalid syntax"]
    assert extracted.why_missing("relu") is None
    assert extracted.why_missing("make_mlp") == (
        "cell 3, line 4: SyntaxError: invalid syntax. Perhaps you forgot a comma? "
        "(the factory 'make_mlp' is defined in no cell that parses)")
    # No cell defines it, broken or not: the syntax errors do not explain it.
    assert extracted.why_missing("factory") is None


def test_python2_cells_are_named(tmp_path):
    path = write(tmp_path, new_code_cell("import numpy as np\n\nprint 'loss', 1.0"),
                 new_code_cell("def make_mlp(sizes, activation):\n    exec 'x = 1'\n"))
    extracted = extract_definitions(path, available=sandbox)
    assert skipped_at(extracted, "cell 1, line 3").endswith("Python 2 syntax (print statement), cell skipped")
    assert extracted.why_missing("make_mlp") == ("cell 2, line 2: Python 2 syntax (exec statement) "
                                                 "(the factory 'make_mlp' is defined in no cell that parses)")


def test_a_skipped_statement_that_binds_the_factory_is_named(tmp_path):
    path = write(tmp_path, new_code_cell("import numpy as np\nfrom mylib import make_mlp as imported"),
                 new_code_cell("make_mlp = build_factory(CONFIG)"), new_code_cell("from lib import *"))
    extracted = extract_definitions(path, available=sandbox)
    assert extracted.why_missing("make_mlp") == (
        "cell 2, line 1: make_mlp = build_factory(CONFIG) — not a definition (it binds the factory 'make_mlp', "
        "and no kept statement does: the grader keeps imports, functions, classes and constants)")
    assert extracted.why_missing("imported").startswith("cell 1, line 2: from mylib import make_mlp as imported — mylib")
    assert extracted.why_missing("np") is None and extracted.why_missing("nowhere") is None
    starred = extract_definitions(path)  # every module available: the star import may bind anything
    assert starred.star_import and starred.why_missing("nowhere") is None


def test_from_notebook_reports_the_syntax_error_as_the_load_error(tmp_path):
    from compare.grader.sandbox.errors import StudentError
    from compare.grader.submissions.submission import resolve

    write(tmp_path, new_markdown_cell("# HW"), new_code_cell("import numpy as np"),
          new_code_cell("def make_mlp(sizes, activation):\n    if sizes\n        return None"), name="alice.ipynb")
    with pytest.raises(StudentError) as caught:
        resolve(f"{tmp_path / 'alice.ipynb'}:make_mlp")
    assert caught.value.kind == "load"
    assert str(caught.value) == ("alice.ipynb cell 3, line 2: SyntaxError: expected ':' "
                                 "(the factory 'make_mlp' is defined in no cell that parses)")


# ----------------------------------------------------------------------------- hostile notebooks
@pytest.mark.parametrize("document", [
    {"cells": 3},
    {"cells": "code"},
    {"cells": None, "nbformat": 4},
    {"nbformat": "four", "cells": []},
    {"nbformat": 4, "nbformat_minor": -1, "cells": [{"cell_type": {"a": 1}}], "metadata": []},
    {"nbformat": 4, "cells": [{"cell_type": "code", "source": [1, 2]}], "metadata": {"kernelspec": 5}},
    {"nbformat": 3, "worksheets": 5},
    {"nbformat": 3, "worksheets": [{"cells": [{"cell_type": "code", "input": 7}]}]},
    [1, 2, 3],
    "text",
    12,
    None,
])
def test_any_json_shape_is_a_notebook_error_or_extracted(tmp_path, document):
    path = tmp_path / "hw.ipynb"
    path.write_text(json.dumps(document))
    try:
        extracted = extract_definitions(path, available=sandbox)
    except NotebookError as error:
        assert str(error).startswith("hw.ipynb: ") and "\n" not in str(error) and len(str(error)) < 200
    else:
        assert extracted.source == ""


def test_links_fifos_and_huge_notebooks_are_refused(tmp_path):
    import os

    link = tmp_path / "link.ipynb"
    link.symlink_to("/dev/zero")
    with pytest.raises(NotebookError, match=r"^link\.ipynb: a symbolic link"):
        extract_definitions(link)
    fifo = tmp_path / "fifo.ipynb"
    os.mkfifo(fifo)
    with pytest.raises(NotebookError, match=r"^fifo\.ipynb: not a regular file \(a FIFO\)"):
        extract_definitions(fifo)
    sparse = tmp_path / "sparse.ipynb"
    sparse.touch()
    os.truncate(sparse, 100 * 1024**3)
    with pytest.raises(NotebookError, match=r"^sparse\.ipynb: 100 GiB"):
        extract_definitions(sparse)


def test_hostile_cells_of_issue_15(tmp_path):
    path = write(tmp_path, new_code_cell("x = " + "not " * 100_000 + "1"), new_code_cell("\n" * 150_000 + "OK = 1"))
    extracted = extract_definitions(path, available=sandbox)
    assert extracted.source == "OK = 1\n" and extracted.line_map == {1: (2, 150_001)}
    assert extracted.syntax_errors[0].cause == "nested too deeply for Python to parse"


# ----------------------------------------------------------------------------- the caps, at their bound and one over
def test_the_cell_count_at_its_cap_is_read(tmp_path):
    from compare.grader.submissions.notebook import MAX_CELLS

    cells = [new_code_cell("OK = 1"), *[new_markdown_cell("x") for _ in range(MAX_CELLS - 1)]]
    assert MAX_CELLS == 2000 and extract_definitions(write(tmp_path, *cells, validate=False)).source == "OK = 1\n"


@pytest.mark.parametrize("split", [False, True])
def test_the_source_size_at_its_cap_and_one_over(tmp_path, split):
    from compare.grader.submissions.notebook import MAX_SOURCE_CHARS

    assert MAX_SOURCE_CHARS == 2 * 1024 * 1024
    text = "x" * (MAX_SOURCE_CHARS - len("OK = 1"))  # every cell counts, markdown too
    markdown = new_markdown_cell(text)
    if split:  # a source as a list of lines counts its lines (a source that is not text counts nothing)
        markdown.source = [text[:1000], text[1000:]]
    path = write(tmp_path, new_code_cell("OK = 1"), markdown)
    raw = json.loads(path.read_text())
    raw["cells"].append({"cell_type": "raw", "metadata": {}, "source": 7})  # not text: counts nothing
    path.write_text(json.dumps(raw))
    assert extract_definitions(path).source == "OK = 1\n"
    raw["cells"][1]["source"] = [text, "y"] if split else text + "y"
    path.write_text(json.dumps(raw))
    with pytest.raises(NotebookError, match=r"^hw\.ipynb: not graded: more than 2 MB of source$"):
        extract_definitions(path)


def test_a_cell_whose_source_is_not_text_is_noted_exactly(tmp_path):
    path = write(tmp_path, new_markdown_cell("# HW"), new_code_cell("OK = 1"))
    raw = json.loads(path.read_text())
    raw["cells"].append({"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
                         "source": {"lines": ["x = 1"]}})
    path.write_text(json.dumps(raw))
    assert extract_definitions(path).skipped == ["cell 3: source is not text, cell skipped"]


def test_a_notebook_that_exhausts_the_parser_says_so(tmp_path, monkeypatch):
    import nbformat.reader

    path = write(tmp_path, new_code_cell("OK = 1"))
    for error in (RecursionError, MemoryError):
        def reads(text, error=error):
            raise error()

        monkeypatch.setattr(nbformat.reader, "reads", reads)
        with pytest.raises(NotebookError, match=r"^hw\.ipynb: not a Jupyter notebook: JSON nested too deeply$"):
            extract_definitions(path)


def test_deeply_nested_json_is_named_as_such(tmp_path):
    deep = tmp_path / "deep.ipynb"
    deep.write_text('{"cells": ' + "[" * 100_000)
    with pytest.raises(NotebookError, match=r"^deep\.ipynb: not a Jupyter notebook: JSON nested too deeply$"):
        extract_definitions(deep)


# ----------------------------------------------------------------------------- a .py file read as one cell
MODULE_THAT_TRAINS = (
    "import numpy as np\n"
    "import pandas as pd\n"
    "def make_mlp(sizes, activation):\n"
    "    return sizes\n"
    "data = np.loadtxt('train.csv')\n"
    "print('cell 1, epoch 1')\n"
)


def test_a_python_module_keeps_its_definitions_and_notes_lines(tmp_path):
    from compare.grader.submissions.notebook import extract_module_definitions

    path = tmp_path / "hw.py"
    path.write_text(MODULE_THAT_TRAINS)
    extracted = extract_module_definitions(path, available=sandbox)
    assert extracted.source == "import numpy as np\ndef make_mlp(sizes, activation):\n    return sizes\n"
    assert extracted.line_map == {1: (1, 1), 2: (1, 3), 3: (1, 4)}
    assert extracted.skipped == [
        "line 2: import pandas as pd — pandas is not available for grading",
        "line 5: data = np.loadtxt('train.csv') — not a definition",
        "line 6: print('cell 1, epoch 1') — not a definition",  # only the place loses "cell 1, "
    ]
    # By default every module counts as available.
    assert extract_module_definitions(path).source.startswith("import numpy as np\nimport pandas as pd\n")


def test_a_python_module_is_not_read_as_ipython(tmp_path):
    from compare.grader.submissions.notebook import extract_module_definitions

    path = tmp_path / "hw.py"
    path.write_text("%%time\nimport numpy as np\n")
    extracted = extract_module_definitions(path)
    assert extracted.source == ""
    assert extracted.skipped == ["line 1: syntax error (invalid syntax), cell skipped"]
    path.write_text("import numpy as np\n!pip install torch\n")
    assert extract_module_definitions(path).skipped == ["line 2: syntax error (invalid syntax), cell skipped"]
    path.write_text("import numpy as np\nX = np.loadtxt('d')\n%time train()\n")  # the whole file is one cell
    extracted = extract_module_definitions(path)
    assert extracted.source == ""
    assert extracted.skipped == ["line 3: syntax error (invalid syntax), cell skipped"]


def test_a_python_module_that_cannot_be_read_is_a_notebook_error(tmp_path):
    from compare.grader.submissions.notebook import MAX_SOURCE_CHARS, extract_module_definitions

    (tmp_path / "link.py").symlink_to("/dev/zero")
    with pytest.raises(NotebookError, match=r"^link\.py: a symbolic link"):
        extract_module_definitions(tmp_path / "link.py")
    big = tmp_path / "big.py"
    big.write_text("#" * MAX_SOURCE_CHARS)
    assert extract_module_definitions(big).source == ""
    big.write_text("#" * (MAX_SOURCE_CHARS + 1))
    with pytest.raises(NotebookError, match=r"^big\.py: 2 MiB, over the 2 MiB"):
        extract_module_definitions(big)


def test_what_nbformat_says_is_cut_at_100_characters_and_never_empty(tmp_path, monkeypatch):
    import nbformat.reader

    path = tmp_path / "hw.ipynb"
    path.write_text(json.dumps({"nbformat": "x" * 300, "cells": []}))
    with pytest.raises(NotebookError) as caught:
        extract_definitions(path)
    why = ("Unsupported nbformat version " + "x" * 300)[:99] + "…"
    assert str(caught.value) == f"hw.ipynb: not a Jupyter notebook: {why}"

    def reads(text):
        raise ValueError()  # an error without a message: its kind is said

    monkeypatch.setattr(nbformat.reader, "reads", reads)
    with pytest.raises(NotebookError, match=r"^hw\.ipynb: not a Jupyter notebook: ValueError$"):
        extract_definitions(path)


def test_cells_that_are_an_empty_string_are_no_list_of_cells(tmp_path):
    path = tmp_path / "hw.ipynb"
    path.write_text(json.dumps({"nbformat": 4, "nbformat_minor": 4, "metadata": {}, "cells": ""}))
    with pytest.raises(NotebookError, match=r"^hw\.ipynb: not a Jupyter notebook: no list of cells$"):
        extract_definitions(path)


def test_the_language_is_read_from_the_kernel_or_from_language_info(tmp_path):
    def notebook(name, **metadata):
        path = tmp_path / name
        path.write_text(json.dumps({"nbformat": 4, "nbformat_minor": 4, "metadata": metadata,
                                    "cells": [{"cell_type": "code", "metadata": {}, "outputs": [],
                                               "execution_count": None, "source": "x = 1"}]}))
        return path

    with pytest.raises(NotebookError, match=r"^j\.ipynb: not graded: a julia notebook, not Python$"):
        extract_definitions(notebook("j.ipynb", language_info={"name": " Julia "}))
    python = notebook("p.ipynb", kernelspec={"name": "py", "language": "python"}, language_info={"name": "R"})
    assert extract_definitions(python).source == "x = 1\n"  # the kernel's language first
    unnamed = notebook("u.ipynb", kernelspec={"name": "k"}, language_info={"name": 3})
    assert extract_definitions(unnamed).source == "x = 1\n"  # nothing said: read as Python


def test_a_cell_that_parses_keeps_its_lines_even_those_that_look_like_ipython(tmp_path):
    cell = 'USAGE = """\n%(prog)s trains the net\n!pip install numpy first\nhelp?\n"""\nX = 1'
    extracted = extract_definitions(write(tmp_path, new_code_cell(cell)), available=sandbox)
    assert extracted.source == cell + "\n" and extracted.skipped == []


def test_a_cell_broken_beyond_its_ipython_lines_is_one_syntax_error(tmp_path):
    path = write(tmp_path, new_code_cell("%matplotlib inline\n!ls data\ndef make_mlp(sizes, activation:\n    pass"))
    extracted = extract_definitions(path, available=sandbox)
    assert extracted.skipped == ["cell 1, line 3: syntax error ('(' was never closed), cell skipped"]
    assert extracted.source == "" and [str(p) for p in extracted.syntax_errors] == [
        "cell 1, line 3: SyntaxError: '(' was never closed"]
