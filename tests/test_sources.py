"""compare.grader.sandbox.sources: a student's source read safely (bounded, no link followed, never run).

Each hostile shape of issue 15 is one quick check: a link to /dev/zero, a FIFO, a 100 GB sparse
file, bytes that are not UTF-8, a notebook whose cells or sources are numbers, 100,000 nested
``not``, a cell of 150,000 blank lines.
"""

from __future__ import annotations

import json
import os
import threading

import pytest

from compare.grader.sandbox.sources import (
    MAX_NOTEBOOK_BYTES,
    MAX_SOURCE_BYTES,
    SourceError,
    defined_names,
    read_source,
)
from compare.grader.sandbox.syntax import syntax_problem


def notebook(tmp_path, *sources, name="hw.ipynb", extra=None):
    """A v4 notebook whose cells are markdown (a str starting with '#md') or code."""
    cells = [{"cell_type": "markdown", "metadata": {}, "source": s[3:]} if isinstance(s, str) and s.startswith("#md")
             else {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [], "source": s}
             for s in sources]
    document = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": cells, **(extra or {})}
    path = tmp_path / name
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


# ----------------------------------------------------------------------------- read_source
def test_reads_a_python_file_and_its_notebook_twin(tmp_path):
    (tmp_path / "a.py").write_text("x = 'é'\n", encoding="utf-8")
    assert read_source(tmp_path / "a.py") == "x = 'é'\n"
    path = notebook(tmp_path, "x = 1")
    assert json.loads(read_source(path))["cells"][0]["source"] == "x = 1"


def test_a_symlink_is_never_followed(tmp_path):
    link = tmp_path / "alice.py"
    link.symlink_to("/dev/zero")
    with pytest.raises(SourceError, match=r"^alice\.py: a symbolic link"):
        read_source(link)
    assert defined_names(link) == set()
    assert syntax_problem(link).startswith("alice.py: a symbolic link")


def test_a_symlink_to_a_classmates_file_is_not_read(tmp_path):
    (tmp_path / "bob.py").write_text("def make_mlp(sizes, activation):\n    pass\n")
    (tmp_path / "alice.py").symlink_to(tmp_path / "bob.py")
    assert defined_names(tmp_path / "alice.py") == set()
    assert defined_names(tmp_path / "bob.py") == {"make_mlp"}


def test_a_fifo_is_refused_at_once(tmp_path):
    fifo = tmp_path / "hw.py"
    os.mkfifo(fifo)
    outcome = []
    reader = threading.Thread(target=lambda: outcome.append(defined_names(fifo)), daemon=True)
    reader.start()
    reader.join(timeout=30)  # a blocking open would never return: no writer ever comes
    assert outcome == [set()]
    with pytest.raises(SourceError, match=r"^hw\.py: not a regular file \(a FIFO\)"):
        read_source(fifo)


def test_a_device_and_a_folder_are_refused():
    with pytest.raises(SourceError, match=r"not a regular file \(a character device\)"):
        read_source("/dev/zero")
    with pytest.raises(SourceError, match=r"not a regular file \(a folder\)"):
        read_source("/")


def test_a_sparse_100_gb_file_is_refused_before_reading(tmp_path):
    path = tmp_path / "big.py"
    path.touch()
    os.truncate(path, 100 * 1024**3)
    with pytest.raises(SourceError, match=r"^big\.py: 100 GiB, over the 8 MiB"):
        read_source(path)
    assert defined_names(path) == set()


def test_the_cap_is_inclusive(tmp_path):
    path = tmp_path / "a.py"
    path.write_bytes(b"#" * 99 + b"\n")
    assert len(read_source(path, limit=100)) == 100
    with pytest.raises(SourceError, match="over the 99 bytes"):
        read_source(path, limit=99)


def test_default_caps_depend_on_the_kind(tmp_path):
    assert MAX_NOTEBOOK_BYTES > MAX_SOURCE_BYTES
    big = b"#" * (MAX_SOURCE_BYTES + 1)
    (tmp_path / "a.py").write_bytes(big)
    with pytest.raises(SourceError):
        read_source(tmp_path / "a.py")
    (tmp_path / "a.IPYNB").write_bytes(big)  # the suffix in any case
    assert len(read_source(tmp_path / "a.IPYNB")) == len(big)


