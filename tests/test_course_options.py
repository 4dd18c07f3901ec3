"""The options every grading command shares (``compare.grader.options``): their defaults, each
bad value refused by name, and the assignment they name (preset, TOML over it, ``--factory``)."""

from __future__ import annotations

import re

import pytest

from compare import cli
from compare.grader import options
from compare.grader.course.assignment import AssignmentError, preset


def parse(*argv):
    parser = cli.Parser(prog="grade")
    options.add_course_options(parser)
    return parser.parse_args(list(argv))


def test_the_defaults():
    args = parse()
    assert (args.preset, args.assignment, args.factory, args.allow_import) == (None, None, None, [])
    assert (args.timeout, args.budget, args.memory, args.isolation, args.seed) == (10.0, 25.0, 2048, "auto", 0)
    assert options.course(args) == preset("homework")


def test_every_option_is_read():
    args = parse("--preset", "cs231n", "--factory", "Net", "--allow-import", "scipy", "--allow-import", "numba",
                 "--timeout", "0.001", "--budget", "2.5", "--memory", "256", "--isolation", "process", "--seed", "3")
    assert (args.preset, args.factory, args.allow_import) == ("cs231n", "Net", ["scipy", "numba"])
    assert (args.timeout, args.budget, args.memory, args.isolation, args.seed) == (0.001, 2.5, 256, "process", 3)
    assert type(args.memory) is int
    assert parse("--budget", "0.001").budget == 0.001
    assert [parse("--isolation", level).isolation for level in ("auto", "bubblewrap", "process")] == [
        "auto", "bubblewrap", "process"]


@pytest.mark.parametrize("argv, named", [
    (["--memory", "255"], "expected a whole number of MiB ≥ 256, got '255'"),
    (["--memory", "300.5"], "got '300.5'"),
    (["--timeout", "0"], "expected a positive number of seconds, got '0'"),
    (["--timeout", "0.0009"], "got '0.0009'"),
    (["--budget", "0"], "expected a positive number of seconds, got '0'"),
    (["--budget", "0.0009"], "got '0.0009'"),
    (["--budget", "nan"], "got 'nan'"),
    (["--isolation", "docker"], "'docker'"),
    (["--preset", "nope"], "'nope'"),
    (["--seed", "x"], "'x'"),
])
def test_a_bad_value_is_refused_by_name(argv, named):
    with pytest.raises(cli.UsageError, match=named.replace("(", r"\(").replace(".", r"\.")):
        parse(*argv)


def test_a_preset_is_the_course():
    assert options.course(parse("--preset", "cs231n-a2")) == preset("cs231n-a2")


def test_a_toml_alone_changes_the_homework(tmp_path):
    course = tmp_path / "course.toml"
    course.write_text("total = 10\n")
    assignment = options.course(parse("--assignment", str(course)))
    assert assignment.total == 10 and assignment.factory == "make_mlp"


def test_a_toml_changes_the_preset_it_is_given_with(tmp_path):
    course = tmp_path / "course.toml"
    course.write_text("total = 7\n")
    assignment = options.course(parse("--preset", "cs231n-a2", "--assignment", str(course)))
    assert assignment.total == 7 and assignment.factory == preset("cs231n-a2").factory == "TwoLayerNet"


def test_factory_replaces_the_factory_and_its_aliases():
    assignment = options.course(parse("--factory", "pkg.build_net"))
    assert assignment.factory == "pkg.build_net" and assignment.factory_aliases == ()
    assert preset("homework").factory_aliases  # there was one to drop


@pytest.mark.parametrize("bad", ["1net", "my-net", "a..b", "", "a.", "net()"])
def test_a_factory_that_is_no_python_name_is_refused_by_name(bad):
    with pytest.raises(cli.UsageError, match=f"^--factory {re.escape(repr(bad))}: not a Python name$"):
        options.course(parse("--factory", bad))


@pytest.mark.parametrize("bad", ["scipy.linalg", "my-lib", "1lib", ""])
def test_an_allowed_import_that_is_no_module_name_is_refused_by_name(bad):
    with pytest.raises(cli.UsageError, match=f"^--allow-import {re.escape(repr(bad))}: not a module name$"):
        options.course(parse("--allow-import", "scipy", "--allow-import", bad))


def test_a_points_glob_that_matches_no_scored_case_is_refused_by_name(tmp_path):
    course = tmp_path / "course.toml"
    course.write_text('[points]\n"tanh/*" = 2\n')
    with pytest.raises(AssignmentError, match="points key 'tanh/\\*' matches no case"):
        options.course(parse("--assignment", str(course)))


def test_the_seed_chooses_the_battery_the_points_are_checked_against(monkeypatch):
    from compare.grader.course import points

    seen = []

    monkeypatch.setattr(points, "scored_case_names", lambda a, seed=0: seen.append(seed) or ["relu/one-example"])
    options.course(parse("--seed", "5"))
    assert seen == [5]


@pytest.mark.parametrize("budget, cpu_seconds", [(25.0, 60), (0.5, 35), (5.99, 40), (None, 635)])
def test_a_submission_gets_the_budgets_cpu_seconds_and_35_to_load(budget, cpu_seconds):
    limits = options.grading_options(preset("homework"), budget=budget)["limits"]
    assert limits.cpu_seconds == cpu_seconds and limits.memory_mb == 2048
