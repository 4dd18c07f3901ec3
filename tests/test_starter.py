"""Starter code as courses distribute it, filled in by a student, graded out of the box.

- A CS231n assignment-1 ``neural_net.py`` begins with ``import matplotlib.pyplot as plt`` and
  ``from past.builtins import xrange`` (neither is in the sandbox): it loads with those modules
  stubbed (``stubs.py``) and passes under ``preset("cs231n")``.
- A notebook written as students write them (lambdas, a dict of activations, methods attached
  after the class, the factory bound as a lambda) passes under the homework's contract.
- Python 2 code gets one line: "Python 2 syntax (print statement) at eve.py:N".

The students are written here, in the shapes real submissions take. The stubs' own behaviour and
how the grader plans them are checked without a worker (quick); a few ``validate`` runs go end
to end.
"""

from __future__ import annotations

import importlib
import json

import pytest

from compare.grader.course.assignment import preset
from compare.grader.sandbox.stubs import SHIMS, Stub, StubModule, UnavailableModule
from compare.grader.submissions.submission import resolve
from compare.validate import validate

# A CS231n assignment-1 two-layer net, the starter's layout and style (two-space indentation,
# xrange from past.builtins, a plotting import it never uses), with the TODOs filled in.
NEURAL_NET = '''\
from __future__ import print_function

import numpy as np
import matplotlib.pyplot as plt
from past.builtins import xrange

class TwoLayerNet(object):
  """
  A two-layer fully-connected neural network: input - fully connected layer - ReLU -
  fully connected layer - softmax, trained with a softmax loss and L2 regularization.
  """

  def __init__(self, input_size, hidden_size, output_size, std=1e-4):
    self.params = {}
    self.params['W1'] = std * np.random.randn(input_size, hidden_size)
    self.params['b1'] = np.zeros(hidden_size)
    self.params['W2'] = std * np.random.randn(hidden_size, output_size)
    self.params['b2'] = np.zeros(output_size)

  def loss(self, X, y=None, reg=0.0):
    W1, b1 = self.params['W1'], self.params['b1']
    W2, b2 = self.params['W2'], self.params['b2']
    N, D = X.shape

    hidden = np.maximum(0, X.dot(W1) + b1)
    scores = hidden.dot(W2) + b2
    if y is None:
      return scores

    shifted = scores - np.max(scores, axis=1, keepdims=True)
    log_probs = shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))
    loss = -np.sum(log_probs[np.arange(N), y]) / N
    loss += reg * (np.sum(W1 * W1) + np.sum(W2 * W2))

    grads = {}
    dscores = np.exp(log_probs)
    dscores[np.arange(N), y] -= 1
    dscores /= N
    grads['W2'] = hidden.T.dot(dscores) + 2 * reg * W2
    grads['b2'] = np.sum(dscores, axis=0)
    dhidden = dscores.dot(W2.T)
    dhidden[hidden <= 0] = 0
    grads['W1'] = X.T.dot(dhidden) + 2 * reg * W1
    grads['b1'] = np.sum(dhidden, axis=0)
    return loss, grads

  def train(self, X, y, X_val, y_val, learning_rate=1e-3, learning_rate_decay=0.95,
            reg=5e-6, num_iters=100, batch_size=200, verbose=False):
    num_train = X.shape[0]
    iterations_per_epoch = max(num_train / batch_size, 1)
    loss_history, train_acc_history, val_acc_history = [], [], []
    for it in xrange(num_iters):
      idx = np.random.choice(num_train, batch_size, replace=True)
      loss, grads = self.loss(X[idx], y=y[idx], reg=reg)
      loss_history.append(loss)
      for name in self.params:
        self.params[name] -= learning_rate * grads[name]
      if verbose and it % 100 == 0:
        print('iteration %d / %d: loss %f' % (it, num_iters, loss))
      if it % iterations_per_epoch == 0:
        train_acc_history.append((self.predict(X[idx]) == y[idx]).mean())
        val_acc_history.append((self.predict(X_val) == y_val).mean())
        learning_rate *= learning_rate_decay
    return {'loss_history': loss_history, 'train_acc_history': train_acc_history,
            'val_acc_history': val_acc_history}

  def predict(self, X):
    return np.argmax(self.loss(X), axis=1)
'''

