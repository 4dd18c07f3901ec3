"""compare.grader.sandbox.stubs: what starter code's missing imports become in the sandbox.

Each test installs ``StubImports`` in this process for names no environment has (so a real
module is never shadowed), imports as starter code does, and looks at what the code gets: a
stub that raises a clear ``UnavailableModule`` when used, or, for Python 2 compatibility
modules, the Python 3 thing itself. Quick: no worker.
"""

from __future__ import annotations

import builtins
import functools
import importlib
import sys

import pytest

from compare.grader.sandbox.stubs import SHIMS, Stub, StubModule, UnavailableModule


# ----------------------------------------------------------------------------- a stub module and its stubs
def test_a_stub_is_named_by_the_path_the_code_took(stub_finder):
    stub_finder(["plotting_not_here"])
    plt = importlib.import_module("plotting_not_here.pyplot")
    assert repr(plt.cm.viridis) == "<stub of plotting_not_here.pyplot.cm.viridis: not available to graded code>"
    assert repr(plt.rcParams["figure.figsize"]) == "<stub of plotting_not_here.pyplot.rcParams[…]: not available to graded code>"


def test_calling_a_stub_names_it_and_its_module(stub_finder):
    stub_finder(["plotting_not_here"])
    plt = importlib.import_module("plotting_not_here.pyplot")
    with pytest.raises(UnavailableModule) as caught:
        plt.figure(figsize=(10, 8))
    assert str(caught.value) == ("plotting_not_here.pyplot.figure() was called, but plotting_not_here is not "
                                 "available to graded code (stubbed so that the file loads; graded code must not "
                                 "use it)")
    with pytest.raises(UnavailableModule, match=r"^plotting_not_here\.pyplot\.rcParams\[…\]\.get\(\) was called, "
                                                r"but plotting_not_here is not available"):
        plt.rcParams["lines"].get("width")


def test_a_stub_alone_names_what_comes_before_its_first_dot_or_bracket():
    with pytest.raises(UnavailableModule, match=r"^rcParams\[…\]\(\) was called, but rcParams is not available"):
        Stub("rcParams")["figure.figsize"]()
    with pytest.raises(UnavailableModule, match=r"^tqdm\(\) was called, but tqdm is not available"):
        Stub("tqdm")(range(3))


def test_deriving_from_a_stub_names_it(stub_finder):
    stub_finder(["layers_not_here"])
    module = importlib.import_module("layers_not_here")
    with pytest.raises(UnavailableModule) as caught:
        class Net(module.nn.Module):
            pass
    assert str(caught.value) == ("a class derives from layers_not_here.nn.Module, but layers_not_here is not "
                                 "available to graded code (stubbed so that the file loads)")


def test_configuring_a_stub_does_nothing(stub_finder):
    stub_finder(["plotting_not_here"])
    plt = importlib.import_module("plotting_not_here.pyplot")
    plt.rcParams["figure.figsize"] = (10.0, 8.0)
    plt.rcParams.interactive = False
    assert isinstance(plt.rcParams.interactive, Stub)
    assert repr(plt.rcParams.interactive) == (
        "<stub of plotting_not_here.pyplot.rcParams.interactive: not available to graded code>")


@pytest.mark.parametrize("attr", ["__version", "version__", "_private", "x"])
def test_attributes_that_are_not_dunders_are_stubs(stub_finder, attr):
    stub_finder(["plotting_not_here"])
    module = importlib.import_module("plotting_not_here")
    assert isinstance(getattr(module, attr), Stub) and isinstance(getattr(module.cm, attr), Stub)


@pytest.mark.parametrize("attr", ["__array__", "__deepcopy__", "__all__", "__path_hooks__"])
def test_dunders_are_absent_as_python_and_numpy_expect(stub_finder, attr):
    stub_finder(["plotting_not_here"])
    module = importlib.import_module("plotting_not_here")
    with pytest.raises(AttributeError):
        getattr(module.cm, attr)  # a stub
    with pytest.raises(AttributeError):
        getattr(module, attr)  # a stub module


def test_a_stub_in_numpy_or_copy_is_an_ordinary_object(stub_finder):
    import copy

    import numpy as np

    stub_finder(["plotting_not_here"])
    cm = importlib.import_module("plotting_not_here").cm
    assert np.asarray(cm, dtype=object).shape == ()  # NumPy found no __array__ and took it as one object
    assert copy.copy(cm) is not None