def test_non_utf8_bytes_name_the_line(tmp_path):
    path = tmp_path / "carol.py"
    path.write_bytes(b"x = 1\ny = 2\ns = '\xe9t\xe9'\n")
    with pytest.raises(SourceError, match=r"^carol\.py: line 3 is not utf-8 text \(byte 0xe9\)"):
        read_source(path)
    assert defined_names(path) == set()
    assert syntax_problem(path).startswith("carol.py: line 3 is not utf-8")


def test_a_bom_and_a_latin1_cookie_are_honoured(tmp_path):
    bom = tmp_path / "bom.py"
    bom.write_bytes(b"\xef\xbb\xbfdef make_mlp():\n    return 1\n")
    assert read_source(bom).startswith("def make_mlp")
    assert defined_names(bom) == {"make_mlp"}
    assert syntax_problem(bom) is None
    latin = tmp_path / "latin.py"
    latin.write_bytes(b"# -*- coding: latin-1 -*-\nNAME = '\xe9t\xe9'\n")
    assert "NAME = 'été'" in read_source(latin)
    assert defined_names(latin) == {"NAME"}
    unknown = tmp_path / "unknown.py"
    unknown.write_bytes(b"# -*- coding: klingon -*-\nx = 1\n")
    with pytest.raises(SourceError, match=r"^unknown\.py: unknown encoding"):
        read_source(unknown)


def test_a_notebook_with_a_bom_is_read(tmp_path):
    path = tmp_path / "hw.ipynb"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps({"cells": [{"cell_type": "code", "source": "A = 1"}]}).encode())
    assert defined_names(path) == {"A"}


def test_a_file_name_that_is_not_utf8_is_printable(tmp_path):
    raw = os.path.join(os.fsencode(tmp_path), b"\xff\xfe.py")
    with open(raw, "wb") as file:
        file.write(b"print 'hi'\n")
    assert syntax_problem(raw) == "Python 2 syntax (print statement) at .py:1"


# ----------------------------------------------------------------------------- defined_names
def test_names_bound_at_the_top_level_of_a_file(tmp_path):
    path = tmp_path / "mlp.py"
    path.write_text(
        "import numpy as np\nimport os.path\nfrom net import MLP as factory\nfrom .net import make_mlp\n"
        "from helpers import *\n"
        "relu = lambda z: np.maximum(z, 0)\nA, (B, *C) = 1, (2, 3)\nD: int = 4\nE: int\n"
        "def f():\n    inner = 1\nclass K:\n    attr = 1\nasync def g():\n    pass\n"
        "K.method = f\n"
        "try:\n    import cupy as xp\nexcept ImportError:\n    import numpy as xp2\n"
        "if True:\n    IN_IF = 1\nelse:\n    IN_ELSE = 2\n"
        "if __name__ == '__main__':\n    MAIN_ONLY = 1\n"
        "for loop_var in range(3):\n    pass\n"
    )
    assert defined_names(path) == {"np", "os", "factory", "make_mlp", "relu", "A", "B", "C", "D", "f", "K",
                                   "g", "xp", "xp2", "IN_IF", "IN_ELSE"}


def test_names_of_a_notebook_are_those_of_its_code_cells(tmp_path):
    path = notebook(tmp_path, "#md def in_markdown(): pass", "%matplotlib inline\nimport numpy as np",
                    ["def make_mlp(sizes, activation):\n", "    return None\n"],
                    "%%bash\nmake_bash = 1", "x = !ls\nAFTER_SHELL = 2")
    assert defined_names(path) == {"np", "make_mlp", "AFTER_SHELL"}  # `x = !ls` is not Python


def test_a_v3_notebook_is_read(tmp_path):
    path = tmp_path / "old.ipynb"
    path.write_text(json.dumps({"nbformat": 3, "worksheets": [
        {"cells": [{"cell_type": "code", "input": ["def make_mlp():\n", "    pass\n"]}]}]}))
    assert defined_names(path) == {"make_mlp"}


