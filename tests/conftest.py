"""Fixtures shared by several test files."""

from __future__ import annotations

import sys

import pytest

from compare.grader.sandbox.stubs import StubImports, StubModule


@pytest.fixture
def stub_finder():
    """``StubImports`` appended to this process's ``sys.meta_path`` for the test, then removed
    with every module it made (and only those: a real module stays imported)."""
    finders = []

    def install(names, deny=()):
        finder = StubImports(names, deny)
        sys.meta_path.append(finder)
        finders.append(finder)
        return finder

    yield install
    for finder in finders:
        sys.meta_path.remove(finder)
    for name in [name for name, module in sys.modules.items() if isinstance(module, StubModule)]:
        del sys.modules[name]
