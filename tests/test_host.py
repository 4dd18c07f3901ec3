"""compare.grader.sandbox.host: what a student is told when the code breaks the contract.

The host runs inside the worker; here it is called in this process on small objects shaped like
real submissions (trusted code: these are the tests' own), so that every message can be pinned
quickly. Each test says what the student reads: the kind of error and the words that name the
bad value.
"""

from __future__ import annotations

import types

import numpy as np
import pytest

from compare.grader.sandbox import host as H
from compare.grader.sandbox.errors import StudentError
from compare.grader.sandbox.host import Host

DEFAULT = object()


class Net:
    """A student's object: params (out, in) and a method that returns whatever it was told to."""

    def __init__(self, params=None, result=DEFAULT):
        self.params = {"W1": np.ones((2, 3)), "b1": np.zeros(2)} if params is None else params
        self.result = (0.5, {"W1": np.ones((2, 3)), "b1": np.zeros(2)}) if result is DEFAULT else result

    def loss_and_grads(self, X, y, lambdas):
        return self.result


def made(obj=None, **kwargs) -> Host:
    host = Host(lambda *args: obj if obj is not None else Net(**kwargs))
    host.make("k", "make_mlp((3, 2), 'relu')", [(3, 2), "relu"], "loss_and_grads")
    return host


def refused(kind: str, *phrases: str):
    """Context: a StudentError of ``kind`` whose message holds every phrase."""
    class Check:
        def __enter__(self):
            return self

        def __exit__(self, exc_type, error, tb):
            assert exc_type is StudentError, f"expected a StudentError, got {exc_type}: {error}"
            assert error.kind == kind, (error.kind, str(error))
            for phrase in phrases:
                assert phrase in str(error), (phrase, str(error))
            self.error = error
            return True

    return Check()


X = np.arange(6.0).reshape(2, 3)
Y = np.array([0, 1])


def call(host, X=X, y=Y, lambdas=(0.0, 0.0)):
    return host.call("k", "loss_and_grads", "X, y, lambdas", [X.copy(), y.copy(), list(lambdas)])


# ----------------------------------------------------------------------------- make
def test_make_returns_float64_copies_of_the_params_as_they_are():
    net = Net(params={"W1": np.ones((2, 3), dtype=np.float32), "b1": [1, 2], "c": np.int64(3)})
    host = Host(lambda sizes, activation: net)
    params = host.make("k", "f()", [(3, 2), "relu"], "loss_and_grads")
    assert list(params) == ["W1", "b1", "c"]
    assert all(p.dtype == np.float64 and p.flags.c_contiguous for p in params.values())
    assert params["b1"].tolist() == [1.0, 2.0] and params["c"].shape == ()
    net.params["W1"][0, 0] = 9.0
    assert params["W1"][0, 0] == 1.0  # a copy: the student's later writes do not change what was read
    assert host.objects["k"] is net


def test_make_passes_the_arguments_to_the_factory():
    seen = []
    Host(lambda *args: seen.append(args) or Net()).make("k", "f()", [(3, 2), "tanh"], "loss_and_grads")
    assert seen == [((3, 2), "tanh")]


def test_a_factory_that_raises_is_said_with_its_line():
    def make_mlp(sizes, activation):
        raise RuntimeError("my network is not ready")

    with refused("raised", "make_mlp((3, 2), 'relu') raised RuntimeError: my network is not ready",
                 "test_host.py:") as check:
        Host(make_mlp).make("k", "make_mlp((3, 2), 'relu')", [(3, 2), "relu"], "loss_and_grads")
    assert check.error.exc_type == "RuntimeError"


def test_sys_exit_in_student_code_is_said_not_obeyed():
    def make_mlp(sizes, activation):
        raise SystemExit(3)

    with refused("raised", "raised SystemExit (it called sys.exit(3))"):
        Host(make_mlp).make("k", "f()", [(3, 2), "relu"], "loss_and_grads")


def test_a_forbidden_import_keeps_its_kind():
    class Forbidden(ImportError):
        forbidden = True

    def make_mlp(*args):
        raise Forbidden("imports torch")

    with refused("forbidden", "imports torch"):
        Host(make_mlp).make("k", "f()", [], "loss_and_grads")