def test_a_broken_file_is_scanned_line_by_line(tmp_path):
    path = tmp_path / "eve.py"
    path.write_text("import numpy as np\nclass TwoLayerNet(object):\n    pass\n"
                    "print 'training'\ndef helper(x):\n    return x\nLR: float = 0.1\nX == 1\n")
    assert defined_names(path) == {"TwoLayerNet", "helper", "LR"}


@pytest.mark.parametrize("document", [
    {"cells": 3},
    {"cells": [{"cell_type": "code", "source": [1, 2, 3]}, {"cell_type": "code", "source": "OK = 1"}]},
    {"cells": [7, None, "code", {"cell_type": "code", "source": None}, {"cell_type": "code", "source": "OK = 1"}]},
    [1, 2, 3],
    "a string",
    {"worksheets": 5},
    {"worksheets": [{"cells": {"a": 1}}]},
])
def test_hostile_notebook_shapes_never_raise(tmp_path, document):
    path = tmp_path / "hw.ipynb"
    path.write_text(json.dumps(document))
    assert defined_names(path) <= {"OK"}
    problem = syntax_problem(path)
    assert problem is None or (problem.startswith("hw.ipynb: not a Jupyter notebook") and "\n" not in problem)


@pytest.mark.parametrize("text", ["{", "[" * 100_000 + "]" * 100_000, '{"cells": ' + "1" * 5000 + "}", ""])
def test_invalid_json_never_raises(tmp_path, text):
    path = tmp_path / "hw.ipynb"
    path.write_text(text)
    assert defined_names(path) == set()
    assert syntax_problem(path).startswith("hw.ipynb: not a Jupyter notebook: invalid JSON")


def test_100000_nested_nots(tmp_path):
    source = "def make_mlp():\n    pass\nx = " + "not " * 100_000 + "1\n"
    path = tmp_path / "deep.py"
    path.write_text(source)
    assert defined_names(path) == {"make_mlp", "x"}  # found by the line scan
    assert syntax_problem(path) == "nested too deeply for Python to compile: deep.py"
    cell = notebook(tmp_path, "OK = 1", source)
    assert defined_names(cell) == {"OK", "make_mlp", "x"}
    assert syntax_problem(cell) == "nested too deeply for Python to compile: hw.ipynb in cell 2"


def test_a_cell_of_150000_blank_lines_is_linear(tmp_path):
    # The former regex scan took minutes on this cell: each blank line restarted a \s* run.
    path = notebook(tmp_path, "\n" * 150_000 + "make_mlp = 1", "   \n" * 150_000 + "x = (")
    assert defined_names(path) == {"make_mlp", "x"}  # the broken cell's `x = (` by the line scan
    assert syntax_problem(path).endswith("at hw.ipynb in cell 2, line 150001")


def test_null_bytes_and_surrogates(tmp_path):
    path = tmp_path / "nul.py"
    path.write_bytes(b"A = 1\nx = '\x00'\n")
    assert defined_names(path) == {"A", "x"}
    assert "null bytes" in syntax_problem(path) and "nul.py" in syntax_problem(path)
    cell = notebook(tmp_path, "B = 1\ns = '\ud800'")
    assert defined_names(cell) == {"B", "s"}


# ----------------------------------------------------------------------------- syntax_problem
def test_a_file_that_compiles_has_no_problem(tmp_path):
    path = tmp_path / "ok.py"
    path.write_text("def f():\n    return 1\n")
    assert syntax_problem(path) is None


def test_a_syntax_error_names_the_cause_and_place(tmp_path):
    path = tmp_path / "alice.py"
    path.write_text("import numpy as np\n" + "\n" * 10 + "def f(:\n    pass\n")
    assert syntax_problem(path) == "SyntaxError: invalid syntax at alice.py:12"
    path.write_text("def f():\n    return 1\n  x = 2\n")
    assert syntax_problem(path) == "IndentationError: unindent does not match any outer indentation level at alice.py:3"
    path.write_text("x = 1\nreturn x\n")  # refused by the compiler, not the parser
    assert syntax_problem(path) == "SyntaxError: 'return' outside function at alice.py:2"


