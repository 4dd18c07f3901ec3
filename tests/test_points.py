"""Points: per case by name or glob (the first match), default 1, rescaled to a total, 0 for a
broken contract, and a convention-only difference scored as the course says."""

from __future__ import annotations

import csv
import json
from dataclasses import replace

import pytest
from test_class_run import CORRECT, grade, rows_of

from compare import grade as G
from compare.grader.course import points
from compare.grader.course.assignment import Assignment, AssignmentError, load_assignment, preset
from compare.validate import validate

HOMEWORK_CASES = ["relu/one-example", "relu/minibatch", "relu/regularised", "relu/zero-preactivation",
                  "relu/large-logits", "relu/large-negative-logits", "relu/mixed-scales", "relu/mnist-width",
                  "relu/large-batch"]


def factory_from(source: str):
    namespace: dict = {}
    exec(compile(source, "<student>", "exec"), namespace)  # trusted test code, run in-process
    return lambda sizes, activation: namespace["make_mlp"](sizes, activation)


@pytest.fixture(scope="module")
def correct_report():
    return validate(factory_from(CORRECT), timeout=10, budget=60)


@pytest.fixture(scope="module")
def transposed_report():
    """Right backprop, W stored as (in, out): a convention, not a bug."""
    source = CORRECT.replace("self.params[f\"W{l}\"] = rng.normal(0, 0.5, (sizes[l], sizes[l - 1]))",
                             "self.params[f\"W{l}\"] = rng.normal(0, 0.5, (sizes[l - 1], sizes[l]))")
    source = source.replace("W = P[f\"W{l}\"]", "W = P[f\"W{l}\"].T").replace(
        "hs[-1] @ P[f\"W{l}\"].T", "hs[-1] @ P[f\"W{l}\"]").replace("hs[-1] @ P[f\"W{self.L}\"].T",
                                                                    "hs[-1] @ P[f\"W{self.L}\"]")
    source = source.replace("grads[f\"W{l}\"] = delta.T @ hs[l - 1] + l1 * np.sign(W) + 2 * l2 * W",
                            "grads[f\"W{l}\"] = (delta.T @ hs[l - 1] + l1 * np.sign(W) + 2 * l2 * W).T")
    return validate(factory_from(source), timeout=10, budget=60)


def test_the_scored_cases_are_the_required_activations_ones():
    assert points.scored_case_names(Assignment()) == HOMEWORK_CASES
    both = points.scored_case_names(Assignment(activations=["relu", "tanh"]))
    assert both[:len(HOMEWORK_CASES)] == HOMEWORK_CASES and all(n.startswith("tanh/") for n in both[9:])


def test_the_first_matching_glob_gives_the_points_else_one():
    course = Assignment(points={"relu/regularised": 5, "*/regularised": 2, "relu/large-*": 0.5})
    worth = points.case_points(course, HOMEWORK_CASES)
    assert worth["relu/regularised"] == 5 and worth["relu/large-logits"] == 0.5
    assert worth["relu/large-batch"] == 0.5 and worth["relu/one-example"] == 1
    assert sum(worth.values()) == 5 + 3 * 0.5 + 5 * 1


def test_a_total_rescales_every_case():
    worth = points.case_points(Assignment(points={"*/regularised": 2}, total=22), HOMEWORK_CASES)
    assert sum(worth.values()) == pytest.approx(22)
    assert worth["relu/regularised"] == pytest.approx(4.4) and worth["relu/minibatch"] == pytest.approx(2.2)


def test_a_glob_that_matches_no_case_is_refused_by_name(tmp_path, capsys):
    with pytest.raises(AssignmentError, match="'\\*/regularized' matches no case"):
        points.case_points(Assignment(points={"*/regularized": 2}), HOMEWORK_CASES)
    course = tmp_path / "course.toml"
    course.write_text('[points]\n"tanh/*" = 2\n')  # tanh is not required: its cases never score
    (tmp_path / "class").mkdir()
    assert G.main([str(tmp_path / "class"), "--out", str(tmp_path / "out"), "--assignment", str(course)]) == 2
    err = capsys.readouterr().err
    assert "'tanh/*' matches no case" in err and err.count("\n") == 1


@pytest.mark.parametrize("bad, named", [('[points]\n"*" = -1\n', "points"), ('[points]\n"*" = "two"\n', "points"),
                                        ("total = 0\n", "total"), ('visibility = "secret"\n', "visibility"),
                                        ('conventions_cost_points = "no"\n', "conventions_cost_points")])