# The homework's contract in a notebook, as students write one.
NOTEBOOK_CELLS = [
    ("markdown", "# Homework 3: an MLP by hand\nData, activations, the network, training."),
    ("code", "%matplotlib inline\nimport numpy as np\nimport matplotlib.pyplot as plt\nfrom tqdm import tqdm"),
    ("code", "data = np.loadtxt('circles.txt')\nX_train, y_train = data[:, :2], data[:, 2].astype(int)"),
    ("code", "relu = lambda a: np.maximum(a, 0)\n"
             "relu_grad = lambda a: (a > 0).astype(float)\n"
             "tanh_grad = lambda a: 1 - np.tanh(a) ** 2\n"
             "ACTIVATIONS = {'relu': (relu, relu_grad), 'tanh': (np.tanh, tanh_grad)}\n"
             "rng = np.random.default_rng(0)"),
    ("code", "class MLP:\n"
             "    def __init__(self, sizes, activation='relu'):\n"
             "        self.sizes, self.activation = list(sizes), activation\n"
             "        self.f, self.df = ACTIVATIONS[activation]\n"
             "        self.params = {}\n"
             "        for l in range(1, len(sizes)):\n"
             "            bound = 1 / np.sqrt(sizes[l - 1])\n"
             "            self.params[f'W{l}'] = rng.uniform(-bound, bound, (sizes[l], sizes[l - 1]))\n"
             "            self.params[f'b{l}'] = np.zeros(sizes[l])"),
    ("code", "def forward(self, X):\n"
             "    hs, pre = [X], []\n"
             "    L = len(self.sizes) - 1\n"
             "    for l in range(1, L + 1):\n"
             "        a = hs[-1] @ self.params[f'W{l}'].T + self.params[f'b{l}']\n"
             "        pre.append(a)\n"
             "        hs.append(self.f(a) if l < L else a)\n"
             "    return hs, pre\n"
             "\n"
             "MLP.forward = forward\n"
             "\n"
             "def loss_and_grads(self, X, y, lambdas):\n"
             "    hs, pre = self.forward(X)\n"
             "    L, K = len(self.sizes) - 1, X.shape[0]\n"
             "    o = hs[-1] - hs[-1].max(axis=1, keepdims=True)\n"
             "    log_p = o - np.log(np.exp(o).sum(axis=1, keepdims=True))\n"
             "    loss = -log_p[np.arange(K), y].mean()\n"
             "    d = np.exp(log_p)\n"
             "    d[np.arange(K), y] -= 1\n"
             "    d /= K\n"
             "    grads = {}\n"
             "    for l in range(L, 0, -1):\n"
             "        W = self.params[f'W{l}']\n"
             "        l1, l2 = lambdas[2 * l - 2], lambdas[2 * l - 1]\n"
             "        loss += l1 * np.abs(W).sum() + l2 * (W ** 2).sum()\n"
             "        grads[f'W{l}'] = d.T @ hs[l - 1] + l1 * np.sign(W) + 2 * l2 * W\n"
             "        grads[f'b{l}'] = d.sum(axis=0)\n"
             "        if l > 1:\n"
             "            d = (d @ W) * self.df(pre[l - 2])\n"
             "    return loss, grads\n"
             "\n"
             "MLP.loss_and_grads = loss_and_grads"),
    ("code", "make_mlp = lambda sizes, activation='relu': MLP(sizes, activation)"),
    ("code", "net = make_mlp([2, 10, 2], 'relu')\n"
             "for epoch in tqdm(range(50)):\n"
             "    loss, grads = net.loss_and_grads(X_train, y_train, [0, 1e-4, 0, 1e-4])\n"
             "plt.plot(loss)"),
]


def write_notebook(path, cells):
    document = {"nbformat": 4, "nbformat_minor": 5, "metadata": {"kernelspec": {"language": "python"}},
                "cells": [{"cell_type": kind, "metadata": {}, "source": source,
                           **({"outputs": [], "execution_count": None} if kind == "code" else {})}
                          for kind, source in cells]}
    path.write_text(json.dumps(document))
    return path