def test_a_notebook_syntax_error_names_the_cell_and_line(tmp_path):
    path = notebook(tmp_path, "#md intro", "%matplotlib inline\nimport numpy as np", "%%time\nnot python",
                    "x = 1\ny = (2 +\n", "def f(:\n  pass")
    assert syntax_problem(path) == "SyntaxError: '(' was never closed at hw.ipynb in cell 4, line 2"
    fine = notebook(tmp_path, "import numpy as np", "!pip install tqdm\nnp.zeros?", name="fine.ipynb")
    assert syntax_problem(fine) is None


PYTHON2 = [
    ('print "epoch", i\n', "print statement"),
    ("print\n", None),  # a bare `print` is a valid Python 3 expression
    ('exec "x = 1" in ns\n', "exec statement"),
    ("try:\n    pass\nexcept ValueError, e:\n    pass\n", "except X, e"),
    ("x = `1`\n", "backticks"),
    ("if 1 <> 2:\n    pass\n", "<> operator"),
    ("os.chmod(path, 0777)\n", "octal literal 0777"),
    ("s = ur'abc'\n", "ur'' string"),
    ("n = 10L\n", "long literal 10L"),
    ("raise ValueError, 'bad'\n", "raise E, message"),
    ("def f((a, b)):\n    pass\n", "tuple parameter"),
]


@pytest.mark.parametrize("source, construct", PYTHON2)
def test_python2_code_is_named(tmp_path, source, construct):
    path = tmp_path / "eve.py"
    path.write_text("import numpy as np\n" * 3 + source)
    problem = syntax_problem(path)
    line = source.count("\n", 0, source.index("except")) + 4 if "except" in source else 4
    if construct is None:
        assert problem is None
    else:
        assert problem == f"Python 2 syntax ({construct}) at eve.py:{line}"


def test_python3_errors_are_not_taken_for_python2(tmp_path):
    path = tmp_path / "frank.py"
    path.write_text("x = (1, 2\n")
    assert not syntax_problem(path).startswith("Python 2")
    path.write_text("x = 1\nx = y z\n")
    assert syntax_problem(path) == "SyntaxError: invalid syntax at frank.py:2"


def test_a_python3_raise_with_a_comma_is_not_python2(tmp_path):
    path = tmp_path / "gina.py"
    path.write_text('raise ValueError("a", b) x\n')
    assert syntax_problem(path) == "SyntaxError: invalid syntax at gina.py:1"


# ----------------------------------------------------------------------------- the reader's bounds, one by one
from compare.grader.sandbox import sources as src  # noqa: E402
from compare.grader.sandbox import syntax  # noqa: E402


def sparse(path, size):
    with open(path, "wb") as fh:
        fh.truncate(size)
    return path


def test_the_caps_at_their_bound_and_one_over(tmp_path):
    assert (MAX_SOURCE_BYTES, MAX_NOTEBOOK_BYTES, syntax._PY2_LINE_CHARS) == (8 << 20, 32 << 20, 1000)
    assert len(read_source(sparse(tmp_path / "at.py", 8 << 20))) == 8 << 20  # NUL bytes: read, not parsed
    with pytest.raises(SourceError, match=r"^over\.py: 8 MiB, over the 8 MiB a source file may have$"):
        read_source(sparse(tmp_path / "over.py", (8 << 20) + 1))
    with pytest.raises(SourceError, match=r"^over\.ipynb: 32 MiB, over the 32 MiB a source file may have$"):
        read_source(sparse(tmp_path / "over.ipynb", (32 << 20) + 1))
    assert len(read_source(sparse(tmp_path / "big.ipynb", 9 << 20))) == 9 << 20


def test_a_file_longer_than_its_size_says_is_stopped_at_the_cap():
    # /proc files say they hold 0 bytes and hold more: what a file growing while read looks like
    with pytest.raises(SourceError, match=r"^status: over the 10 bytes a source file may have$"):
        src.read_bytes("/proc/self/status", 10)
    assert src.read_bytes("/proc/self/status", 1 << 20).startswith(b"Name:")


def test_a_file_that_cannot_be_read_says_so():
    with pytest.raises(SourceError, match=r"^mem: cannot read: Input/output error$"):
        src.read_bytes("/proc/self/mem", 100)