def test_bad_points_settings_are_refused_by_name(tmp_path, bad, named):
    course = tmp_path / "course.toml"
    course.write_text(bad)
    with pytest.raises(AssignmentError, match=f"^{course}: {named} = "):
        load_assignment(course)


def test_a_pass_scores_in_full(correct_report):
    score = points.score(correct_report, Assignment(points={"*/regularised": 2}, total=10))
    assert correct_report.exit_code == 0
    assert score.score == pytest.approx(10) and score.max_score == pytest.approx(10)
    assert all(c.status == "passed" for c in score.cases)


def test_a_broken_contract_scores_zero(correct_report):
    from dataclasses import replace

    broken = replace(correct_report, error="returned a list", error_kind="contract")
    score = points.score(broken, Assignment())
    assert score.score == 0 and score.max_score == 9 and "returned a list" in score.cases[0].output


def test_a_convention_costs_points_unless_the_course_says_otherwise(transposed_report):
    assert transposed_report.exit_code == 1 and "it stores W1 as (in, out)" in transposed_report.conventions[0]
    strict = points.score(transposed_report, Assignment())
    lenient = points.score(transposed_report, Assignment(conventions_cost_points=False))
    assert strict.score == 0 and strict.max_score == 9  # no case agrees in the assignment's layout
    assert "agrees only in its own conventions: it stores W1 as (in, out)" in strict.cases[0].output
    assert lenient.score == lenient.max_score == 9


def test_the_class_files_show_the_points(tmp_path):
    folder = tmp_path / "class"
    folder.mkdir()
    (folder / "alice.py").write_text(CORRECT)
    (folder / "bob.py").write_text("this is not python\n")
    course = tmp_path / "course.toml"
    course.write_text('total = 20\n[points]\n"*/regularised" = 3\n')
    out = tmp_path / "out"
    code, _, stderr = grade(folder, out, "--assignment", str(course))
    assert code == 0, stderr
    with open(out / "grades.csv", newline="") as fh:
        assert csv.DictReader(fh).fieldnames[-2:] == ["score", "max_score"]
    rows = rows_of(out)
    assert (rows["alice"]["score"], rows["alice"]["max_score"]) == ("20", "20")
    assert (rows["bob"]["score"], rows["bob"]["max_score"]) == ("0", "20")
    report = json.loads((out / "alice.json").read_text())
    assert report["score"]["score"] == 20 and len(report["score"]["cases"]) == 9
    assert "## Points: 20 of 20" in (out / "alice.md").read_text()
    summary = json.loads((out / "summary.json").read_text())["scores"]
    assert summary["n"] == 2 and summary["mean"] == 10 and summary["max_score"] == 20
    assert [b["students"] for b in summary["histogram"]] == [1] + [0] * 8 + [1]


def test_a_reading_convention_costs_only_the_cases_it_changes():
    """The sum over the batch instead of the mean: the K = 1 case agrees as it is and keeps its point."""
    summed = CORRECT.replace("loss = losses.mean()", "loss = losses.sum()").replace("        delta /= K\n", "")
    report = validate(factory_from(summed), timeout=10, budget=60)
    assert report.exit_code == 1 and report.explained and report.conventions
    strict = points.score(report, Assignment())
    kept = [c.name for c in strict.cases if c.points]
    assert kept == ["relu/one-example"] and strict.score == 1
    assert points.score(report, Assignment(conventions_cost_points=False)).score == 9


def test_the_two_hidden_case_scores_only_when_the_course_names_it():
    assert "relu/two-hidden" not in points.scored_case_names(Assignment())
    deep = Assignment(points={"*/two-hidden": 2})
    assert points.scored_case_names(deep)[-1] == "relu/two-hidden"
    assert points.case_points(deep, points.scored_case_names(deep))["relu/two-hidden"] == 2
    one_hidden = preset("cs231n-a2")  # TwoLayerNet(input_dim, hidden_dim, ...): cannot build two
    course = replace(one_hidden, points=(("*/two-hidden", 2.0),))
    with pytest.raises(AssignmentError, match="'\\*/two-hidden' matches no case"):
        points.case_points(course, points.scored_case_names(course))


def test_a_network_that_cannot_build_a_named_deep_case_loses_its_points(correct_report):
    from dataclasses import replace as copy

    shallow = copy(correct_report, cases=[c for c in correct_report.cases if c.case.name != "relu/two-hidden"])
    score = points.score(shallow, Assignment(points={"*/two-hidden": 2}))
    assert score.max_score == 11 and score.score == 9
    assert [c.status for c in score.cases if c.name == "relu/two-hidden"] == ["not run"]