def test_a_module_attribute_is_a_stub_not_a_module(stub_finder):
    stub_finder(["plotting_not_here"])
    module = importlib.import_module("plotting_not_here")
    assert type(module.pyplot) is Stub
    assert type(importlib.import_module("plotting_not_here.pyplot")) is StubModule  # imported: a module


def test_submodules_of_any_depth_are_stub_modules(stub_finder):
    stub_finder(["plotting_not_here"])
    deep = importlib.import_module("plotting_not_here.backends.backend_agg")
    assert isinstance(deep, StubModule) and deep.__name__ == "plotting_not_here.backends.backend_agg"


# ----------------------------------------------------------------------------- which names are stubbed
def test_only_listed_text_names_not_denied_are_stubbed(stub_finder):
    finder = stub_finder(["listed_not_here", "denied_not_here", 3, None], deny=["denied_not_here"])
    assert finder.names == frozenset({"listed_not_here"})
    assert isinstance(importlib.import_module("listed_not_here.sub"), StubModule)
    for missing in ("denied_not_here", "other_not_here", "listed_not_here_either"):
        with pytest.raises(ModuleNotFoundError):
            importlib.import_module(missing)


# ----------------------------------------------------------------------------- Python 2 compatibility modules
PYTHON3_OF = [
    ("past.builtins", "xrange", range), ("past.builtins", "basestring", str), ("past.builtins", "unicode", str),
    ("past.builtins", "long", int), ("past.builtins", "unichr", chr), ("past.builtins", "raw_input", input),
    ("past.builtins", "reduce", functools.reduce), ("past.builtins", "intern", sys.intern),
    ("six", "text_type", str), ("six", "binary_type", bytes), ("six", "string_types", (str,)),
    ("six", "integer_types", (int,)), ("six", "class_types", (type,)), ("six", "print_", print),
    ("six", "PY2", False), ("six", "PY3", True),
    ("six.moves", "range", range), ("six.moves", "xrange", range), ("six.moves", "zip", zip),
    ("six.moves", "map", map), ("six.moves", "filter", filter), ("six.moves", "reduce", functools.reduce),
    ("six.moves", "input", input),
    ("future.utils", "PY2", False), ("future.utils", "PY3", True),
    *[("future.builtins", name, getattr(builtins, name))
      for name in ("range", "str", "bytes", "int", "object", "input", "open", "round", "super", "zip", "map",
                   "filter", "dict", "list", "chr", "pow", "next", "ascii", "hex", "oct", "isinstance")],
]


@pytest.mark.parametrize(("module", "name", "python3"), PYTHON3_OF)
def test_python2_names_are_their_python3_selves(stub_finder, module, name, python3):
    stub_finder(["past", "six", "future"])
    namespace = {}
    exec(f"from {module} import {name}", namespace)
    value = namespace[name]
    assert value is python3 or (isinstance(python3, tuple) and value == python3)


def test_cmp_old_div_and_the_dict_iterators_behave_as_in_python2(stub_finder):
    stub_finder(["past", "six", "future"])
    from past.builtins import cmp  # noqa: PLC0415
    from past.utils import old_div  # noqa: PLC0415

    assert [cmp(1, 2), cmp(2, 1), cmp(2, 2), cmp("b", "a")] == [-1, 1, 0, 1]
    assert [old_div(7, 2), old_div(-7, 2), old_div(7.0, 2), old_div(7, 2.0), old_div(7, 2.5)] == [3, -4, 3.5, 3.5, 2.8]
    future_utils = importlib.import_module("future.utils")
    assert future_utils.old_div(9, 4) == 2
    weights = {"W1": 1, "b1": 2}
    for module in (importlib.import_module("six"), future_utils):
        items, keys, values = module.iteritems(weights), module.iterkeys(weights), module.itervalues(weights)
        assert next(items) == ("W1", 1) and next(keys) == "W1" and next(values) == 1  # iterators, not lists
        assert list(items) == [("b1", 2)] and list(keys) == ["b1"] and list(values) == [2]
    assert importlib.import_module("future.standard_library").install_aliases() is None


def test_shim_modules_are_modules_with_stubs_for_the_rest(stub_finder):
    stub_finder(["past", "six", "future"])
    six = importlib.import_module("six")
    assert type(six.moves) is StubModule and six.moves.range is range  # a shim submodule, as the real one has
    assert isinstance(six.moves.urllib, Stub) and isinstance(importlib.import_module("past").builtins, StubModule)
    assert isinstance(importlib.import_module("future.builtins").execfile, Stub)
    assert set(SHIMS) == {"past", "past.builtins", "past.utils", "future", "future.builtins", "future.utils",
                          "future.standard_library", "six", "six.moves"}