def test_reading_leaves_no_file_open(tmp_path):
    (tmp_path / "a.py").write_text("x = 1\n")
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(20):
        read_source(tmp_path / "a.py")
        with pytest.raises(SourceError):
            src.read_bytes("/proc/self/status", 10)
    assert len(os.listdir("/proc/self/fd")) == before


def test_a_long_file_name_is_cut_at_80():
    assert src.display_name("/x/" + "n" * 100 + ".py") == "n" * 79 + "…"
    assert src.display_name("/x/" + "n" * 77 + ".py") == "n" * 77 + ".py"
    assert src.display_name("/x/") == "?"


@pytest.mark.parametrize("data, said", [
    (b"x = 1\n\xff\n", "a.py: line 2 is not utf-8 text (byte 0xff) and declares no other encoding"),
    (b"\xef\xbb\xbfx = 1\n\n\xfe", "a.py: line 3 is not utf-8-sig text (byte 0xfe) and declares no other encoding"),
    (b"# -*- coding: ascii -*-\nx = '\xe9'\n", "a.py: line 2 is not ascii text (byte 0xe9)"),
    (b"\n\n\xff", "a.py: line 3 is not utf-8 text (byte 0xff) and declares no other encoding"),
    (b"x = 1\n\n# caf\xe9\n", "a.py: line 3 is not utf-8 text (byte 0xe9) and declares no other encoding"),
])
def test_undecodable_bytes_name_their_line_and_the_encoding(tmp_path, data, said):
    (tmp_path / "a.py").write_bytes(data)
    with pytest.raises(SourceError) as caught:
        read_source(tmp_path / "a.py")
    assert str(caught.value) == said


@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"])
def test_an_undecodable_notebook_is_not_a_notebook(tmp_path, bom):
    (tmp_path / "n.ipynb").write_bytes(bom + b'{"cells":\n[]\n\xff}')
    with pytest.raises(SourceError, match=r"^n\.ipynb: not a Jupyter notebook: line 3 is not UTF-8 text \(byte 0xff\)$"):
        read_source(tmp_path / "n.ipynb")


def test_each_kind_of_special_file_is_named():
    import stat

    assert [src._file_kind(mode) for mode in (stat.S_IFDIR, stat.S_IFIFO, stat.S_IFCHR, stat.S_IFBLK,
                                              stat.S_IFSOCK, 0)] == [
        "a folder", "a FIFO", "a character device", "a block device", "a socket", "a special file"]


def test_a_socket_is_refused(tmp_path):
    import socket

    server = socket.socket(socket.AF_UNIX)
    server.bind(str(tmp_path / "net.py"))
    try:
        with pytest.raises(SourceError, match=r"^net\.py: (not a regular file \(a socket\)|cannot open: .*), not read"
                                              r"|^net\.py: cannot open"):
            read_source(tmp_path / "net.py")
    finally:
        server.close()


@pytest.mark.parametrize("count, said", [
    (0, "0 bytes"), (1023, "1023 bytes"), (1024, "1 KiB"), (1536, "1.5 KiB"), ((1 << 20) - 1, "1.02e+03 KiB"),
    (1 << 20, "1 MiB"), ((1 << 30) - 1, "1.02e+03 MiB"), (1 << 30, "1 GiB"), (100 << 30, "100 GiB"),
])
def test_sizes_are_said_in_the_largest_unit(count, said):
    assert src._size(count) == said


def test_a_v3_worksheet_without_a_list_of_cells_is_passed_over():
    text = json.dumps({"worksheets": [{"cells": 3}, "sheet", {"cells": [
        {"cell_type": "code", "input": "x = 1"}, {"cell_type": "markdown", "source": "# t"}]}]})
    assert src.notebook_code_cells(text) == [(1, "x = 1")]


def test_a_cell_source_must_be_text():
    assert src.cell_text(["a = 1\n", "b = 2"]) == "a = 1\nb = 2"
    assert src.cell_text(["a = 1\n", 2]) is None and src.cell_text(3) is None and src.cell_text("x") == "x"