@pytest.mark.parametrize("obj, phrase", [
    (None, "returned a NoneType without a `params` dict"),
    (types.SimpleNamespace(loss_and_grads=lambda *a: None), "without a `params` dict"),
    (types.SimpleNamespace(params=[1, 2], loss_and_grads=print), "the `params` of f() must be a dict, got list"),
    (types.SimpleNamespace(params={"W1": np.ones(2)}), "without a loss_and_grads method"),
    (types.SimpleNamespace(params={"W1": np.ones(2)}, loss_and_grads=3), "without a loss_and_grads method"),
    (types.SimpleNamespace(params={"W1": "ones"}, loss_and_grads=print),
     "params['W1'] must be an array of numbers, got str"),
    (types.SimpleNamespace(params={"W1": None}, loss_and_grads=print), "got NoneType"),
    (types.SimpleNamespace(params={"W1": np.ones(2, dtype=bool)}, loss_and_grads=print), "must hold real numbers"),
    (types.SimpleNamespace(params={"W1": np.ones(2, dtype=complex)}, loss_and_grads=print), "real numbers"),
    (types.SimpleNamespace(params={"W1": np.array([object()])}, loss_and_grads=print), "real numbers"),
    (types.SimpleNamespace(params={3: np.ones(2)}, loss_and_grads=print), "a key that is not a short string: 3"),
    (types.SimpleNamespace(params={"": np.ones(2)}, loss_and_grads=print), "a key that is not a short string: ''"),
])
def test_make_says_what_is_wrong_with_the_object(obj, phrase):
    host = Host(lambda *args: obj)
    with refused("contract", phrase):
        host.make("k", "f()", [], "loss_and_grads")
    assert "k" not in host.objects


def test_a_params_property_that_raises_is_said():
    class Broken:
        @property
        def params(self):
            raise KeyError("W1")

        def loss_and_grads(self, *args):
            return None

    with refused("raised", "reading .params of what f() returned raised KeyError"):
        Host(Broken).make("k", "f()", [], "loss_and_grads")


def test_params_names_and_counts_at_their_caps():
    at_cap = {f"W{i}": np.ones(1) for i in range(H.MAX_PARAMS)}
    assert len(made(params=at_cap).objects["k"].params) == 64 == H.MAX_PARAMS
    with refused("contract", f"has {H.MAX_PARAMS + 1} entries"):
        made(params={**at_cap, "extra": np.ones(1)})
    assert list(made(params={"W" * 64: np.ones(1)}).objects["k"].params) == ["W" * 64]
    with refused("contract", "a key that is not a short string"):
        made(params={"W" * 65: np.ones(1)})


def test_array_sizes_at_their_caps():
    assert H.as_float_array(np.zeros(H.MAX_ELEMENTS), "g").size == 4 * 1024 * 1024
    with refused("contract", f"g has shape ({H.MAX_ELEMENTS + 1},): far larger than any parameter"):
        H.as_float_array(np.zeros(H.MAX_ELEMENTS + 1), "g")
    assert H.as_float_array(np.zeros((1, 1, 1, 2)), "g").shape == (1, 1, 1, 2)
    with refused("contract", "shape (1, 1, 1, 1, 2)"):
        H.as_float_array(np.zeros((1, 1, 1, 1, 2)), "g")


def test_masked_entries_read_as_nan_and_unmasked_arrays_as_their_data():
    masked = np.ma.array([1.0, 2.0, 3.0], mask=[False, True, False])
    assert np.isnan(H.as_float_array(masked, "g")).tolist() == [False, True, False]
    assert H.as_float_array(np.ma.array([1.0, 2.0]), "g").tolist() == [1.0, 2.0]
    plain = H.as_float_array(np.ma.array([1.0, 2.0], mask=[False, False]), "g")
    assert type(plain) is np.ndarray and plain.tolist() == [1.0, 2.0]


def test_an_object_numpy_cannot_read_is_said_by_its_type():
    class Tensor:
        def __array__(self, *args, **kwargs):
            raise RuntimeError("Can't call numpy() on Tensor that requires grad")

    with refused("contract", "is a test_host.Tensor that NumPy cannot read", "return NumPy arrays"):
        H.as_float_array(Tensor(), "grads['W1']")


# ----------------------------------------------------------------------------- set_params
def test_set_params_writes_into_the_students_own_arrays():
    net = Net()
    W1 = net.params["W1"]
    alias = W1[0]  # e.g. the student keeps views of its weights
    host = made(net)
    host.set_params("k", {"W1": np.full((2, 3), 7.0), "b1": np.array([1.0, 2.0])})
    assert net.params["W1"] is W1 and alias.tolist() == [7.0, 7.0, 7.0]
    assert net.params["b1"].tolist() == [1.0, 2.0]


