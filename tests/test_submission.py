"""What a spec names and what of it is copied into the sandbox: submissions as students hand them in.

No worker is started: these pin what ``resolve`` finds (without running the submission) and what
``copy_submission`` puts in the private folder — never a link, a device, the answer key, a
virtual environment or a checkpoint folder; every cap at its bound, and a note for what is left out.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from compare.grader.sandbox.errors import StudentError
from compare.grader.submissions import submission as S
from compare.grader.submissions.submission import (
    Submission,
    available_in_sandbox,
    copy_submission,
    definitions_only,
    is_path,
    package_context,
    parse_spec,
    resolve,
)

NET = "import numpy as np\n\nclass Net:\n    def __init__(self, sizes, activation):\n        self.params = {}\n"


def write(path: Path, text: str = NET) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def copied(sub: Submission, dest: Path) -> list:
    copy_submission(sub, dest)
    return sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if not p.is_dir())


# ----------------------------------------------------------------------------- the spec
@pytest.mark.parametrize("spec, said", [
    ("student.py", "expected MODULE:FACTORY or path/to/file.py:FACTORY, got 'student.py' (no colon)"),
    (":Net", "':Net' names no module or file before the colon"),
    ("  :Net", "names no module or file before the colon"),
    ("student.py:", "'student.py:': '' after the colon is not a Python name"),
    ("student.py:1Net", "'1Net' after the colon is not a Python name"),
    ("student.py:Net..make", "'Net..make' after the colon is not a Python name"),
    ("student.py:Net.", "'Net.' after the colon is not a Python name"),
])
def test_a_spec_that_names_nothing_is_a_load_error(spec, said):
    with pytest.raises(StudentError, match=None) as caught:
        parse_spec(spec)
    assert caught.value.kind == "load" and said in str(caught.value)


def test_a_spec_is_cut_at_its_last_colon():
    assert parse_spec("C:/course/hw:1/student.py:make") == ("C:/course/hw:1/student.py", "make")
    assert parse_spec("pkg.mod:Factory.create") == ("pkg.mod", "Factory.create")


def test_a_spec_of_something_else_than_a_string_is_refused():
    with pytest.raises(StudentError, match="no colon"):
        parse_spec(None)


def test_what_looks_like_a_path():
    assert is_path("hw.py") and is_path("hw.ipynb") and is_path("folder/hw") and not is_path("pkg.module")
    assert is_path(f"folder{os.sep}hw")


def test_a_file_that_is_not_there_or_not_python_is_said(tmp_path):
    with pytest.raises(StudentError, match="^no such file: gone.py$"):
        resolve("gone.py:Net", cwd=tmp_path)
    write(tmp_path / "net.txt")
    with pytest.raises(StudentError, match=r"^cannot load net.txt as a Python module \(expected .py or .ipynb\)$"):
        resolve("./net.txt:Net", cwd=tmp_path)
    (tmp_path / "folder.py").mkdir()
    with pytest.raises(StudentError, match="no such file"):
        resolve("folder.py:Net", cwd=tmp_path)


def test_a_file_names_its_folder_and_loads_under_its_stem(tmp_path):
    write(tmp_path / "hw" / "my_net.py")
    sub = resolve("hw/my_net.py:Net", cwd=tmp_path)
    assert (sub.root, sub.file, sub.module, sub.only, sub.attr) == (tmp_path / "hw", "my_net.py", None, None, "Net")
    assert sub.module_name == "my_net"
    alone = resolve("hw/my_net.py:Net", cwd=tmp_path, alone=True)
    assert alone.only == ("my_net.py",) and alone.file == "my_net.py"
    write(tmp_path / "2-layer net.py")
    assert resolve("2-layer net.py:Net", cwd=tmp_path).module_name == "submission"


def test_a_file_inside_a_package_is_loaded_as_its_module(tmp_path):
    write(tmp_path / "hw" / "__init__.py", "")
    write(tmp_path / "hw" / "net.py", "from .layers import dense\n" + NET)
    write(tmp_path / "hw" / "layers.py", "def dense(x):\n    return x\n")
    sub = resolve("hw/net.py:Net", cwd=tmp_path)
    assert (sub.root, sub.module, sub.package, sub.file) == (tmp_path, "hw.net", "hw", None)
    assert resolve("hw/net.py:Net", cwd=tmp_path, alone=True).module is None  # a class folder: the file alone
    outside = resolve(f"{tmp_path / 'hw' / 'net.py'}:Net", cwd=tmp_path / "hw")
    assert outside.module is None and outside.file == "net.py"


def test_a_module_names_imports_are_planned_too(tmp_path):
    write(tmp_path / "solo.py", "import tqdm\n" + NET)
    assert resolve("solo:Net", cwd=tmp_path).stubs == ("tqdm",)


def test_a_package_modules_imports_are_planned_too(tmp_path):
    write(tmp_path / "hw" / "__init__.py", "")
    write(tmp_path / "hw" / "net.py", "import matplotlib.pyplot as plt\n" + NET)
    assert resolve("hw/net.py:Net", cwd=tmp_path).stubs == ("matplotlib",)


def test_a_notebook_is_loaded_as_its_definitions(tmp_path):
    import json

    cells = [{"cell_type": "code", "source": NET, "metadata": {}, "outputs": [], "execution_count": None},
             {"cell_type": "code", "source": "net = Net([2, 2], 'relu')\nnet.train()", "metadata": {},
              "outputs": [], "execution_count": None}]
    write(tmp_path / "hw.ipynb", json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    sub = resolve("hw.ipynb:Net", cwd=tmp_path)
    assert sub.file == "hw.py" and "class Net" in sub.generated["hw.py"] and "train" not in sub.generated["hw.py"]
    assert sub.notes[0].startswith("hw.ipynb: only its definitions are graded; skipped 2 statement(s)")


def test_a_notebook_keeps_what_is_allowed_and_finds_the_courses_factory(tmp_path):
    import json

    cells = [{"cell_type": "code", "source": "import scipy.linalg\ndef build(sizes, activation):\n    return None\n",
              "metadata": {}, "outputs": [], "execution_count": None}]
    write(tmp_path / "hw.ipynb", json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    sub = resolve("hw.ipynb:make_mlp", cwd=tmp_path, allow_imports=("scipy",), also_factories=("build",))
    assert "import scipy.linalg" in sub.generated["hw.py"] and "def build" in sub.generated["hw.py"]
    without = resolve("hw.ipynb:make_mlp", cwd=tmp_path, also_factories=("build",))
    assert "import scipy" not in without.generated["hw.py"]


def notebook_file(path: Path, *sources: str) -> Path:
    import json

    cells = [{"cell_type": "code", "source": source, "metadata": {}, "outputs": [], "execution_count": None}
             for source in sources]
    return write(path, json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))


def test_a_notebook_module_is_named_after_it_unless_that_file_exists(tmp_path):
    notebook_file(tmp_path / "hw.ipynb", NET, "net = Net([2, 2], 'relu')")
    sub = resolve("hw.ipynb:Net", cwd=tmp_path)
    assert sub.file == "hw.py" and sub.locate("hw.py:2: boom") == "hw.ipynb cell 1, line 3: boom"  # class Net
    assert sub.notes[1:] == ["cell 2, line 1: net = Net([2, 2], 'relu') — not a definition"]
    write(tmp_path / "hw.py", "x = 1\n")
    assert resolve("hw.ipynb:Net", cwd=tmp_path).file == "_notebook.py"
    notebook_file(tmp_path / "2024 hw.ipynb", NET)
    clean = resolve("2024 hw.ipynb:Net", cwd=tmp_path)
    assert clean.file == "_notebook.py" and clean.notes == []


def test_a_notebook_that_cannot_be_read_or_hides_its_factory_is_a_load_error(tmp_path):
    write(tmp_path / "bad.ipynb", "{not json")
    with pytest.raises(StudentError, match="bad.ipynb: not a Jupyter notebook") as caught:
        resolve("bad.ipynb:Net", cwd=tmp_path)
    assert caught.value.kind == "load"
    notebook_file(tmp_path / "hw.ipynb", "import numpy as np", "class Net:\n    def __init__(self:\n        pass\n")
    with pytest.raises(StudentError, match=r"^hw\.ipynb .*cell 2") as caught:
        resolve("hw.ipynb:Net", cwd=tmp_path)
    assert caught.value.kind == "load"


def test_definitions_only_keeps_the_stubbed_imports(tmp_path):
    write(tmp_path / "hw.py", "import seaborn as sns\n" + NET + "\nsns.set()\n")
    sub = resolve(f"{tmp_path / 'hw.py'}:Net")
    again = definitions_only(sub, "it failed at import")
    assert sub.stubs == ("seaborn",) and "import seaborn as sns" in again.generated["hw.py"]
    assert "sns.set()" not in again.generated["hw.py"]


def test_a_finder_that_fails_is_no_module(tmp_path, monkeypatch):
    import sys
    import types

    broken = types.ModuleType("half_imported")
    broken.__spec__ = None  # what find_spec refuses with ValueError
    monkeypatch.setitem(sys.modules, "half_imported", broken)
    with pytest.raises(StudentError, match="no module named 'half_imported'"):
        resolve("half_imported:Net", cwd=tmp_path)

    class Refusing:
        def find_spec(self, name, path=None, target=None):
            raise ImportError(name)

    monkeypatch.setattr(sys, "meta_path", [Refusing(), *sys.meta_path])
    with pytest.raises(StudentError, match="no module named 'refused_by_a_finder'"):
        resolve("refused_by_a_finder:Net", cwd=tmp_path)


def test_a_module_name_is_found_without_running_it(tmp_path):
    write(tmp_path / "solo.py", "raise SystemExit('ran at resolve')\n" + NET)
    sub = resolve("solo:Net", cwd=tmp_path)
    assert (sub.root, sub.module, sub.package, sub.only, sub.file) == (tmp_path, "solo", "solo", None, None)
    write(tmp_path / "kit" / "__init__.py", "raise SystemExit('ran at resolve')\n")
    write(tmp_path / "kit" / "net.py")
    sub = resolve("kit.net:Net", cwd=tmp_path)
    assert (sub.root, sub.module, sub.package, sub.only) == (tmp_path, "kit.net", "kit", ("kit",))


@pytest.mark.parametrize("spec, said", [
    ("my-net:Net", "'my-net' is not a module name (nor a path to a .py file)"),
    ("nowhere_to_be_found:Net", "no module named 'nowhere_to_be_found' (from 'nowhere_to_be_found:Net')"),
    ("sys:Net", "no module named 'sys' (from 'sys:Net')"),  # built into the interpreter: nothing to copy
    ("_frozen_importlib:Net", "no module named '_frozen_importlib' (from '_frozen_importlib:Net')"),  # frozen in
    ("kit.my-net:Net", "'kit.my-net' is not a module name (nor a path to a .py file)"),
    ("loose_folder.net:Net", "no module named 'loose_folder' (from 'loose_folder.net:Net')"),  # a namespace package
])
def test_a_module_that_cannot_be_copied_is_said(tmp_path, spec, said):
    write(tmp_path / "loose_folder" / "net.py")
    with pytest.raises(StudentError) as caught:
        resolve(spec, cwd=tmp_path)
    assert caught.value.kind == "load" and str(caught.value) == said


def test_a_generated_files_line_is_told_as_the_notebooks_cell():
    sub = Submission("hw.ipynb:Net", Path("."), "Net", locations={"hw.py": lambda line: f"hw.ipynb cell 4, line {line}"})
    assert sub.locate("hw.py:12: ValueError; hw.py:3") == "hw.ipynb cell 4, line 12: ValueError; hw.ipynb cell 4, line 3"
    assert sub.locate("myhw.py:12 and hw.py") == "myhw.py:12 and hw.py"


# ----------------------------------------------------------------------------- how far a package reaches
def test_package_context(tmp_path):
    write(tmp_path / "net.py")
    assert package_context(tmp_path, ("net.py",)) == (tmp_path, None)
    write(tmp_path / "a" / "notes.ipynb", "{}")
    write(tmp_path / "a" / "__init__.py", "")
    assert package_context(tmp_path, ("a", "notes.ipynb")) == (tmp_path / "a", None)  # a notebook: loaded alone
    (tmp_path / "a" / "__init__.py").unlink()
    write(tmp_path / "a" / "b" / "plain.py")  # no __init__, no import of its folders: alone
    assert package_context(tmp_path, ("a", "b", "plain.py")) == (tmp_path / "a" / "b", None)
    write(tmp_path / "a" / "b" / "__init__.py", "")
    assert package_context(tmp_path, ("a", "b", "plain.py")) == (tmp_path / "a", "b.plain")
    write(tmp_path / "a" / "__init__.py", "")
    assert package_context(tmp_path, ("a", "b", "plain.py")) == (tmp_path, "a.b.plain")


def test_a_relative_or_absolute_import_says_how_far_up_the_package_goes(tmp_path):
    write(tmp_path / "cs231n" / "classifiers" / "fc_net.py", "from ..layers import affine_forward\n" + NET)
    assert package_context(tmp_path, ("cs231n", "classifiers", "fc_net.py")) == (tmp_path, "cs231n.classifiers.fc_net")
    write(tmp_path / "cs231n" / "classifiers" / "two.py", "from cs231n.layers import affine_forward\n" + NET)
    assert package_context(tmp_path, ("cs231n", "classifiers", "two.py")) == (tmp_path, "cs231n.classifiers.two")
    write(tmp_path / "cs231n" / "classifiers" / "three.py", "import cs231n.layers as layers\n" + NET)
    assert package_context(tmp_path, ("cs231n", "classifiers", "three.py")) == (tmp_path, "cs231n.classifiers.three")
    write(tmp_path / "hw" / "kit" / "four.py", "from kit.layers import dense\n" + NET)  # up to kit, not hw
    assert package_context(tmp_path, ("hw", "kit", "four.py")) == (tmp_path / "hw", "kit.four")
    write(tmp_path / "x" / "y" / "deep.py", "from ....far import thing\n" + NET)  # never above the top
    assert package_context(tmp_path, ("x", "y", "deep.py")) == (tmp_path, "x.y.deep")
    write(tmp_path / "my-hw" / "net.py", "from .layers import dense\n" + NET)  # not a package name
    assert package_context(tmp_path, ("my-hw", "net.py")) == (tmp_path / "my-hw", None)
    write(tmp_path / "broken" / "net.py", "from . import (\n")  # does not parse: loaded alone, said when loaded
    assert package_context(tmp_path, ("broken", "net.py")) == (tmp_path / "broken", None)
    write(tmp_path / "latin" / "net.py", "")
    (tmp_path / "latin" / "net.py").write_bytes(b"from . import x  # caf\xe9\n")  # not UTF-8: unreadable
    assert package_context(tmp_path, ("latin", "net.py")) == (tmp_path / "latin", None)
    write(tmp_path / "deep" / "net.py", "from . import x\n" + "x = " + "-" * 200_000 + "1\n")  # too deep to parse
    assert package_context(tmp_path, ("deep", "net.py")) == (tmp_path / "deep", None)
    write(tmp_path / "long" / "net.py", "from . import x\n" + "x = " + "1+" * 100_000 + "1\n")  # a recursion too deep
    assert package_context(tmp_path, ("long", "net.py")) == (tmp_path / "long", None)


# ----------------------------------------------------------------------------- the copy
def test_only_regular_files_of_the_submission_are_copied(tmp_path):
    src = tmp_path / "hw"
    write(src / "net.py")
    write(src / "data" / "weights.npz", "w")
    write(src / ".ipynb_checkpoints" / "net-checkpoint.py")
    write(src / ".git" / "config", "x")
    write(src / ".env", "SECRET=1")
    write(src / "__pycache__" / "net.cpython-311.pyc", "x")
    write(src / "__MACOSX" / "._net.py", "x")
    write(src / "__MACOSX" / "net.py", "x")
    write(src / "venv" / "pyvenv.cfg", "home = /usr")
    write(src / "venv" / "lib" / "torch.py", "x")
    write(src / "hw.ipynb", "{}")
    os.symlink("/etc/passwd", src / "passwd.py")
    os.symlink(src / "data", src / "data_link")
    os.mkfifo(src / "pipe")  # opening it to copy would hang: never opened
    sub = resolve(f"{src / 'net.py'}:Net")
    assert copied(sub, tmp_path / "copy") == ["data/weights.npz", "net.py"]
    assert sub.notes == []


@pytest.mark.parametrize("key", ["manual", "reference", "compare", "torch"])
def test_the_answer_key_beside_a_submission_is_never_copied(tmp_path, key):
    src = tmp_path / "hw"
    write(src / "net.py")
    write(src / f"{key}.py", "ANSWER = 1\n")
    write(src / key / "__init__.py", "ANSWER = 1\n")
    write(src / "helpers.py", "X = 1\n")
    assert copied(resolve(f"{src / 'net.py'}:Net"), tmp_path / "copy") == ["helpers.py", "net.py"]


def test_a_submission_named_like_the_answer_key_is_copied_itself(tmp_path):
    write(tmp_path / "manual" / "__init__.py", "")
    write(tmp_path / "manual" / "mlp.py")
    write(tmp_path / "reference.py", "ANSWER = 1\n")
    sub = resolve("manual.mlp:Net", cwd=tmp_path)
    assert copied(sub, tmp_path / "copy") == ["manual/__init__.py", "manual/mlp.py"]


def test_folders_are_copied_four_deep(tmp_path):
    src = tmp_path / "hw"
    write(src / "net.py")
    write(src / "a" / "b" / "c" / "d" / "four.txt", "4")
    write(src / "a" / "b" / "c" / "d" / "e" / "five.txt", "5")
    assert copied(resolve(f"{src / 'net.py'}:Net"), tmp_path / "copy") == ["a/b/c/d/four.txt", "net.py"]
    assert S.MAX_COPY_DEPTH == 4


def test_the_caps_are_the_documented_ones():
    assert (S.MAX_COPY_BYTES, S.MAX_COPY_FILES, S.MAX_COPY_DEPTH, S.MAX_SCANNED_FILES) == (64 << 20, 2000, 4, 500)


def test_the_file_count_cap_at_its_bound_and_one_over(tmp_path, monkeypatch):
    monkeypatch.setattr(S, "MAX_COPY_FILES", 3)
    src = tmp_path / "hw"
    for name in ("a.txt", "b.txt", "net.py"):
        write(src / name, name)
    sub = resolve(f"{src / 'net.py'}:Net")
    assert copied(sub, tmp_path / "at") == ["a.txt", "b.txt", "net.py"] and sub.notes == []
    write(src / "c.txt", "c")
    sub = resolve(f"{src / 'net.py'}:Net")
    assert copied(sub, tmp_path / "over") == ["a.txt", "b.txt", "net.py"]  # its own file first, always
    assert sub.notes == ["not copied into the sandbox (over 64 MiB or 3 files in all, or not a regular file): c.txt"]


def test_the_byte_cap_at_its_bound_and_one_over(tmp_path, monkeypatch):
    src = tmp_path / "hw"
    write(src / "net.py")
    size = (src / "net.py").stat().st_size
    monkeypatch.setattr(S, "MAX_COPY_BYTES", size + 10)
    write(src / "data.txt", "x" * 10)
    sub = resolve(f"{src / 'net.py'}:Net")
    assert copied(sub, tmp_path / "at") == ["data.txt", "net.py"] and sub.notes == []
    write(src / "data.txt", "x" * 11)
    sub = resolve(f"{src / 'net.py'}:Net")
    assert copied(sub, tmp_path / "over") == ["net.py"] and sub.notes[0].endswith(": data.txt")


def test_what_is_left_out_is_listed_five_at_most(tmp_path, monkeypatch):
    monkeypatch.setattr(S, "MAX_COPY_FILES", 1)
    src = tmp_path / "hw"
    write(src / "net.py")
    for i in range(7):
        write(src / f"d{i}.txt", "x")
    sub = resolve(f"{src / 'net.py'}:Net")
    copied(sub, tmp_path / "copy")
    assert sub.notes[0].endswith(": d0.txt, d1.txt, d2.txt, d3.txt, d4.txt (+2 more)")
    (src / "d6.txt").unlink()
    sub = resolve(f"{src / 'net.py'}:Net")
    copied(sub, tmp_path / "copy2")
    assert sub.notes[0].endswith(": d0.txt, d1.txt, d2.txt, d3.txt, d4.txt (+1 more)")
    (src / "d5.txt").unlink()
    sub = resolve(f"{src / 'net.py'}:Net")
    copied(sub, tmp_path / "copy3")
    assert sub.notes[0].endswith(": d0.txt, d1.txt, d2.txt, d3.txt, d4.txt")
    write(src / ("a" * 100 + ".txt"), "x")  # a long name: cut at 80
    sub = resolve(f"{src / 'net.py'}:Net")
    copied(sub, tmp_path / "copy4")
    assert sub.notes[0].endswith(": " + "a" * 79 + "…, d0.txt, d1.txt, d2.txt, d3.txt (+1 more)")


def test_the_submission_file_is_copied_first_and_generated_files_are_written(tmp_path, monkeypatch):
    monkeypatch.setattr(S, "MAX_COPY_FILES", 1)
    src = tmp_path / "hw"
    write(src / "a_helper.py", "X = 1\n")
    write(src / "z_net.py")
    sub = resolve(f"{src / 'z_net.py'}:Net")
    sub.generated["from_notebook.py"] = "Y = 2\n"
    assert copied(sub, tmp_path / "copy") == ["from_notebook.py", "z_net.py"]
    assert (tmp_path / "copy" / "from_notebook.py").read_text() == "Y = 2\n"


def test_a_modules_package_files_come_first(tmp_path, monkeypatch):
    monkeypatch.setattr(S, "MAX_COPY_FILES", 3)
    write(tmp_path / "kit" / "__init__.py", "")
    write(tmp_path / "kit" / "AAA.py", "A = 1\n")  # before __init__.py in the walk's order
    write(tmp_path / "kit" / "inner" / "__init__.py", "")
    write(tmp_path / "kit" / "inner" / "net.py")
    sub = resolve("kit.inner.net:Net", cwd=tmp_path)
    assert copied(sub, tmp_path / "copy") == ["kit/__init__.py", "kit/inner/__init__.py", "kit/inner/net.py"]


def test_a_file_alone_leaves_its_classmates_behind(tmp_path):
    write(tmp_path / "alice.py")
    write(tmp_path / "bob.py")
    write(tmp_path / "data" / "x.txt", "x")
    sub = resolve(f"{tmp_path / 'alice.py'}:Net", alone=True)
    assert copied(sub, tmp_path / "copy") == ["alice.py"]


def test_a_regular_file_is_copied_through_no_link_and_within_its_limit(tmp_path):
    write(tmp_path / "f.txt", "12345")
    assert S._copy_regular_file(tmp_path / "f.txt", tmp_path / "o" / "at.txt", 5) == 5
    assert (tmp_path / "o" / "at.txt").read_text() == "12345"
    assert S._copy_regular_file(tmp_path / "f.txt", tmp_path / "o" / "over.txt", 4) == -1
    assert not (tmp_path / "o" / "over.txt").exists()
    os.symlink(tmp_path / "f.txt", tmp_path / "link.txt")
    assert S._copy_regular_file(tmp_path / "link.txt", tmp_path / "o" / "link.txt", 100) == -1
    assert S._copy_regular_file(tmp_path / "gone.txt", tmp_path / "o" / "gone.txt", 100) == -1
    assert S._copy_regular_file(tmp_path / "f.txt", tmp_path / "o" / "at.txt", 100) == -1  # never over a file
    os.mkfifo(tmp_path / "pipe")
    assert S._copy_regular_file(tmp_path / "pipe", tmp_path / "o" / "pipe", 100) == -1
    assert not (tmp_path / "o" / "pipe").exists()
    # /proc files say they hold 0 bytes and hold more: what a file that grows while copied looks like
    assert S._copy_regular_file(Path("/proc/self/status"), tmp_path / "o" / "grew", 10) == -1
    assert not (tmp_path / "o" / "grew").exists()
    assert S._copy_regular_file(Path("/proc/self/status"), tmp_path / "o" / "whole", 1 << 20) > 10


def test_copying_leaves_no_file_open(tmp_path):
    write(tmp_path / "src" / "net.py")
    os.mkfifo(tmp_path / "src" / "pipe")
    before = len(os.listdir("/proc/self/fd"))
    for i in range(10):
        copied(resolve(f"{tmp_path / 'src' / 'net.py'}:Net"), tmp_path / f"copy{i}")
        S._copy_regular_file(tmp_path / "src" / "pipe", tmp_path / f"p{i}", 10)
        S._copy_regular_file(tmp_path / "src" / "net.py", tmp_path / f"small{i}", 1)
    assert len(os.listdir("/proc/self/fd")) == before


def test_a_copy_into_a_folder_that_exists_or_whose_parents_do_not(tmp_path):
    write(tmp_path / "src" / "net.py")
    sub = resolve(f"{tmp_path / 'src' / 'net.py'}:Net")
    (tmp_path / "empty").mkdir()
    assert copied(sub, tmp_path / "empty") == ["net.py"]
    assert copied(sub, tmp_path / "a" / "b" / "c") == ["net.py"]


def test_a_namespace_package_around_a_module_is_no_missing_file(tmp_path):
    write(tmp_path / "src" / "kit" / "net.py")
    sub = Submission("kit.net:Net", tmp_path / "src", "Net", module="kit.net", package="kit")
    assert copied(sub, tmp_path / "copy") == ["kit/net.py"] and sub.notes == []


# ----------------------------------------------------------------------------- what the sandbox offers
def test_what_can_be_imported_in_the_sandbox(tmp_path):
    write(tmp_path / "layers.py", "")
    write(tmp_path / "utils" / "__init__.py", "")
    write(tmp_path / "manual.py", "")
    write(tmp_path / "empty_folder" / "x.txt", "")
    available = available_in_sandbox(tmp_path, allow_imports=("scipy",))
    assert all(available(m) for m in ("os", "json", "numpy", "scipy", "layers", "utils"))
    assert not any(available(m) for m in ("manual", "torch", "compare", "sklearn", "empty_folder", "pandas"))
    assert not available_in_sandbox(tmp_path)("scipy")


def test_stubs_are_planned_from_every_python_file_within_the_caps(tmp_path, monkeypatch):
    write(tmp_path / "net.py", "import matplotlib.pyplot as plt\nimport jax\nimport helpers\n" + NET)
    write(tmp_path / "helpers.py", "import tqdm\nfrom past.builtins import xrange\n")
    write(tmp_path / "deep" / "a" / "b" / "c" / "d" / "far.py", "import seaborn\n")
    sub = resolve(f"{tmp_path / 'net.py'}:Net")
    assert sub.stubs == ("matplotlib", "past", "tqdm")
    assert sub.notes == ["stubbed: matplotlib.pyplot, tqdm (not available to graded code; used only if called)",
                         "Python 2 compatibility: past.builtins mapped to Python 3 builtins "
                         "(xrange is range, basestring is str)"]
    monkeypatch.setattr(S, "MAX_SCANNED_FILES", 1)
    assert resolve(f"{tmp_path / 'net.py'}:Net").stubs == ("matplotlib",)  # the file loaded first


def test_a_submodule_is_stubbed_without_its_parent_and_a_notebooks_function_imports_count(tmp_path):
    import json

    write(tmp_path / "net.py", "import matplotlib\nimport matplotlib.pyplot as plt\nimport tqdm\n" + NET)
    assert resolve(f"{tmp_path / 'net.py'}:Net").notes == [
        "stubbed: matplotlib.pyplot, tqdm (not available to graded code; used only if called)"]
    cells = [{"cell_type": "code", "source": "def show(x):\n    import seaborn\n    return x\n" + NET,
              "metadata": {}, "outputs": [], "execution_count": None}]
    write(tmp_path / "nb" / "hw.ipynb", json.dumps({"cells": cells, "metadata": {}, "nbformat": 4,
                                                    "nbformat_minor": 5}))
    assert resolve(f"{tmp_path / 'nb' / 'hw.ipynb'}:Net").stubs == ("seaborn",)


def test_only_the_files_copied_are_planned(tmp_path):
    write(tmp_path / "alice.py", "import numpy as np\n" + NET)
    write(tmp_path / "bob.py", "import seaborn\n")
    write(tmp_path / "lib" / "carol.py", "import pandas\n")
    assert resolve(f"{tmp_path / 'alice.py'}:Net", alone=True).stubs == ()
    assert resolve(f"{tmp_path / 'alice.py'}:Net").stubs == ("pandas", "seaborn")


def test_the_files_planned_stop_at_the_copys_byte_cap(tmp_path, monkeypatch):
    write(tmp_path / "net.py", "import tqdm\n" + NET)
    write(tmp_path / "sub" / "helper.py", "import seaborn\n")
    assert resolve(f"{tmp_path / 'net.py'}:Net").stubs == ("seaborn", "tqdm")
    monkeypatch.setattr(S, "MAX_COPY_BYTES", (tmp_path / "net.py").stat().st_size - 1)
    assert resolve(f"{tmp_path / 'net.py'}:Net").stubs == ("tqdm",)  # its own folder read, then no further


def test_the_plans_byte_cap_counts_the_files_at_its_bound(tmp_path, monkeypatch):
    write(tmp_path / "net.py", "import tqdm\n" + NET)
    write(tmp_path / "big.py", "# " + "x" * 100_000 + "\n")
    write(tmp_path / "sub" / "helper.py", "import seaborn\n")
    root_bytes = (tmp_path / "net.py").stat().st_size + (tmp_path / "big.py").stat().st_size
    monkeypatch.setattr(S, "MAX_COPY_BYTES", root_bytes)  # exactly what the folder holds: the walk goes on
    assert resolve(f"{tmp_path / 'net.py'}:Net").stubs == ("seaborn", "tqdm")
    monkeypatch.setattr(S, "MAX_COPY_BYTES", root_bytes - 1)  # one byte short: it stops there
    assert resolve(f"{tmp_path / 'net.py'}:Net").stubs == ("tqdm",)
    monkeypatch.setattr(S, "MAX_COPY_BYTES", 50_000)  # the big file's own bytes count, not its folder's
    assert resolve(f"{tmp_path / 'net.py'}:Net").stubs == ("tqdm",)


def test_a_courses_factory_found_beside_a_broken_cell(tmp_path):
    notebook_file(tmp_path / "hw.ipynb", "def build(sizes, activation):\n    return sizes\n", "def make_mlp(:\n")
    sub = resolve("hw.ipynb:make_mlp", cwd=tmp_path, also_factories=("build",))
    assert "def build" in sub.generated["hw.py"]
    with pytest.raises(StudentError, match="hw.ipynb"):
        resolve("hw.ipynb:make_mlp", cwd=tmp_path)


def test_a_long_list_of_stubs_is_shortened():
    assert S._listed([f"m{i}" for i in range(10)]) == "m0, m1, m2, m3, m4, m5, m6, m7 (+2 more)"
    assert S._listed([f"m{i}" for i in range(8)]) == "m0, m1, m2, m3, m4, m5, m6, m7"


# ----------------------------------------------------------------------------- definitions only
def test_a_module_that_trains_at_import_is_retried_as_its_definitions(tmp_path):
    write(tmp_path / "hw.py", NET + "\nX = np.load('data.npz')\nnet = Net([2, 2], 'relu')\n")
    sub = resolve(f"{tmp_path / 'hw.py'}:Net")
    again = definitions_only(sub, "its import took over 10 s")
    assert again.notes[0] == ("hw.py: its import took over 10 s; graded on its definitions only, skipping 2 "
                              "top-level statement(s)")
    assert "np.load" not in again.generated["hw.py"] and "class Net" in again.generated["hw.py"]
    assert sub.generated == {}  # the first one untouched


def test_definitions_only_when_there_is_something_to_leave_out(tmp_path):
    write(tmp_path / "clean.py")
    assert definitions_only(resolve(f"{tmp_path / 'clean.py'}:Net"), "why") is None
    write(tmp_path / "broken.py", NET + "\nnet = Net(\n")
    assert definitions_only(resolve(f"{tmp_path / 'broken.py'}:Net"), "why") is None
    write(tmp_path / "kit" / "__init__.py", "")
    write(tmp_path / "kit" / "net.py", NET + "\nnet = Net([1], 'relu')\n")
    assert definitions_only(resolve("kit.net:Net", cwd=tmp_path), "why") is None  # a module, no file