def test_ipython_lines_are_set_aside_only_when_that_makes_the_cell_parse():
    tree, error = src.parse_cell('s = """\n%d items\n"""\n')  # plain Python: a % line inside a string stays
    assert error is None and tree.body[0].value.value == "\n%d items\n"
    tree, error = src.parse_cell("%matplotlib inline\nx = (\n")  # still broken without the magic: broken
    assert tree is None and isinstance(error, SyntaxError)
    tree, error = src.parse_cell("%matplotlib inline\nx = 1\n")
    assert error is None and isinstance(tree.body[1], src.ast.Assign)
    assert src.parse_cell("%%bash\nls\n") == (None, None)
    tree, error = src.parse_cell("!ls \x00\nx = 1\n")  # a NUL byte in a shell line: set aside with it
    assert error is None and len(tree.body) == 2


def test_what_the_parser_cannot_take_is_an_error_not_a_crash():
    tree, error = src._parse("x = " + "1+" * 100_000 + "1", "<deep>")
    assert tree is None and isinstance(error, RecursionError)
    tree, error = src._parse("x = " + "-" * 200_000 + "1", "<deeper>")
    assert tree is None and isinstance(error, MemoryError)
    assert src.names_in("x = " + "1+" * 100_000 + "1\ndef f():\n    pass\n") == {"x", "f"}  # by the line scan


def test_a_python_file_is_not_read_as_a_cell(tmp_path):
    (tmp_path / "a.py").write_text("x = 1\n!ls\nif True:\n    y = 2\n")
    assert defined_names(tmp_path / "a.py") == {"x"}  # it does not parse: its column-0 names
    nb = notebook(tmp_path, "x = 1\n!ls\nif True:\n    y = 2\n")
    assert defined_names(nb) == {"x", "y"}  # a cell: IPython lines set aside


def test_names_in_every_kind_of_block_and_target(tmp_path):
    (tmp_path / "a.py").write_text(
        "[a, b] = 1, 2\n(c, [d, *e]) = 1, [2, 3]\n"
        "try:\n    f = 1\nexcept* ValueError:\n    g = 2\n"
        "if mode == '__main__':\n    h = 1\n"
        "if __name__ == '__main__':\n    never = 1\n"
        "if '__main__' == __name__:\n    never_either = 1\n")
    assert defined_names(tmp_path / "a.py") == {"a", "b", "c", "d", "e", "f", "g", "h"}


@pytest.mark.parametrize("guard", ["ImportError", "ModuleNotFoundError", "Exception", "BaseException",
                                   "(ValueError, ImportError)", ""])
def test_an_import_with_a_fallback_is_not_needed(guard):
    source = f"try:\n    import cupy as xp\nexcept {guard}:\n    import numpy as xp\nimport scipy.linalg\n"
    assert src.modules_imported_by(source) == {"numpy", "scipy.linalg"}


def test_the_modules_a_file_imports(tmp_path):
    source = ("import a.b, c\nfrom d.e import f\nfrom . import g\nfrom .h import i\n"
              "def k():\n    import inner\n"
              "try:\n    import guarded\nexcept ValueError:\n    import handler\nelse:\n    import orelse\n"
              "finally:\n    import final\n")
    assert src.modules_imported_by(source) == {"a.b", "c", "d.e", "inner", "guarded", "handler", "orelse", "final"}
    (tmp_path / "m.py").write_text(source)
    assert src.imported_modules(tmp_path / "m.py") == src.modules_imported_by(source)
    assert src.modules_imported_by("import (\n") == set()
    (tmp_path / "bad.py").write_bytes(b"import x\n\xff\n")
    assert src.imported_modules(tmp_path / "bad.py") == set() and src.imported_modules(tmp_path / "gone.py") == set()


def test_more_guards_of_an_import():
    assert src.modules_imported_by("try:\n    import cupy\nexcept* ImportError:\n    pass\n") == set()
    two = "try:\n    import cupy\nexcept ValueError:\n    pass\nexcept ImportError:\n    pass\n"
    assert src.modules_imported_by(two) == set()


