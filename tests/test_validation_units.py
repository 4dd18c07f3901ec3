"""``compare.grader.validation`` around the battery, fast: the battery and the worker are replaced by
scripted ones (no process starts, no reference is computed), so what is checked is what judging one
submission makes of them, as the report says it: the name it is graded under, where it ran, its
notes, the error and its kind, the cases before an error, the retry of a module that fails at import
as its definitions only, the arguments ``validate`` refuses, and what ``assert_matches_reference``
raises. The real runs are ``tests/test_validate.py``'s and ``tests/test_grading.py``'s.
"""

from __future__ import annotations

import json
import sys
import threading
import time
import types
from pathlib import Path
from types import SimpleNamespace

import pytest

from compare.grader import validation as VAL
from compare.grader.course.assignment import preset
from compare.grader.diagnosis import aggregation
from compare.grader.judging import battery
from compare.grader.judging.records import Report
from compare.grader.options import grading_options
from compare.grader.sandbox.errors import StudentError
from compare.grader.submissions.submission import Submission
from compare.grader.workers.runner import InProcessRunner
from manual.mlp import MLP

ROOT = Path(__file__).resolve().parent.parent
HOMEWORK = preset("homework")  # its factory: make_mlp, else factory
OPTIONS = grading_options(HOMEWORK, timeout=5, budget=10)


class FakeWorker:
    """Stands for ``WorkerRunner``: no process; ``script.load`` may make loading fail."""

    level = "bubblewrap (scripted)"
    made = []

    def __init__(self, submission, *, also_factories=(), **options):
        self.submission, self.also_factories, self.options = submission, tuple(also_factories), options
        self.loaded = False
        FakeWorker.made.append(self)

    def __enter__(self):
        failure = SCRIPT.load.pop(0) if SCRIPT.load else None
        if failure is not None:
            raise failure
        self.loaded = True
        return self

    def __exit__(self, *exc):
        return None


SCRIPT = SimpleNamespace(load=[], runs=[], seen=[], prepared=[])


def case(passed: bool, name: str):
    return SimpleNamespace(passed=passed, harmless="", agrees=passed, outcome=name)


def diagnose(outcomes, words):
    """The diagnosis of the cases that failed, by their names (in the course's layout)."""
    return [SimpleNamespace(message=f"{len(outcomes)} outcomes in {words.weights}: {', '.join(outcomes)}")]


@pytest.fixture
def scripted(monkeypatch):
    """``battery.run`` plays ``SCRIPT.runs`` in turn: each is (cases, conventions, error raised or None)."""
    FakeWorker.made = []
    SCRIPT.load, SCRIPT.runs, SCRIPT.seen, SCRIPT.prepared = [], [], [], []

    def run(runner, report, assignment, factory, seed):
        SCRIPT.seen.append((runner, factory, seed, assignment))
        cases, conventions, error = SCRIPT.runs.pop(0) if SCRIPT.runs else ([case(True, "c1")], [], None)
        report.cases += cases
        report.conventions += conventions
        if error is not None:
            raise error

    def prepare(assignment, seed, stop):
        stop.wait(30)  # until the run is over
        SCRIPT.prepared.append((assignment, seed, stop.is_set(), threading.current_thread().name))

    monkeypatch.setattr(VAL, "WorkerRunner", FakeWorker)
    monkeypatch.setattr(battery, "run", run)
    monkeypatch.setattr(battery, "prepare", prepare)
    monkeypatch.setattr(aggregation, "diagnose", diagnose)
    return SCRIPT


def judged(target, assignment=HOMEWORK, seed=0) -> Report:
    return VAL.judge(target, assignment, OPTIONS, seed, time.perf_counter())


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


# ----------------------------------------------------------------------------- the name it is graded under
def test_a_file_is_graded_under_its_spec_in_a_worker(scripted, tmp_path):
    path = write(tmp_path, "alice.py", "def make_mlp(sizes, activation):\n    return None\n")
    report = judged(f"{path}:make_mlp", seed=3)
    assert (report.target, report.isolation, report.error) == (f"{path}:make_mlp", FakeWorker.level, None)
    [(runner, factory, seed, assignment)] = scripted.seen
    assert (factory, seed, assignment) == ("make_mlp", 3, HOMEWORK)
    assert runner.submission.file == "alice.py" and runner.also_factories == ()
    assert runner.options == OPTIONS


