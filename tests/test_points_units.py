"""Points, unit by unit and fast: reports built by hand (no submission runs), scored under an
assignment; what each case is worth, and the line each case's score is explained by."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from compare.grader.course import points
from compare.grader.course.assignment import Assignment, AssignmentError, preset
from compare.grader.judging.records import Report

HOMEWORK_CASES = ["relu/one-example", "relu/minibatch", "relu/regularised", "relu/zero-preactivation",
                  "relu/large-logits", "relu/large-negative-logits", "relu/mixed-scales", "relu/mnist-width",
                  "relu/large-batch"]


def case(name, passed=True, failing_rows=()):
    rows = [SimpleNamespace(name=r, passed=False) for r in failing_rows] + [SimpleNamespace(name="loss", passed=True)]
    return SimpleNamespace(case=SimpleNamespace(name=name), passed=passed, rows=rows)


def report(passing=HOMEWORK_CASES, failing=(), **fields):
    cases = [case(n) for n in passing] + [case(n, False, ("W1", "b2")) for n in failing]
    return Report(target="t.py", cases=cases, **fields)


# ----------------------------------------------------------------------------- which cases score
def test_the_scored_cases_are_the_required_activations_in_the_batterys_order():
    assert points.scored_case_names(Assignment()) == HOMEWORK_CASES
    both = points.scored_case_names(Assignment(activations=["tanh", "relu"]))
    assert both[:8] == ["tanh/" + n.split("/")[1] for n in HOMEWORK_CASES if n != "relu/zero-preactivation"]
    assert both[8:] == HOMEWORK_CASES


def test_the_two_hidden_case_scores_when_a_glob_names_it_and_the_factory_builds_it():
    assert "relu/two-hidden" not in points.scored_case_names(Assignment(points={"relu/*": 2}))
    assert points.scored_case_names(Assignment(points={"relu/two-hidden": 2}))[-1] == "relu/two-hidden"
    assert points.scored_case_names(Assignment(points={"*two-hidden*": 2}))[-1] == "relu/two-hidden"
    one_hidden = preset("cs231n-a2")
    from dataclasses import replace

    assert "relu/two-hidden" not in points.scored_case_names(replace(one_hidden, points=(("*/two-hidden", 2.0),)))


# ----------------------------------------------------------------------------- what each case is worth
def test_each_case_is_worth_one_point_without_points():
    assert points.case_points(Assignment(), HOMEWORK_CASES) == dict.fromkeys(HOMEWORK_CASES, 1.0)


def test_the_first_glob_that_matches_gives_the_points():
    worth = points.case_points(Assignment(points={"relu/large-logits": 5, "relu/large-*": 2, "*": 0.5}), HOMEWORK_CASES)
    assert worth["relu/large-logits"] == 5 and worth["relu/large-batch"] == 2 and worth["relu/one-example"] == 0.5


def test_globs_match_case_names_exactly_and_with_case():
    with pytest.raises(AssignmentError, match=r"^points key 'RELU/\*' matches no case that scores \(the cases: "
                                              r"relu/one-example, relu/minibatch, "):
        points.case_points(Assignment(points={"RELU/*": 2}), HOMEWORK_CASES)
    with pytest.raises(AssignmentError, match="'relu/large' matches no case"):
        points.case_points(Assignment(points={"relu/large": 2}), HOMEWORK_CASES)


def test_every_glob_must_match_not_only_the_first():
    with pytest.raises(AssignmentError, match="'tanh/\\*' matches no case"):
        points.case_points(Assignment(points={"relu/*": 1, "tanh/*": 2}), HOMEWORK_CASES)


def test_a_total_rescales_every_case():
    worth = points.case_points(Assignment(points={"relu/regularised": 3}, total=22), HOMEWORK_CASES)
    assert worth["relu/regularised"] == pytest.approx(6) and worth["relu/minibatch"] == pytest.approx(2)
    assert sum(worth.values()) == pytest.approx(22)


def test_a_total_over_cases_worth_nothing_leaves_them_at_nothing():
    assert points.case_points(Assignment(points={"*": 0}, total=10), HOMEWORK_CASES) == dict.fromkeys(HOMEWORK_CASES, 0)


# ----------------------------------------------------------------------------- what a report scores
def test_a_pass_scores_every_case_in_full():
    score = points.score(report(), Assignment(points={"relu/regularised": 2}, total=20))
    assert score.score == pytest.approx(20) and score.max_score == pytest.approx(20)
    assert {(c.status, c.output) for c in score.cases} == {("passed", "agrees with the reference")}
    assert score.cases[2].points == pytest.approx(4) and score.cases[0].points == pytest.approx(2)


def test_a_failing_case_scores_nothing_and_names_its_rows():
    score = points.score(report(HOMEWORK_CASES[1:], HOMEWORK_CASES[:1]), Assignment())
    assert (score.score, score.max_score) == (8, 9)
    first = score.cases[0]
    assert (first.name, first.points, first.max_points, first.status) == ("relu/one-example", 0, 1, "failed")
    assert first.output == "disagrees with the reference in W1, b2"


def test_a_case_not_run_scores_nothing_and_says_so():
    score = points.score(report(HOMEWORK_CASES[:-1]), Assignment())
    last = score.cases[-1]
    assert (last.name, last.status, last.points, last.output) == ("relu/large-batch", "not run", 0, "this case was not run")
    assert score.score == 8


def test_a_broken_contract_scores_nothing_and_says_why():
    score = points.score(report(error="a" * 150 + "b" * 150, error_kind="contract"), Assignment())
    assert score.score == 0 and score.max_score == 9
    assert all(c.status == "failed" for c in score.cases)
    assert score.cases[0].output == "the implementation could not be graded: " + "a" * 150 + "b" * 50


def test_a_layout_found_before_the_cases_costs_every_case():
    """W stored as (in, out): every case ran in the student's layout, none agrees in the course's."""
    transposed = report(conventions=["it stores W1 as (in, out)", "and W2"], explained=False)
    strict = points.score(transposed, Assignment())
    assert strict.score == 0 and strict.max_score == 9
    assert strict.cases[0].status == "failed"
    assert strict.cases[0].output == "agrees only in its own conventions: it stores W1 as (in, out); and W2"
    lenient = points.score(transposed, Assignment(conventions_cost_points=False))
    assert lenient.score == 9 and {c.status for c in lenient.cases} == {"passed"}
    assert lenient.cases[0].output == ("agrees once read in its own conventions (the course does not take "
                                       "points for that)")


def test_a_reading_convention_costs_only_the_cases_it_changes():
    summed = report(HOMEWORK_CASES[:1], HOMEWORK_CASES[1:], conventions=["the loss is the sum"], explained=True)
    strict = points.score(summed, Assignment())
    assert [c.name for c in strict.cases if c.points] == ["relu/one-example"] and strict.score == 1
    assert strict.cases[0].output == "agrees with the reference"
    assert strict.cases[1].output == "disagrees with the reference in W1, b2"
    lenient = points.score(summed, Assignment(conventions_cost_points=False))
    assert lenient.score == 9 and lenient.cases[1].status == "passed"


def test_without_conventions_a_failing_case_is_not_forgiven():
    score = points.score(report(HOMEWORK_CASES[1:], HOMEWORK_CASES[:1]), Assignment(conventions_cost_points=False))
    assert score.score == 8 and score.cases[0].status == "failed"


def test_a_score_and_its_full_score_are_written_rounded_to_four_places():
    assert points.Score(1 / 3, 2 / 3).to_dict() == {"score": 0.3333, "max_score": 0.6667, "cases": []}


def test_a_score_is_written_rounded_to_four_places():
    score = points.score(report(HOMEWORK_CASES[1:], HOMEWORK_CASES[:1]), Assignment(total=10))
    written = score.to_dict()
    assert written["score"] == 8.8889 and written["max_score"] == 10.0
    assert written["cases"][0] == {"name": "relu/one-example", "points": 0.0, "max_points": 1.1111,
                                   "status": "failed", "output": "disagrees with the reference in W1, b2"}
    assert written["cases"][1]["points"] == 1.1111 and written["cases"][1]["status"] == "passed"