def test_what_only_the_compiler_refuses_is_named(tmp_path):
    nb = notebook(tmp_path, "x = 1", "for i in range(3):\n    pass\nbreak\n")
    assert syntax_problem(nb) == "SyntaxError: 'break' outside loop at hw.ipynb in cell 2, line 3"
    (tmp_path / "r.py").write_text("x = 1\nreturn x\n")
    assert syntax_problem(tmp_path / "r.py") == "SyntaxError: 'return' outside function at r.py:2"
    (tmp_path / "deep.py").write_text("x = " + "1+" * 100_000 + "1\n")
    assert syntax_problem(tmp_path / "deep.py") == "nested too deeply for Python to compile: deep.py"


def test_a_syntax_error_without_a_message_is_invalid_syntax():
    assert syntax.syntax_cause(SyntaxError("")) == "SyntaxError: invalid syntax"
    assert syntax.syntax_cause(SyntaxError(None)) == "SyntaxError: invalid syntax"


@pytest.mark.parametrize("source, construct", [
    ("try:\n    pass\nexcept ValueError, e:" + " " * 1500 + "# a long line\n    pass\n", "except X, e"),
    ("x = 1\n0777 + 1\n", "octal literal 0777"),
    ("x = 0777" + " " * 60 + "# permissions\n", "octal literal 0777"),
])
def test_python2_constructs_on_long_lines_and_at_their_start(tmp_path, source, construct):
    (tmp_path / "old.py").write_text(source)
    assert syntax_problem(tmp_path / "old.py").startswith(f"Python 2 syntax ({construct}) at old.py:")


def test_what_is_not_python_text_is_named_with_its_place(tmp_path):
    (tmp_path / "nul.py").write_bytes(b"A = 1\nx = '\x00'\n")
    assert syntax_problem(tmp_path / "nul.py") == "SyntaxError: source code string cannot contain null bytes in nul.py"
    # A coding cookie that decodes to a lone surrogate: Python itself cannot compile the text.
    (tmp_path / "sur.py").write_bytes(b"# -*- coding: raw_unicode_escape -*-\nx = '\\ud800'\n")
    problem = syntax_problem(tmp_path / "sur.py")
    assert problem.startswith("not Python source ('utf-8' codec can't encode character '\\ud800' in position ")
    assert problem.endswith("surrogates not allowed): sur.py")
    nb = notebook(tmp_path, "#md intro", "A = 1", "x = '\x00'")
    assert syntax_problem(nb) == "SyntaxError: source code string cannot contain null bytes in hw.ipynb in cell 3"
    nb = notebook(tmp_path, "A = 1", "s = '\ud800'", name="sur.ipynb")
    assert syntax_problem(nb).startswith("not Python source ('utf-8' codec can't encode character")
    assert syntax_problem(nb).endswith("): sur.ipynb in cell 2")
    nb = notebook(tmp_path, "x = " + "-" * 100_000 + "1", name="deep.ipynb")
    assert syntax_problem(nb) == "nested too deeply for Python to compile: deep.ipynb in cell 1"


@pytest.mark.parametrize("source, construct", [
    ("os.chmod('out/01', 0755)\n", "octal literal 0755"),  # an earlier zero-led number in a string is not it
    ("name = 'réseau_ö'; os.chmod(name, 0700)\n", "octal literal 0700"),  # the offset counts bytes here
    ("mode = '0644' + ' ' * 40 + 'x'; os.umask(022)\n", "octal literal 022"),
])
def test_the_octal_literal_named_is_the_one_python_refused(tmp_path, source, construct):
    (tmp_path / "old.py").write_text(source, encoding="utf-8")
    assert syntax_problem(tmp_path / "old.py") == f"Python 2 syntax ({construct}) at old.py:1"


def test_an_except_that_only_lacks_parentheses_is_python3(tmp_path):
    (tmp_path / "h.py").write_text("try:\n    pass\nexcept ValueError, TypeError as e:\n    pass\n")
    assert syntax_problem(tmp_path / "h.py") == "SyntaxError: multiple exception types must be parenthesized at h.py:3"


def test_a_syntax_error_without_a_column_is_read_from_the_line_start():
    error = SyntaxError("invalid syntax", ("old.py", 3, None, "`x` + 1\n"))
    assert syntax.python2_construct(error) == "backticks"