@pytest.mark.parametrize("defines, named, also", [
    ("make_mlp", "make_mlp", ()), ("factory", "factory", ()), ("", "make_mlp", ("factory",)),
])
def test_a_bare_path_is_graded_under_the_name_it_defines(scripted, tmp_path, defines, named, also):
    path = write(tmp_path, "bob.py", f"def {defines}(sizes, activation):\n    return None\n" if defines else
                 "globals()['factory'] = lambda sizes, activation: None\n")
    report = judged(str(path))
    assert report.target == f"{path}:{named}"
    [(runner, factory, _, _)] = scripted.seen
    assert (factory, runner.submission.attr, runner.also_factories) == (named, named, also)


def test_a_bare_path_under_one_factory_name_is_graded_under_it(scripted, tmp_path):
    path = write(tmp_path, "carol.py", "def factory(sizes, activation):\n    return None\n")
    report = judged(str(path), assignment=HOMEWORK.with_factory("build"))
    assert report.target == f"{path}:build"
    assert scripted.seen[0][0].also_factories == ()


def test_a_notebook_is_graded_under_the_name_its_cells_define(scripted, tmp_path):
    cell = {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
            "source": ["def factory(sizes, activation):\n", "    return None\n"]}
    path = write(tmp_path, "dave.ipynb", json.dumps({"cells": [cell], "metadata": {}, "nbformat": 4,
                                                     "nbformat_minor": 5}))
    assert judged(str(path)).target == f"{path}:factory"