def test_set_params_replaces_what_it_cannot_write_into():
    net = Net(params={"W1": np.ones((3, 2)), "b1": np.zeros(2, dtype=np.float32), "c": [0.0]})
    frozen = np.zeros(2)
    net.params["f"] = frozen
    frozen.flags.writeable = False
    host = made(net)
    values = {"W1": np.full((2, 3), 2.0), "b1": np.ones(2), "c": np.ones(1), "f": np.ones(2)}
    host.set_params("k", values)
    assert net.params["W1"].shape == (2, 3) and net.params["b1"].dtype == np.float64
    assert net.params["f"] is not frozen and frozen.tolist() == [0.0, 0.0]
    values["W1"][0, 0] = -1.0
    assert net.params["W1"][0, 0] == 2.0  # a copy of what was written


def test_read_only_params_are_said():
    net = Net()
    host = made(net)
    net.params = types.MappingProxyType({"W1": np.ones((2, 3)), "b1": np.zeros(2, dtype=np.float32)})
    with refused("contract", "params is read-only", "params['b1']"):
        host.set_params("k", {"W1": np.zeros((2, 3)), "b1": np.zeros(2)})


def test_params_that_do_not_keep_what_is_written_are_said():
    class Copies(Net):
        @property
        def params(self):
            return {"W1": np.ones((2, 3)), "b1": np.zeros(2)}

        @params.setter
        def params(self, value):
            pass

    host = made(Copies())
    with refused("contract", "params is not writable: params['W1'] does not keep the values"):
        host.set_params("k", {"W1": np.zeros((2, 3)), "b1": np.zeros(2)})
    host.set_params("k", {"W1": np.ones((2, 3)), "b1": np.zeros(2)})  # the same values: nothing to notice


# ----------------------------------------------------------------------------- call
def test_a_call_returns_the_loss_as_a_0d_float64_and_the_gradients_as_float64():
    host = made(result=(np.float32(0.25), {"W1": np.ones((2, 3), dtype=np.int64), "b1": np.zeros(2)}))
    loss, grads = call(host)
    assert loss.shape == () and loss.dtype == np.float64 and float(loss) == 0.25
    assert grads["W1"].dtype == np.float64 and list(grads) == ["W1", "b1"]


def test_the_method_gets_copies_of_its_arguments():
    seen = {}

    class Keeps(Net):
        def loss_and_grads(self, X, y, lambdas):
            seen.update(X=X, lambdas=lambdas)
            return self.result

    host = made(Keeps())
    X_sent, lambdas = X.copy(), [0.1, 0.2]
    host.call("k", "loss_and_grads", "X, y, lambdas", [X_sent, Y.copy(), lambdas])
    assert seen["X"] is not X_sent and seen["lambdas"] is not lambdas and seen["lambdas"] == lambdas


@pytest.mark.parametrize("mutate, phrase", [
    (lambda X, y, lambdas: X.__setitem__((1, 2), -1.0),
     "loss_and_grads modified its input X in place (X[1, 2] was 5.0, is now -1.0); work on a copy"),
    (lambda X, y, lambdas: y.__setitem__(0, 1), "modified its input y in place"),
    (lambda X, y, lambdas: X.resize((3, 2), refcheck=False), "modified its input X in place"),
    (lambda X, y, lambdas: lambdas.append(0.5), "modified its lambdas list in place ([0.0, 0.0] became"),
])
def test_inputs_modified_in_place_are_said(mutate, phrase):
    class Mutates(Net):
        def loss_and_grads(self, X, y, lambdas):
            mutate(X, y, lambdas)
            return self.result

    with refused("contract", phrase):
        call(made(Mutates()))


def test_updating_the_params_inside_the_method_is_said():
    class Steps(Net):
        def loss_and_grads(self, X, y, lambdas):
            self.params["b1"] -= 0.1
            return self.result

    host = made(Steps())
    host.set_params("k", {"W1": np.ones((2, 3)), "b1": np.zeros(2)})
    with refused("contract", "loss_and_grads changed params['b1']: it must compute the loss and gradients"):
        call(host)


def test_a_method_that_raises_is_said_with_its_signature():
    class Raises(Net):
        def loss_and_grads(self, X, y, lambdas):
            return 1 / 0

    with refused("raised", "loss_and_grads(X, y, lambdas) raised ZeroDivisionError: division by zero",
                 "test_host.py:", "return 1 / 0"):
        call(made(Raises()))