def test_a_hand_made_syntax_error_with_a_column_below_one_is_read_from_the_start():
    assert syntax.python2_construct(SyntaxError("invalid syntax", ("old.py", 3, -5, "`x` + 1\n"))) == "backticks"
    assert syntax.python2_construct(SyntaxError("invalid syntax", ("old.py", 3, 0, "<> 1\n"))) == "<> operator"


def test_a_long_sum_the_parser_takes_is_not_said_too_deep(tmp_path):
    # 1,500 terms: Python compiles the text (Jupyter runs it); only compiling its tree would recurse too deep.
    cell = "x = " + "1 + " * 1500 + "1"
    assert syntax_problem(notebook(tmp_path, "#md sums", cell)) is None
    (tmp_path / "sum.py").write_text(cell + "\n")
    assert syntax_problem(tmp_path / "sum.py") is None


@pytest.mark.parametrize("source, said", [
    ("print(total 'items')\n", "SyntaxError: invalid syntax at q.py:1"),  # a quote where Python stopped: no ur
    ('label = name "s"\n', "SyntaxError: invalid syntax at q.py:1"),
    ('x = ur"abc"\n', "Python 2 syntax (ur'' string) at q.py:1"),
    ("x = Ur'abc'\n", "Python 2 syntax (ur'' string) at q.py:1"),
])
def test_a_ur_string_needs_both_its_prefix_and_its_quote(tmp_path, source, said):
    (tmp_path / "q.py").write_text(source)
    assert syntax_problem(tmp_path / "q.py") == said


def test_only_an_invalid_syntax_error_is_read_for_backticks_and_the_like():
    for text in ("`x`\n", "<> 1\n", "raise E, 'm'\n"):
        assert syntax.python2_construct(SyntaxError("expected ':'", ("f.py", 1, 1, text))) is None
        assert syntax.python2_construct(SyntaxError("invalid syntax", ("f.py", 1, 1, text))) is not None


@pytest.mark.parametrize("line, chevron", [
    ("print >>sys.stderr, 'loss', loss", True),
    ("    print>>f, x", True),
    ("\tprint  >> log, epoch", True),
    ("print(x >> 1)", False),
    ("printer >> 2", False),
    ("x = print >> f", False),
    (" " * 996 + "print >>f, x", False),  # past the 1,000 characters looked at
    (" " * 990 + "print >>f, x", True),
])
def test_a_python2_print_chevron_is_recognised(line, chevron):
    assert syntax.is_print_chevron(line) is chevron


@pytest.mark.parametrize("error", [RecursionError, MemoryError])
def test_json_that_exhausts_the_reader_is_not_a_notebook(tmp_path, monkeypatch, error):
    path = notebook(tmp_path, "A = 1")

    def loads(text):
        raise error()

    monkeypatch.setattr(src.json, "loads", loads)
    with pytest.raises(SourceError, match=r"^hw\.ipynb: not a Jupyter notebook: invalid JSON$"):
        src.notebook_code_cells(path.read_text(), path)
    assert defined_names(path) == set()


def test_ipython_lines_become_pass_at_their_indentation_and_are_numbered():
    lines = ["%load_ext autoreload", "!pip install \\", "    numpy \\", "    tqdm", "files = !ls", "np.dot?",
             "def f(x):", "    %time y = x", "    # !not a command", "    return x"]
    stripped, removed = src.strip_ipython(lines)
    assert stripped == ["pass", "pass", "", "", "pass", "pass", "def f(x):", "    pass", "    # !not a command",
                        "    return x"]
    assert removed == [1, 2, 5, 6, 8]  # 1-based, continuation lines not counted


@pytest.mark.parametrize("error", [RecursionError, MemoryError])
def test_defined_names_never_raises_even_when_python_gives_out(tmp_path, monkeypatch, error):
    (tmp_path / "a.py").write_text("def make_mlp():\n    pass\n")

    def exhausted(body):
        raise error()

    monkeypatch.setattr(src, "top_level_names", exhausted)
    assert defined_names(tmp_path / "a.py") == set()