# ----------------------------------------------------------------------------- the stubs, in this process
def test_a_stub_module_loads_and_raises_only_when_called(stub_finder):
    stub_finder(["plotlib_not_here"])
    plt = importlib.import_module("plotlib_not_here.pyplot")
    assert isinstance(plt, StubModule) and isinstance(plt.cm.viridis, Stub)
    plt.rcParams["figure.figsize"] = (10, 8)  # configuring it at import does nothing
    plt.style.theme = "dark"
    with pytest.raises(UnavailableModule, match=r"^plotlib_not_here\.pyplot\.plot\(\) was called, but "
                                                r"plotlib_not_here is not available to graded code"):
        plt.plot([1, 2])
    with pytest.raises(UnavailableModule, match="a class derives from plotlib_not_here.Base"):
        class Model(importlib.import_module("plotlib_not_here").Base):
            pass
    assert issubclass(UnavailableModule, ImportError)
    with pytest.raises(AttributeError):
        plt.__all__  # noqa: B018 - what `from m import *` probes stays absent
    namespace = {}
    exec("from plotlib_not_here import *", namespace)  # binds its imported submodules, never a stub
    assert set(namespace) == {"__builtins__", "pyplot"} and namespace["pyplot"] is plt


def test_python2_shims_are_the_real_thing(stub_finder):
    stub_finder(["past", "six", "future"])
    from past.builtins import basestring, xrange  # noqa: PLC0415
    from past.utils import old_div  # noqa: PLC0415

    assert xrange is range and basestring is str and old_div(7, 2) == 3 and old_div(7.0, 2) == 3.5
    six = importlib.import_module("six")
    assert six.moves.range is range and six.PY3 and six.string_types == (str,)
    from six.moves import xrange as six_xrange  # noqa: PLC0415

    assert six_xrange is range
    standard_library = importlib.import_module("future.standard_library")
    assert standard_library.install_aliases() is None
    assert isinstance(importlib.import_module("past.builtins").execfile, Stub)  # not shimmed: a stub
    assert set(SHIMS) >= {"past.builtins", "six.moves", "future.builtins"}


def test_denied_and_installed_modules_are_never_stubbed(stub_finder):
    stub_finder(["json", "torch_like_denied"], deny=["torch_like_denied"])
    assert not isinstance(importlib.import_module("json.decoder"), StubModule)  # found before the stub finder
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("torch_like_denied")


# ----------------------------------------------------------------------------- planning them
def test_the_grader_stubs_what_the_sandbox_lacks_and_says_so(tmp_path):
    (tmp_path / "neural_net.py").write_text(NEURAL_NET)
    sub = resolve(f"{tmp_path / 'neural_net.py'}:TwoLayerNet", alone=True)
    assert sub.stubs == ("matplotlib", "past")
    assert "stubbed: matplotlib.pyplot (not available to graded code; used only if called)" in sub.notes
    assert any(note.startswith("Python 2 compatibility: past.builtins") for note in sub.notes)


def test_denied_guarded_own_and_allowed_imports_are_not_stubbed(tmp_path):
    (tmp_path / "helpers.py").write_text("import seaborn\n")
    (tmp_path / "layers").mkdir()  # a namespace package of the submission
    (tmp_path / "hw.py").write_text(
        "import numpy as np\nimport torch\nimport jax.numpy as jnp\nfrom manual import MLP\nimport helpers\n"
        "from layers import affine\nfrom . import sibling\nimport scipy.special\n"
        "try:\n    from tqdm import tqdm\nexcept ImportError:\n    tqdm = lambda x: x\n"
        "def plot():\n    import pandas as pd\n    return pd\n")
    alone = resolve(f"{tmp_path / 'hw.py'}:make_mlp", alone=True)
    assert alone.stubs == ("pandas", "scipy")  # what a function imports is stubbed too: used only if called
    assert resolve(f"{tmp_path / 'hw.py'}:make_mlp").stubs == ("pandas", "scipy", "seaborn")  # its folder's files
    assert resolve(f"{tmp_path / 'hw.py'}:make_mlp", allow_imports=["scipy"], alone=True).stubs == ("pandas",)


def test_a_notebook_keeps_skipping_its_unavailable_imports(tmp_path):
    sub = resolve(f"{write_notebook(tmp_path / 'hw.ipynb', NOTEBOOK_CELLS)}:make_mlp")
    assert sub.stubs == ()
    assert any("matplotlib.pyplot is not available for grading" in note for note in sub.notes)
    (tmp_path / "helpers.py").write_text("import seaborn as sns\n")  # its own module: stubbed there
    assert resolve(f"{tmp_path / 'hw.ipynb'}:make_mlp").stubs == ("seaborn",)