@pytest.mark.parametrize("result, phrase", [
    (0.5, "loss_and_grads must return a pair (loss, grads), got a float"),
    ((0.5,), "got a tuple of length 1"),
    ((0.5, {}, None), "got a tuple of length 3"),
    ([0.5, {}, None], "got a list of length 3"),
    (None, "got a NoneType"),
    ((True, {}), "the loss must be a real number (float or NumPy scalar), got bool"),
    (("0.5", {}), "got str"),
    (([0.5], {}), "got list"),
    ((None, {}), "got NoneType"),
    ((np.ones(2), {}), "the loss must be one number, got an array of shape (2,)"),
    ((np.ones((1, 2)), {}), "got an array of shape (1, 2)"),
    ((np.array("x"), {}), "the loss must hold real numbers"),
    ((0.5, [np.ones(2)]), "grads must be a dict, got list"),
    ((0.5, {"W1": [1.0, 2.0]}), "grads['W1'] is a list, not a NumPy array (return np.ndarray gradients)"),
    ((0.5, {"W1": 1.0}), "grads['W1'] is a float, not a NumPy array"),
    ((0.5, {"W1": np.float64(1.0)}), "grads['W1'] is a numpy.float64, not a NumPy array"),
    ((0.5, {"W1": np.array(["a"])}), "grads['W1'] must hold real numbers"),
    ((0.5, {"W1": np.ones(2, dtype=bool)}), "grads['W1'] must hold real numbers, got dtype bool"),
    ((0.5, {7: np.ones(2)}), "grads has a key that is not a short string: 7"),
    ((0.5, {f"g{i}": np.ones(1) for i in range(65)}), "grads has 65 entries"),
])
def test_a_wrong_return_value_is_said(result, phrase):
    with refused("contract", phrase):
        call(made(result=result))


@pytest.mark.parametrize("loss", [np.float64(0.5), 0.5, 1, np.int32(1), np.array(0.5), np.array([0.5]),
                                  np.array([[0.5]])])
def test_every_kind_of_one_number_is_a_loss(loss):
    value, _ = call(made(result=(loss, {"W1": np.ones((2, 3))})))
    assert value.shape == () and float(value) == float(np.asarray(loss).item())


# ----------------------------------------------------------------------------- loading
def write(folder, name, text):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text)
    return str(path)


def test_load_factory_from_a_file(tmp_path):
    path = write(tmp_path, "mlp.py", "class Net:\n    @staticmethod\n    def create(*a):\n        return 1\n")
    assert H.load_factory(None, path, "Net.create", "mlp_under_test")() == 1


@pytest.mark.parametrize("text, attr, kind, phrases", [
    ("x = 3\n", "x", "load", ["x in file mlp.py is not a callable factory (it is int 3)"]),
    ("x = 3\n", "make", "load", ["no 'make' in mlp.py"]),
    ("class Net: pass\n", "Net.create", "load", ["file mlp.py has no attribute 'Net.create'"]),
    ("def make(:\n", "make", "load", ["importing file mlp.py failed: SyntaxError", "mlp.py:1"]),
    ("import numpyy\n", "make", "load", ["it imports 'numpyy', which is not installed for grading "
                                          "(mlp.py:1: import numpyy)"]),
    ("raise ValueError('needs data.csv')\n", "make", "raised", ["importing file mlp.py failed: "
                                                                 "ValueError: needs data.csv (mlp.py:1: raise "
                                                                 "ValueError('needs data.csv'))"]),
    ("def load():\n    open('data.csv')\nload()\n", "make", "raised",
     ["FileNotFoundError: [Errno 2] No such file or directory: 'data.csv' (mlp.py:2 in load: open('data.csv'))"]),
    ("import importlib.util\nspec = importlib.util.spec_from_file_location('h', 'missing_helper.py')\n"
     "importlib.util.module_from_spec(spec)\nspec.loader.exec_module(importlib.util.module_from_spec(spec))\n",
     "make", "raised", ["FileNotFoundError", "(mlp.py:4: spec.loader.exec_module("]),  # not importlib's own line
    ("import sys\nME = sys.modules[__name__]\n", "make", "load", ["no 'make' in mlp.py"]),
    ("import sys\nsys.exit(4)\n", "make", "raised", ["SystemExit (it called sys.exit(4))"]),
    ("def __getattr__(name):\n    raise SystemExit(name)\n", "make", "load", ["no 'make' in mlp.py"]),
])
def test_a_module_that_does_not_load_is_said(tmp_path, text, attr, kind, phrases):
    path = write(tmp_path, "mlp.py", text)
    with refused(kind, *phrases):
        H.load_factory(None, path, attr, "mlp_under_test")