def test_a_notebook_with_a_cell_that_does_not_parse_is_graded_under_its_second_name(scripted, tmp_path):
    """A first try at make_mlp left in a cell that does not parse, the factory under the assignment's other
    name in one that does: graded under that one, not refused for the broken cell."""
    cells = [{"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [], "source": source}
             for source in (["def make_mlp(sizes, activation):\n", "    print 'to do'\n"],
                            ["def factory(sizes, activation):\n", "    return None\n"])]
    path = write(tmp_path, "gina.ipynb", json.dumps({"cells": cells, "metadata": {}, "nbformat": 4,
                                                     "nbformat_minor": 5}))
    report = judged(str(path))
    assert (report.target, report.error) == (f"{path}:factory", None)


def test_a_module_of_a_package_given_by_its_path_tries_each_name(scripted, tmp_path, monkeypatch):
    (tmp_path / "pkg").mkdir()
    write(tmp_path / "pkg", "__init__.py", "")
    write(tmp_path / "pkg", "net.py", "def factory(sizes, activation):\n    return None\n")
    monkeypatch.chdir(tmp_path)
    report = judged("pkg/net.py")
    assert report.target == "pkg/net.py:make_mlp"  # not read by its file: the worker tries each name
    [(runner, _, _, _)] = scripted.seen
    assert runner.submission.module == "pkg.net" and runner.also_factories == ("factory",)


@pytest.mark.parametrize("attr, factory", [("make_mlp", "make_mlp"), ("Net.create", "create")])
def test_a_student_of_a_class_is_graded_as_found(scripted, tmp_path, attr, factory):
    sub = Submission("erin/net.py:" + attr, tmp_path, attr, file="net.py")
    report = judged(sub)
    assert report.target == "erin/net.py:" + attr
    [(runner, said, _, _)] = scripted.seen
    assert runner.submission is sub and said == factory
    assert runner.also_factories == tuple(n for n in ("make_mlp", "factory") if n != attr)


def test_a_factory_importable_by_name_runs_in_a_worker_under_its_file(scripted, tmp_path, monkeypatch):
    import importlib.util

    path = write(tmp_path, "frank_mlp.py", "class Net:\n    @staticmethod\n    def create(sizes, activation):\n"
                                            "        return None\n")
    spec = importlib.util.spec_from_file_location("frank_mlp", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setitem(sys.modules, "frank_mlp", module)
    report = judged(module.Net.create)
    assert report.target == f"{path}:Net.create" and report.isolation == FakeWorker.level
    assert scripted.seen[0][1] == "create" and FakeWorker.made[0].submission.attr == "Net.create"


def test_a_factory_whose_file_cannot_be_loaded_again_is_named_by_its_qualname(scripted, tmp_path, monkeypatch):
    """A module loaded from a file that is not .py (here .txt): the worker cannot load it, and the report
    names the factory as the caller knows it."""
    import importlib.machinery
    import importlib.util

    path = write(tmp_path, "henry_mlp.txt", "def make(sizes, activation):\n    return None\n")
    loader = importlib.machinery.SourceFileLoader("henry_mlp", str(path))
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader("henry_mlp", loader))
    loader.exec_module(module)
    monkeypatch.setitem(sys.modules, "henry_mlp", module)
    report = judged(module.make)
    assert (report.target, report.error_kind) == ("make", "load")
    assert report.error == "cannot load henry_mlp.txt as a Python module (expected .py or .ipynb)"


def _named(name, module="manual.mlp"):
    def make(sizes, activation):
        return MLP(sizes, activation)

    make.__qualname__ = make.__name__ = name
    make.__module__ = module
    return make


class _CallableObject:
    def __call__(self, sizes, activation):
        return MLP(sizes, activation)


@pytest.mark.parametrize("factory, name", [
    (lambda sizes, activation: MLP(sizes, activation), "<lambda>"),
    (_named("make_here", module=None), "make_here"),
    (_named("make_here", module="__main__"), "make_here"),
    (_named("MLP"), "MLP"),  # manual.mlp.MLP is another object
    (_named("no_such_name"), "no_such_name"),
    (_CallableObject(), None),
])
def test_a_factory_no_fresh_interpreter_can_import_runs_here(scripted, factory, name):
    report = judged(factory)
    assert report.isolation == InProcessRunner.level and report.notes == []
    assert report.target == (name or repr(factory))
    [(runner, said, _, _)] = scripted.seen
    assert isinstance(runner, InProcessRunner) and said == (name or "factory")


def test_a_factory_of_a_module_without_a_file_runs_here(scripted, monkeypatch):
    module = types.ModuleType("built_in_memory")
    monkeypatch.setitem(sys.modules, "built_in_memory", module)
    module.make = _named("make", module="built_in_memory")
    report = judged(module.make)
    assert report.isolation == InProcessRunner.level and report.target == "make"


# ----------------------------------------------------------------------------- the report
def test_a_spec_naming_no_file_is_a_load_error_that_ran_nowhere(scripted, tmp_path):
    report = judged(f"{tmp_path / 'missing.py'}:make_mlp")
    assert (report.error_kind, report.isolation, report.target) == ("load", None, f"{tmp_path / 'missing.py'}:make_mlp")
    assert report.error == f"no such file: {tmp_path / 'missing.py'}" and FakeWorker.made == []


def test_the_cases_are_diagnosed_in_the_courses_words(scripted, tmp_path):
    scripted.runs = [([case(True, "c1"), case(False, "c2")], [], None)]
    report = judged(f"{write(tmp_path, 'f.py', '')}:make_mlp")
    assert [f.message for f in report.diagnosis] == ["2 outcomes in out_in: c1, c2"]
    assert 0 < report.elapsed_s < 60 and report.error is None  # the seconds since the judging started


def test_the_notes_of_the_copy_are_said_in_300_characters_each(scripted, tmp_path):
    path = write(tmp_path, "g.py", "")
    sub = Submission(f"{path}:make_mlp", tmp_path, "make_mlp", file="g.py",
                     notes=["\x1b[31mskipped cell 3", "x" * 299 + "yz", "x" * 300, "x" * 301])
    report = judged(sub)
    assert report.notes[0] == "[31mskipped cell 3"
    assert [len(n) for n in report.notes[1:]] == [300, 300, 300]
    assert report.notes[1].endswith("…") and report.notes[2] == "x" * 300


def test_a_broken_contract_is_the_error_with_its_kind_in_1000_characters(scripted, tmp_path):
    scripted.runs = [([], [], StudentError("contract", "grads['W1'] has shape (3, 2)\x1b; " + "y" * 2000))]
    report = judged(f"{write(tmp_path, 'h.py', '')}:make_mlp")
    assert report.error_kind == "contract" and report.exit_code == 2
    assert report.error.startswith("grads['W1'] has shape (3, 2) ; yyy") and len(report.error) == 1000
    assert report.diagnosis == []


@pytest.mark.parametrize("length, kept", [(999, 999), (1000, 1000), (1001, 1000)])
def test_an_error_is_cut_at_1000_characters_not_before(scripted, tmp_path, length, kept):
    scripted.runs = [([], [], StudentError("raised", "e" * length))]
    report = judged(f"{write(tmp_path, 'i.py', '')}:make_mlp")
    assert len(report.error) == kept and report.error.startswith("e" * 998)


def test_a_layout_found_first_explains_the_error(scripted, tmp_path):
    scripted.runs = [([], ["W is (in, out)"], StudentError("contract", "grads['b1'] is missing"))]
    report = judged(f"{write(tmp_path, 'j.py', '')}:make_mlp")
    assert report.error == "W is (in, out); in that layout, grads['b1'] is missing"


def test_the_cases_that_failed_before_the_error_are_said_with_it(scripted, tmp_path):
    scripted.runs = [([case(True, "c1"), case(False, "c2"), case(False, "c3")], [],
                      StudentError("timeout", "loss_and_grads took more than 5 s"))]
    report = judged(f"{write(tmp_path, 'k.py', '')}:make_mlp")
    assert report.error == ("loss_and_grads took more than 5 s; before that, 2 of 3 cases disagreed with the "
                            "reference: 3 outcomes in out_in: c1, c2, c3")
    assert report.error_kind == "timeout" and [f.message for f in report.diagnosis] == [
        "3 outcomes in out_in: c1, c2, c3"]


def test_cases_that_all_passed_before_the_error_add_nothing(scripted, tmp_path):
    scripted.runs = [([case(True, "c1")], [], StudentError("died", "its process died (exit code 7)"))]
    report = judged(f"{write(tmp_path, 'l.py', '')}:make_mlp")
    assert report.error == "its process died (exit code 7)" and report.diagnosis == []


def test_failed_cases_without_a_diagnosis_add_nothing_to_the_error(scripted, tmp_path, monkeypatch):
    monkeypatch.setattr(aggregation, "diagnose", lambda outcomes, words: [])
    scripted.runs = [([case(False, "c1")], [], StudentError("raised", "it raised ValueError"))]
    assert judged(f"{write(tmp_path, 'm.py', '')}:make_mlp").error == "it raised ValueError"


def test_the_references_are_prepared_beside_the_run_and_stopped_after_it(scripted, tmp_path):
    judged(f"{write(tmp_path, 'n.py', '')}:make_mlp", seed=4)
    assert scripted.prepared == [(HOMEWORK, 4, True, "references")]
    assert not any(t.name == "references" for t in threading.enumerate())


# ----------------------------------------------------------------------------- a module that fails at import
IMPORT_FAILS = "import json\nDATA = json.load(open('train.json'))\ndef make_mlp(sizes, activation):\n    return None\n"


@pytest.mark.parametrize("kind, why", [
    ("raised", "importing it raised (FileNotFoundError: train.json)"),
    ("timeout", "importing it did not finish in time (it runs an experiment at import?)"),
    ("died", "its process died while it was imported"),
])
def test_a_module_that_fails_at_import_is_graded_as_its_definitions(scripted, tmp_path, kind, why):
    path = write(tmp_path, "o.py", IMPORT_FAILS)
    scripted.load = [StudentError(kind, "FileNotFoundError: train.json"), None]
    scripted.runs = [([case(True, "c1")], [], None)]
    report = judged(str(path))
    assert report.error is None and report.target == f"{path}:make_mlp"
    first, retry = FakeWorker.made
    assert retry.submission.generated and retry.options == OPTIONS and retry.also_factories == first.also_factories
    assert report.notes == [n for n in retry.submission.notes] and any(why in n for n in report.notes), report.notes
    [(runner, factory, seed, assignment)] = scripted.seen  # the battery ran once, on the definitions
    assert (runner, factory, seed, assignment) == (retry, "make_mlp", 0, HOMEWORK)


@pytest.mark.parametrize("length", [150, 300])
def test_why_the_definitions_only_are_graded_is_said_in_200_characters(scripted, tmp_path, length):
    path = write(tmp_path, "ivy.py", IMPORT_FAILS)
    scripted.load = [StudentError("raised", "E" * length), None]
    report = judged(str(path))
    why = f"importing it raised ({'E' * length})"
    said = why if len(why) <= 200 else why[:199] + "…"
    assert report.notes[0].startswith(f"ivy.py: {said}; graded on its definitions only, skipping 1 "), report.notes


def test_the_retry_starts_from_no_cases(scripted, tmp_path):
    path = write(tmp_path, "p.py", IMPORT_FAILS)
    scripted.load = [None, None]
    scripted.runs = [([case(False, "old")], ["W is (in, out)"], StudentError("raised", "raised at import")),
                     ([case(True, "new")], [], None)]

    def load_then_fail(runner, report, assignment, factory, seed):  # the first run: fails before it loaded
        SCRIPT.seen.append(runner)
        cases, conventions, error = SCRIPT.runs.pop(0)
        report.cases += cases
        report.conventions += conventions
        report.skipped += ["a skipped case"] if error else []
        if error is not None:
            runner.loaded = False
            raise error

    battery.run = load_then_fail
    report = judged(str(path))
    assert [c.outcome for c in report.cases] == ["new"] and report.conventions == [] and report.skipped == []
    assert report.error is None


@pytest.mark.parametrize("kind", ["load", "contract", "forbidden"])
def test_other_failures_at_import_are_not_retried(scripted, tmp_path, kind):
    path = write(tmp_path, "q.py", IMPORT_FAILS)
    scripted.load = [StudentError(kind, "cannot be loaded")]
    report = judged(str(path))
    assert (report.error, report.error_kind, len(FakeWorker.made)) == ("cannot be loaded", kind, 1)


def test_a_failure_after_the_import_is_not_retried(scripted, tmp_path):
    scripted.runs = [([], [], StudentError("raised", "loss_and_grads raised"))]
    report = judged(f"{write(tmp_path, 'r.py', IMPORT_FAILS)}:make_mlp")
    assert (report.error, len(FakeWorker.made)) == ("loss_and_grads raised", 1)


def test_a_module_whose_definitions_cannot_be_taken_keeps_its_error(scripted, tmp_path):
    path = write(tmp_path, "s.py", "def make_mlp(sizes, activation):\n    return None\n")  # nothing to leave out
    scripted.load = [StudentError("raised", "NameError: run_everything")]
    report = judged(f"{path}:make_mlp")
    assert (report.error, len(FakeWorker.made)) == ("NameError: run_everything", 1)


def test_definitions_that_do_not_load_either_keep_the_first_error(scripted, tmp_path):
    scripted.load = [StudentError("raised", "first: FileNotFoundError"), StudentError("load", "second")]
    report = judged(f"{write(tmp_path, 't.py', IMPORT_FAILS)}:make_mlp")
    assert (report.error, report.error_kind) == ("first: FileNotFoundError", "raised")


def test_definitions_that_load_and_then_fail_say_their_own_error(scripted, tmp_path):
    scripted.load = [StudentError("raised", "first: FileNotFoundError"), None]
    scripted.runs = [([], [], StudentError("contract", "the loss must be a real number"))]
    report = judged(f"{write(tmp_path, 'u.py', IMPORT_FAILS)}:make_mlp")
    assert (report.error, report.error_kind) == ("the loss must be a real number", "contract")


def test_trusted_code_that_raises_is_not_retried(scripted):
    scripted.runs = [([], [], StudentError("raised", "make raised"))]
    report = judged(lambda sizes, activation: None)
    assert report.error == "make raised" and FakeWorker.made == []


# ----------------------------------------------------------------------------- validate's arguments
@pytest.fixture
def judging(monkeypatch):
    calls = []

    def judge(target, assignment, options, seed, start):
        import torch

        calls.append((target, assignment, options, seed, torch.get_num_threads()))
        return Report(target=str(target))

    monkeypatch.setattr(VAL, "judge", judge)
    return calls


def test_validate_passes_its_settings_to_the_judging(judging):
    import torch

    threads = torch.get_num_threads()
    VAL.validate("x.py:make_mlp", assignment="cs231n", timeout=2, budget=None, seed=7, memory_mb=300,
                 allow_imports=["scipy"], isolation="process")
    VAL.validate("y.py:make_mlp")
    (target, assignment, options, seed, inside), (_, default, defaults, default_seed, _) = judging
    assert (target, assignment, seed, inside) == ("x.py:make_mlp", preset("cs231n"), 7, 1)
    assert options == grading_options(preset("cs231n"), timeout=2, budget=None, memory_mb=300,
                                      isolation="process", allow_imports=["scipy"])
    assert (default, default_seed, defaults["limits"].memory_mb) == (HOMEWORK, 0, 2048)
    assert torch.get_num_threads() == threads


@pytest.mark.parametrize("kwargs, message", [
    ({"timeout": 0}, "timeout must be a positive number of seconds, got 0"),
    ({"timeout": -1}, "timeout must be a positive number of seconds, got -1"),
    ({"timeout": True}, "timeout must be a positive number of seconds, got True"),
    ({"timeout": "10"}, "timeout must be a positive number of seconds, got '10'"),
    ({"timeout": float("nan")}, "timeout must be a positive number of seconds, got nan"),
    ({"budget": 0}, r"budget must be a positive number of seconds \(or None\), got 0"),
    ({"budget": -0.5}, r"budget must be a positive number of seconds \(or None\), got -0.5"),
    ({"budget": True}, r"budget must be a positive number of seconds \(or None\), got True"),
    ({"budget": "25"}, r"budget must be a positive number of seconds \(or None\), got '25'"),
    ({"allow_imports": "scipy"}, "allow_imports must be a list of module names, got 'scipy'"),
    ({"allow_imports": ["scipy", "no such"]}, "allow_imports must be a list of module names"),
    ({"allow_imports": ["scipy", 3]}, "allow_imports must be a list of module names"),
])
def test_validate_refuses_bad_settings(judging, kwargs, message):
    with pytest.raises(ValueError, match=message):
        VAL.validate("x.py:make_mlp", **kwargs)
    assert judging == []


def test_validate_refuses_what_is_neither_a_spec_nor_a_factory(judging):
    with pytest.raises(TypeError, match="expected a factory .callable. or a 'module:factory' string, got int"):
        VAL.validate(5)
    assert judging == []


@pytest.mark.parametrize("kwargs", [{"timeout": 0.001}, {"timeout": 0.5}, {"budget": 0.5}, {"budget": None},
                                    {"allow_imports": ("scipy", "sklearn")}, {"allow_imports": []}])
def test_validate_takes_small_times_and_module_names(judging, kwargs):
    VAL.validate(lambda sizes, activation: None, **kwargs)
    assert len(judging) == 1


# ----------------------------------------------------------------------------- assert_matches_reference
def test_assert_matches_reference_passes_its_settings_and_returns_the_report(monkeypatch):
    seen = []
    report = Report(target="a.py:make_mlp")
    monkeypatch.setattr(VAL, "validate", lambda spec, **kw: seen.append((spec, kw)) or report)
    assert VAL.assert_matches_reference("a.py:make_mlp") is report
    assert VAL.assert_matches_reference("a.py:make_mlp", assignment="cs231n", timeout=3, budget=None, seed=2,
                                        memory_mb=512, allow_imports=["scipy"]) is report
    assert seen == [("a.py:make_mlp", {"assignment": None, "timeout": VAL.DEFAULT_TIMEOUT, "budget": VAL.DEFAULT_BUDGET,
                                       "seed": 0, "memory_mb": 2048, "allow_imports": ()}),
                    ("a.py:make_mlp", {"assignment": "cs231n", "timeout": 3, "budget": None, "seed": 2,
                                       "memory_mb": 512, "allow_imports": ["scipy"]})]


def test_assert_matches_reference_fails_on_a_broken_contract(monkeypatch):
    report = Report(target="a.py:make_mlp", error="it raised ValueError", error_kind="raised")
    monkeypatch.setattr(VAL, "validate", lambda spec, **kw: report)
    with pytest.raises(AssertionError, match=r"^a.py:make_mlp breaks the contract: it raised ValueError$"):
        VAL.assert_matches_reference("a.py:make_mlp")


def test_assert_matches_reference_fails_with_the_failing_tables(monkeypatch):
    report = Report(target="a.py:make_mlp", conventions=["W is (in, out)"])  # right backprop, other conventions
    monkeypatch.setattr(VAL, "validate", lambda spec, **kw: report)
    with pytest.raises(AssertionError) as failed:
        VAL.assert_matches_reference("a.py:make_mlp")
    assert str(failed.value).startswith("a.py:make_mlp disagrees with the torch reference\nvalidating a.py:make_mlp")
    assert "convention: W is (in, out)" in str(failed.value)


# ----------------------------------------------------------------------------- the current folder
def test_the_current_folder_leaves_the_path_unless_it_is_the_project(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(sys, "path", ["", ".", str(ROOT), str(tmp_path)])
    VAL.own_modules_first()
    assert sys.path == ["", ".", str(ROOT), str(tmp_path)]  # the project's own checkout: nothing to shadow
    for folder in (tmp_path, ROOT / "compare", ROOT / "compare" / "grader"):
        monkeypatch.chdir(folder)
        monkeypatch.setattr(sys, "path", ["", ".", str(folder), str(ROOT), str(folder / "sub")])
        VAL.own_modules_first()
        assert sys.path == [str(ROOT), str(folder / "sub")], folder