def test_generated_sources_are_planned_from_their_text(tmp_path):
    from compare.grader.submissions.submission import Submission, plan_stubs

    (tmp_path / "Bob.PY").write_text("import tqdm\n")
    sub = Submission("Bob.PY:make_mlp", tmp_path, "make_mlp", file="Bob.py", only=("Bob.PY",),
                     generated={"Bob.py": "import tqdm\nfrom IPython.display import display\n"})
    plan_stubs(sub)
    assert sub.stubs == ("IPython", "tqdm")


# ----------------------------------------------------------------------------- end to end
def test_cs231n_starter_filled_in_passes(tmp_path):
    (tmp_path / "neural_net.py").write_text(NEURAL_NET)
    report = validate(str(tmp_path / "neural_net.py"), assignment=preset("cs231n"))
    assert report.status == "pass", (report.error, [f.message for f in report.diagnosis])
    assert "stubbed: matplotlib.pyplot (not available to graded code; used only if called)" in report.notes


def test_a_notebook_as_students_write_it_passes(tmp_path):
    path = write_notebook(tmp_path / "alice.ipynb", NOTEBOOK_CELLS)
    report = validate(f"{path}:make_mlp")
    assert report.status == "pass", (report.error, [f.message for f in report.diagnosis])
    assert {case.case.activation for case in report.cases} >= {"relu", "tanh"}
    assert any(note.startswith("cell 8, line 1: net = make_mlp") for note in report.notes)


def test_a_stub_used_by_graded_code_names_the_module(tmp_path):
    source = NEURAL_NET.replace("    N, D = X.shape\n", "    N, D = X.shape\n    plt.figure()\n")
    (tmp_path / "bob.py").write_text(source)
    report = validate(str(tmp_path / "bob.py"), assignment=preset("cs231n"))
    assert report.status == "error" and report.error_kind == "raised"
    assert "matplotlib.pyplot.figure() was called, but matplotlib is not available to graded code" in report.error
    assert f"(bob.py:{source.splitlines().index('    plt.figure()') + 1} in loss: plt.figure())" in report.error


def test_python2_code_gets_one_line(tmp_path):
    source = NEURAL_NET.replace("from __future__ import print_function\n", "").replace(
        "print('iteration %d / %d: loss %f' % (it, num_iters, loss))",
        "print 'iteration %d / %d: loss %f' % (it, num_iters, loss)")
    line = source.splitlines().index("        print 'iteration %d / %d: loss %f' % (it, num_iters, loss)") + 1
    (tmp_path / "eve.py").write_text(source)
    report = validate(str(tmp_path / "eve.py"), assignment=preset("cs231n"))
    assert report.status == "error" and report.error_kind == "load"
    assert report.error == f"Python 2 syntax (print statement) at eve.py:{line}"


def test_python2_print_chevron_is_named_when_it_runs(tmp_path):
    source = NEURAL_NET.replace("    N, D = X.shape\n", "    N, D = X.shape\n    import sys\n    print >>sys.stderr, N\n")
    (tmp_path / "frank.py").write_text(source)
    report = validate(str(tmp_path / "frank.py"), assignment=preset("cs231n"))
    assert report.status == "error"
    line = source.splitlines().index("    print >>sys.stderr, N") + 1
    assert report.error.startswith(f"loss(X, y, reg) raised Python 2 syntax (print >>file) at frank.py:{line} [case ")


def test_a_stub_called_at_import_leaves_the_definitions_graded(tmp_path):
    source = NEURAL_NET.replace("from past.builtins import xrange\n",
                                "from past.builtins import xrange\nplt.style.use('ggplot')\n")
    (tmp_path / "hank.py").write_text(source)
    report = validate(str(tmp_path / "hank.py"), assignment=preset("cs231n"))
    assert report.status == "pass", report.error
    first = next(note for note in report.notes if "graded on its definitions only" in note)
    assert "matplotlib.pyplot.style.use() was called" in first
    assert any("plt.style.use('ggplot') — not a definition" in note for note in report.notes)


def test_a_notebook_whose_factory_cell_does_not_parse_says_where(tmp_path):
    cells = [*NOTEBOOK_CELLS[:6], ("code", "make_mlp = lambda sizes, activation='relu': MLP(sizes activation)")]
    path = write_notebook(tmp_path / "ivan.ipynb", cells)
    report = validate(f"{path}:make_mlp")
    assert report.status == "error" and report.error_kind == "load"
    assert report.error == ("ivan.ipynb cell 7, line 1: SyntaxError: invalid syntax. Perhaps you forgot a comma? "
                            "(the factory 'make_mlp' is defined in no cell that parses)")
