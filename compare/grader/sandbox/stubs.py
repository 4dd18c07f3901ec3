"""Stand-ins for modules that starter code imports but graded code never needs.

Starter code as courses distribute it begins with ``import matplotlib.pyplot as plt`` and
``from past.builtins import xrange``; neither is installed in the sandbox, so the file would not
load although the functions under test never plot. The grader lists the top-level names to stand
in for (those the submission imports that the sandbox does not offer and that are not denied),
and the worker appends ``StubImports`` LAST to ``sys.meta_path``: a module that can really be
imported is, and a denied one (torch, the answer key) is refused by ``DenyImports``, which comes
first; only a module that would otherwise be missing becomes a stub.

- A stub module's attributes are stubs, and so are theirs: ``plt.plot``, ``plt.cm.viridis``. A
  stub can be stored, indexed, assigned to; calling one (or subclassing it) raises
  ``UnavailableModule``, an ``ImportError`` that names what was used.
- Python 2 compatibility modules map to the real thing (``SHIMS``): ``past.builtins.xrange`` is
  ``range``, ``six.moves.range`` is ``range``, ``six.PY3`` is True. Anything else they are asked
  for is a stub.

Standard library only: the worker imports this file (and the grader reads ``SHIMS``).
"""

from __future__ import annotations

import builtins
import functools
import importlib
import importlib.abc
import importlib.machinery
import sys
import types


class UnavailableModule(ImportError):
    """A stub was called: the module it stands for is not available to graded code."""


def _is_dunder(name: str) -> bool:
    return name.startswith("__") and name.endswith("__")


class Stub:
    """Stands for ``name`` (an attribute of a module that is not available): raises when used."""

    __slots__ = ("_stub_name",)

    def __init__(self, name: str):
        object.__setattr__(self, "_stub_name", name)

    def __getattr__(self, attr: str):
        if _is_dunder(attr):  # probes by Python, NumPy, copy, pickle: "no such attribute"
            raise AttributeError(attr)
        return Stub(f"{self._stub_name}.{attr}")

    def __setattr__(self, attr: str, value) -> None:
        pass  # plt.rcParams.x = …: configuring a module that is not there does nothing

    def __getitem__(self, key):
        return Stub(f"{self._stub_name}[…]")

    def __setitem__(self, key, value) -> None:
        pass  # plt.rcParams["figure.figsize"] = …

    def __call__(self, *args, **kwargs):
        raise UnavailableModule(f"{self._stub_name}() was called, but {_top(self._stub_name)} is not available "
                                "to graded code (stubbed so that the file loads; graded code must not use it)")

    def __mro_entries__(self, bases):
        raise UnavailableModule(f"a class derives from {self._stub_name}, but {_top(self._stub_name)} is not "
                                "available to graded code (stubbed so that the file loads)")

    def __repr__(self) -> str:
        return f"<stub of {self._stub_name}: not available to graded code>"


class StubModule(types.ModuleType):
    """A module whose missing attributes are stubs (a shim module also has real ones)."""

    def __getattr__(self, attr: str):
        if _is_dunder(attr):  # __all__, __file__ …: what import machinery probes stays absent
            raise AttributeError(attr)
        name = f"{self.__name__}.{attr}"
        if name in SHIMS:  # `import six` then `six.moves.range`: a shim submodule, as the real one has
            return importlib.import_module(name)
        return Stub(name)


def _top(name: str) -> str:
    return name.partition(".")[0].partition("[")[0]


def _old_div(a, b):
    """``past.utils.old_div``: Python 2's ``/`` (floor division for two integers)."""
    import numbers

    if isinstance(a, numbers.Integral) and isinstance(b, numbers.Integral):
        return a // b
    return a / b


def _cmp(a, b) -> int:
    return (a > b) - (a < b)


def _iteritems(d, **kwargs):
    return iter(d.items(**kwargs))


def _itervalues(d, **kwargs):
    return iter(d.values(**kwargs))


def _iterkeys(d, **kwargs):
    return iter(d.keys(**kwargs))


# Python 2 compatibility modules, as Python 3 has them built in.
SHIMS = {
    "past": {},
    "past.builtins": {"xrange": range, "basestring": str, "unicode": str, "long": int, "unichr": chr,
                      "raw_input": builtins.input, "reduce": functools.reduce, "cmp": _cmp, "intern": sys.intern},
    "past.utils": {"old_div": _old_div},
    "future": {},
    "future.builtins": {name: getattr(builtins, name) for name in (
        "range", "str", "bytes", "int", "object", "input", "open", "round", "super", "zip", "map", "filter",
        "dict", "list", "chr", "pow", "next", "ascii", "hex", "oct", "isinstance")},
    "future.utils": {"PY2": False, "PY3": True, "iteritems": _iteritems, "itervalues": _itervalues,
                     "iterkeys": _iterkeys, "old_div": _old_div},
    "future.standard_library": {"install_aliases": lambda: None},
    "six": {"PY2": False, "PY3": True, "string_types": (str,), "integer_types": (int,), "class_types": (type,),
            "text_type": str, "binary_type": bytes, "iteritems": _iteritems, "itervalues": _itervalues,
            "iterkeys": _iterkeys, "print_": print},
    "six.moves": {"range": range, "xrange": range, "zip": zip, "map": map, "filter": filter,
                  "reduce": functools.reduce, "input": builtins.input},
}
# What a report says a shim maps (the common names).
SHIM_SUMMARY = "xrange → range, basestring → str, six.moves.range → range"


class _StubLoader(importlib.abc.Loader):
    def create_module(self, spec):
        module = StubModule(spec.name)
        module.__dict__.update(SHIMS.get(spec.name, {}))
        return module

    def exec_module(self, module) -> None:
        pass  # nothing to run: the module is what create_module made


class StubImports(importlib.abc.MetaPathFinder):
    """Finds a stub (or shim) module for ``import NAME`` and its submodules, for the listed
    top-level names that are not denied. Append it last to ``sys.meta_path``."""

    def __init__(self, names, deny=()):
        self.names = frozenset(n for n in names if isinstance(n, str)) - frozenset(deny)

    def find_spec(self, fullname, path=None, target=None):
        if _top(fullname) not in self.names:
            return None
        return importlib.machinery.ModuleSpec(fullname, _StubLoader(), is_package=True)