def test_a_missing_module_is_said_by_its_name():
    with refused("load", "no module named 'no_such_student_module'"):
        H.load_factory("no_such_student_module.sub", None, "make")


def test_a_forbidden_import_at_load_keeps_its_kind(tmp_path, monkeypatch):
    class Deny:
        def find_spec(self, fullname, path=None, target=None):
            if fullname == "denied_here":
                error = ImportError("imports denied_here")
                error.forbidden = True
                raise error
            return None

    monkeypatch.setattr("sys.meta_path", [Deny(), *__import__("sys").meta_path])
    path = write(tmp_path, "mlp.py", "import denied_here\n")
    with refused("forbidden", "importing file mlp.py failed: ImportError: imports denied_here"):
        H.load_factory(None, path, "make", "mlp_under_test")


def test_prepare_process_puts_the_submission_first_and_names_its_lines(tmp_path, monkeypatch):
    monkeypatch.setattr("sys.path", ["/elsewhere", str(tmp_path)])
    monkeypatch.chdir("/")
    monkeypatch.setattr(H, "_ROOT", [])
    H.prepare_process([str(tmp_path / "a"), str(tmp_path)], str(tmp_path))
    import os
    import sys

    assert sys.path == [str(tmp_path / "a"), "/elsewhere", str(tmp_path)] and os.getcwd() == str(tmp_path)
    assert H._ROOT == [str(tmp_path.resolve()) + os.sep]


def test_a_long_source_line_is_cut_at_120_characters(tmp_path):
    line = "raise ValueError('boom') # " + "z" * 200
    path = write(tmp_path, "mlp.py", line + "\n")
    with refused("raised", f"ValueError: boom (mlp.py:1: {line[:119]}…)"):
        H.load_factory(None, path, "make", "mlp_under_test")


def test_a_file_python_cannot_load_is_said(tmp_path):
    path = write(tmp_path, "notes.txt", "class Net: pass\n")
    with refused("load", "cannot load notes.txt as a Python module"):
        H.load_factory(None, path, "Net", "mlp_under_test")


def test_set_params_may_write_some_of_the_params():
    net = Net()
    host = made(net)
    host.set_params("k", {"W1": np.full((2, 3), 5.0)})
    assert net.params["W1"][0, 0] == 5.0 and net.params["b1"].tolist() == [0.0, 0.0]


def test_params_that_cannot_be_read_back_are_not_writable():
    class Opaque:
        def __array__(self, *args, **kwargs):
            raise RuntimeError("no")

    class Sticky(dict):
        def __setitem__(self, key, value):  # ignores what is written
            pass

    net = Net(params=Sticky(W1=Opaque()))
    host = Host(lambda *args: net)
    net.params = Sticky(W1=np.ones((2, 3)))  # readable when made...
    host.make("k", "f()", [], "loss_and_grads")
    dict.__setitem__(net.params, "W1", Opaque())  # ... then holding what NumPy cannot read
    with refused("contract", "params is not writable: params['W1']"):
        host.set_params("k", {"W1": np.zeros((2, 3))})


def test_a_student_raising_the_graders_own_error_class_is_said_to_have_raised():
    """The worker's StudentError is reachable from student code (sys.modules): raising it must not
    pose as a verdict of the grader's ("timeout", "contract")."""

    def forged(sizes, activation):
        raise StudentError("timeout", "the grader says: too slow")

    with pytest.raises(StudentError) as caught:
        Host(forged).make("k", "f()", [(3, 2), "relu"], "loss_and_grads")
    assert caught.value.kind == "raised" and caught.value.exc_type == "StudentError"
    assert str(caught.value).startswith("f() raised StudentError: the grader says: too slow")


def test_a_very_long_function_name_is_cut_in_the_message(tmp_path):
    name = "f" * 3000
    path = write(tmp_path, "mlp.py", f"def {name}():\n    raise ValueError('x')\n\ndef make(sizes, activation):\n"
                                     f"    {name}()\n")
    factory = H.load_factory(None, path, "make", "mlp_long_name")
    with pytest.raises(StudentError) as caught:
        Host(factory).make("k", "f()", [(3, 2), "relu"], "loss_and_grads")
    assert len(str(caught.value)) < 400 and "ValueError: x" in str(caught.value)
