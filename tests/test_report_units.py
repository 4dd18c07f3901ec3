"""What a judged submission reads as: the records (compare.grader.judging.records: rows, cases, the
Report's verdict, exit code, summary and JSON) and their renderings for a person
(compare.grader.results.report: the text tables and the Markdown feedback page), on reports built
by hand so that every line can be held to its exact words."""

from __future__ import annotations

import json
import math

import pytest

from compare.grader.course import cases as C
from compare.grader.course.points import CasePoints, Score
from compare.grader.course.words import HOMEWORK, CourseWords
from compare.grader.diagnosis.findings import Finding
from compare.grader.judging.outcome import CaseOutcome
from compare.grader.judging.records import TOL, CaseReport, Report, Row, json_safe
from compare.grader.judging.reference import REFERENCES
from compare.grader.results.report import findings_lines, format_case, format_markdown, format_report
from compare.lab.diff import ArrayDiff

MINI = next(c for c in C.battery("relu") if c.name == "relu/minibatch")  # 2-2-2, K=10, no penalty
REG = next(c for c in C.battery("relu") if c.name == "relu/regularised")  # 5-4-3, K=8, elastic net
RTOL = f"{TOL.rtol:g}"
CS231N_WORDS = CourseWords(penalty="l2", l2_factor=0.5, homework=False, weights="in_out")


def row(name, shape, passed=True, abs_err=1e-16, rel_err=2e-15, worst=None, note=""):
    worst = tuple(0 for _ in shape) if worst is None else worst
    return Row(name, ArrayDiff(tuple(shape), abs_err, rel_err, tuple(worst), 1.0, 1.0, TOL.rtol, passed), note)


def judged(case, rows, harmless="", accepted=False, findings=()):
    outcome = CaseOutcome(case=case, reference=REFERENCES.of(case), student_loss=0.0, student_grads={},
                          passed={r.name: r.diff.passed for r in rows},
                          max_rel_error={r.name: r.diff.max_rel_error for r in rows}, findings=tuple(findings))
    return CaseReport(case, rows, outcome, answer=None, harmless=harmless, accepted=accepted)


def good(case=MINI):
    rows = [row("loss", ())] + [row(n, v.shape) for n, v in case.params.items()]
    return judged(case, rows)


def bad_w2(case=REG, note=""):
    """W2 of ``case`` wrong at its entry (2, 1) (the (out, in) layout), every other row right."""
    rows = [row("loss", ())] + [row(n, v.shape) for n, v in case.params.items() if n != "W2"]
    rows.insert(3, row("W2", case.params["W2"].shape, passed=False, abs_err=0.25, rel_err=0.5, worst=(2, 1), note=note))
    return judged(case, rows)


def finding(message, where=()):
    return Finding(key="test", phrase=message, where=where)


# ----------------------------------------------------------------------------- rows and cases
def test_a_row_passes_only_when_its_numbers_agree_and_nothing_is_noted():
    assert row("W1", (2, 2)).passed
    assert not row("W1", (2, 2), passed=False).passed
    noted = row("W1", (4, 5), note="returned with the transposed shape (5, 4)")
    assert noted.diff.passed and not noted.passed  # right numbers in the wrong shape: still a failure
    assert noted.to_dict() == {"name": "W1", "shape": [4, 5], "max_abs_error": 1e-16, "max_rel_error": 2e-15,
                               "worst_index": [0, 0], "actual_at_worst": 1.0, "expected_at_worst": 1.0,
                               "rtol": TOL.rtol, "passed": False, "note": "returned with the transposed shape (5, 4)"}


def test_a_case_agrees_only_when_every_row_does():
    assert good().agrees and good().passed
    one_wrong = bad_w2()
    assert not one_wrong.agrees and not one_wrong.passed


@pytest.mark.parametrize(("harmless", "accepted", "passes"), [
    ("", False, False),
    ("its loss has an ε inside the log", False, False),  # a convention the assignment does not accept
    ("", True, False),  # accepted, but nothing explained it
    ("its loss has an ε inside the log", True, True),
])
def test_a_failing_case_passes_only_when_a_harmless_difference_explains_it_and_is_accepted(harmless, accepted, passes):
    result = bad_w2()
    result.harmless, result.accepted = harmless, accepted
    assert result.passed is passes
    assert result.to_dict()["passed"] is passes
    assert result.to_dict()["harmless"] == (harmless or None) and result.to_dict()["accepted"] is accepted


def test_a_case_in_json_names_the_case_its_rows_and_its_findings():
    seen = finding("W2's gradient is transposed", where=("relu/regularised:W2",))
    result = judged(REG, bad_w2().rows, findings=[seen])
    data = result.to_dict(CS231N_WORDS)
    assert data["name"] == "relu/regularised" and data["title"] == "a minibatch with the L2 penalty"
    assert data["passed"] is False and data["harmless"] is None and data["accepted"] is False
    assert [r["name"] for r in data["rows"]] == ["loss", "W1", "b1", "W2", "b2"]
    assert [r["passed"] for r in data["rows"]] == [True, True, True, False, True]
    assert [f["message"] for f in data["findings"]] == ["W2's gradient is transposed"]
    assert good(REG).to_dict()["title"] == "a minibatch with elastic net, a distinct λ in each slot"


def test_reprs_stay_short_enough_to_read_in_a_failing_assertion():
    """The outcome (with the reference's arrays), the student's answer and the course's words stay out of
    the repr a failing test prints."""
    result = good()
    result.answer = (1.5, {"W1": [[1.0]]})
    text = repr(result)
    assert text.startswith("CaseReport(case=Case(name='relu/minibatch'") and "rows=[" in text
    assert "outcome" not in text and "answer" not in text and "CaseReference" not in text
    report = Report("student.py", cases=[result])
    assert "words=" not in repr(report) and "CourseWords" not in repr(report)


# ----------------------------------------------------------------------------- the report's verdict
def test_a_report_of_agreeing_cases_passes():
    report = Report("alice/mlp.py", cases=[good(), good(REG)])
    assert (report.exit_code, report.status) == (0, "pass")
    assert report.failed_cases == [] and report.bug_cases == []
    assert report.verdict == f"PASS — all 2 cases agree with the torch reference (float64, rtol {RTOL})"
    assert report.summary == "all cases agree"
    assert not report.explained and report.elapsed_s == 0.0 and report.words is HOMEWORK


def test_a_pass_names_what_the_assignment_accepted():
    report = Report("alice/mlp.py", cases=[good()], accepted=["rect'(0) = 1 (relu_grad_at_zero)", "an ε"])
    assert report.exit_code == 0
    assert report.verdict == (f"PASS — all 1 cases agree with the torch reference (float64, rtol {RTOL}); "
                              "accepted: rect'(0) = 1 (relu_grad_at_zero); an ε")
    assert report.summary == "all cases agree (accepted: rect'(0) = 1 (relu_grad_at_zero); an ε)"


def test_a_disagreeing_case_fails_and_is_counted():
    wrong = bad_w2()
    report = Report("bob/mlp.py", cases=[good(), wrong, good(REG)])
    assert (report.exit_code, report.status) == (1, "fail")
    assert report.failed_cases == [wrong] and report.bug_cases == [wrong]
    assert report.verdict == f"FAIL — 1 of 3 cases disagree with the torch reference (float64, rtol {RTOL})"
    assert report.summary == "all cases agree"  # no diagnosis: the summary has nothing better to say
    report.diagnosis = [finding("W2's gradient is transposed"), finding("second guess")]
    assert report.summary == "W2's gradient is transposed"


def test_a_bug_beside_another_convention_is_told_as_a_bug_first():
    wrong = bad_w2()
    report = Report("bob/mlp.py", cases=[wrong, good()], conventions=["W is stored (in, out)"])
    assert report.exit_code == 1
    assert report.verdict == (f"FAIL — 1 of 2 cases disagree with the torch reference (float64, rtol {RTOL}); "
                              "besides, W is stored (in, out)")
    assert report.summary == "right backprop, other conventions: W is stored (in, out)"
    report.diagnosis = [finding("the bias gradient sums over the wrong axis")]
    assert report.summary == "the bias gradient sums over the wrong axis; besides, W is stored (in, out)"


def test_right_math_under_other_conventions_fails_and_says_the_backprop_is_right():
    """Every case agrees once read as the sum (explained): exit 1, and the verdict tells the student their
    backprop is right but the convention is not the assignment's."""
    wrong = bad_w2()
    wrong.harmless = "it returns the sum over the batch"
    report = Report("carol/mlp.py", cases=[wrong, good()], conventions=["it returns the sum", "W is (in, out)"],
                    explained=True, diagnosis=[finding("a sum where the mean is asked")])
    assert (report.exit_code, report.status) == (1, "fail")
    assert report.failed_cases == [wrong] and report.bug_cases == []
    assert report.verdict == ("FAIL — the backprop is right (all 2 cases agree once read in its own conventions), "
                              "but it returns the sum; W is (in, out)")
    assert report.summary == "right backprop, other conventions: it returns the sum; W is (in, out)"


def test_conventions_alone_fail_even_when_every_case_agrees():
    report = Report("dan/mlp.py", cases=[good()], conventions=["its factory is called as MLP(sizes)"])
    assert report.exit_code == 1 and report.failed_cases == []
    assert report.verdict.startswith("FAIL — the backprop is right (all 1 cases agree")
    report.explained = False  # nothing to explain: no case fails
    assert report.verdict.startswith("FAIL — the backprop is right")


def test_a_bug_no_convention_explains_is_a_bug_even_with_the_explanation_flag_unset():
    wrong = bad_w2()
    report = Report("eve/mlp.py", cases=[wrong], conventions=["its L2 term is 0.5·reg·Σ‖W‖²"])
    assert not report.explained
    assert report.verdict.startswith("FAIL — 1 of 1 cases disagree")


def test_an_error_is_exit_2_whatever_else_the_report_holds():
    report = Report("frank/mlp.py", cases=[bad_w2()], conventions=["x"], error="MLP() raised ZeroDivisionError",
                    error_kind="raised", diagnosis=[finding("never shown")])
    assert (report.exit_code, report.status) == (2, "error")
    assert report.verdict == "ERROR — cannot validate frank/mlp.py: MLP() raised ZeroDivisionError"
    assert report.summary == "MLP() raised ZeroDivisionError"
    assert format_report(report) == report.verdict  # no tables for a submission that could not be run


def test_the_json_form_holds_every_field_strictly():
    score = Score(1.5, 3.0, [CasePoints("relu/minibatch", 1.5, 1.5, "passed", "agrees")])
    report = Report("bob/mlp.py", assignment="cs231n", cases=[good(), bad_w2()], skipped=["two hidden layers"],
                    conventions=[], notes=["cell 3 skipped"], accepted=[], isolation="bubblewrap: read-only",
                    elapsed_s=1.23456, error_kind=None)
    data = report.to_dict()
    assert data["exit_code"] == 1 and data["status"] == data["verdict"] == "fail"
    assert data["verdict_text"] == report.verdict and data["summary"] == report.summary
    assert data["tolerance"] == {"rtol": TOL.rtol, "atol": TOL.atol, "why": TOL.why}
    assert (data["n_cases"], data["n_failed"], data["elapsed_s"]) == (2, 1, 1.235)
    assert (data["target"], data["assignment"], data["isolation"]) == ("bob/mlp.py", "cs231n", "bubblewrap: read-only")
    assert data["skipped"] == ["two hidden layers"] and data["notes"] == ["cell 3 skipped"]
    assert [c["name"] for c in data["cases"]] == ["relu/minibatch", "relu/regularised"]
    assert "score" not in data
    report.score = score
    assert report.to_dict()["score"] == {"score": 1.5, "max_score": 3.0, "cases": [
        {"name": "relu/minibatch", "points": 1.5, "max_points": 1.5, "status": "passed", "output": "agrees"}]}
    json.dumps(report.to_dict(), allow_nan=False)
    assert Report("x").to_dict()["elapsed_s"] == 0.0


def test_json_safe_spells_out_the_numbers_json_has_no_word_for():
    data = {"a": math.nan, "b": [math.inf, -math.inf, (1.5, -0.0)], "c": {"d": -math.inf}, "e": 3, "f": "NaN"}
    assert json_safe(data) == {"a": "NaN", "b": ["Infinity", "-Infinity", [1.5, -0.0]], "c": {"d": "-Infinity"},
                               "e": 3, "f": "NaN"}
    assert json_safe(0.0) == 0.0 and json_safe(-2.5) == -2.5 and json_safe(None) is None
    json.dumps(json_safe(data), allow_nan=False)


# ----------------------------------------------------------------------------- the text tables
def test_the_table_of_a_failing_case_in_the_homeworks_layout():
    assert format_case(bad_w2()) == "\n".join([
        "relu/regularised: a minibatch with elastic net, a distinct λ in each slot — sizes (5, 4, 3), K=8, "
        "lambdas 0.011, 0.013, 0.017, 0.019",
        "  param shape        max abs err max rel err  worst index  result",
        "  loss  ()              1.00e-16    2.00e-15  ()           ok",
        "  W1    (4, 5)          1.00e-16    2.00e-15  (0, 0)       ok",
        "  b1    (4,)            1.00e-16    2.00e-15  (0,)         ok",
        "  W2    (3, 4)          2.50e-01    5.00e-01  (2, 1)       FAIL",
        "  b2    (3,)            1.00e-16    2.00e-15  (0,)         ok",
    ])


def test_the_table_shows_shapes_and_indices_in_the_courses_own_layout():
    """A course storing W as (in, out) reads W2 as (4, 3) and its worst entry as (1, 2); biases and the loss
    are the same in either layout; a note says why a right-valued row still fails."""
    text = format_case(bad_w2(note="returned with the transposed shape (4, 3)"), CS231N_WORDS)
    assert text.splitlines()[0] == ("relu/regularised: a minibatch with the L2 penalty — sizes (5, 4, 3), K=8, "
                                    "reg 0.026")
    assert text.splitlines()[2:] == [
        "  loss  ()              1.00e-16    2.00e-15  ()           ok",
        "  W1    (5, 4)          1.00e-16    2.00e-15  (0, 0)       ok",
        "  b1    (4,)            1.00e-16    2.00e-15  (0,)         ok",
        "  W2    (4, 3)          2.50e-01    5.00e-01  (1, 2)       FAIL (returned with the transposed shape (4, 3))",
        "  b2    (3,)            1.00e-16    2.00e-15  (0,)         ok",
    ]


@pytest.mark.parametrize(("accepted", "verdict", "last"), [
    (True, "accepted", "  accepted: its L2 term is 0.5·reg·Σ‖W‖²"),
    (False, "differs (a convention, not a bug)", "  a convention, not a bug: its L2 term is 0.5·reg·Σ‖W‖²"),
])
def test_the_table_of_a_case_a_harmless_difference_explains(accepted, verdict, last):
    result = bad_w2()
    result.harmless, result.accepted = "its L2 term is 0.5·reg·Σ‖W‖²", accepted
    lines = format_case(result).splitlines()
    assert lines[3].endswith("(0, 0)       ok") and lines[5].endswith("(2, 1)       " + verdict)
    assert lines[-1] == last and len(lines) == 8


def test_the_table_of_a_weight_with_no_entries_or_a_longer_index_is_left_as_it_is():
    odd = judged(MINI, [row("W1", (0,), worst=()), row("W2", (2, 2, 1), worst=(1, 0, 0))])
    lines = format_case(odd, CS231N_WORDS).splitlines()
    assert lines[2].split()[:2] == ["W1", "(0,)"] and lines[2].split()[4] == "()"
    assert "(2, 2, 1)" in lines[3] and "(1, 0, 0)" in lines[3]


# ----------------------------------------------------------------------------- the diagnosis lines
def test_each_finding_is_numbered_with_the_parameters_and_the_first_three_cases_it_was_seen_in():
    report = Report("x", diagnosis=[
        finding("first", where=("relu/a:W1", "relu/a:b1", "relu/b:W1", "relu/c", "relu/d:W2")),
        finding("second", where=("relu/a", "relu/b", "relu/c")),
        finding("third"),
        finding("fourth", where=("relu/a:W1", "relu/a:W1")),
    ])
    assert findings_lines(report) == [
        "  1. first\n     [W1, b1, W2 in relu/a, relu/b, relu/c (+1 more)]",
        "  2. second\n     [relu/a, relu/b, relu/c]",
        "  3. third",
        "  4. fourth\n     [W1 in relu/a]",
    ]


# ----------------------------------------------------------------------------- the whole text report
def full_report() -> Report:
    wrong = bad_w2()
    accepted = bad_w2()
    accepted.harmless, accepted.accepted = "an ε inside the log", True
    return Report("bob/mlp.py", assignment="homework (the homework's contract)", cases=[good(), wrong, accepted],
                  skipped=["two hidden layers"], conventions=["W is (in, out)"], notes=["cell 3 skipped"],
                  accepted=["an ε inside the log (log_epsilon = 1e-07)"], isolation="bubblewrap: read-only",
                  diagnosis=[finding("W2's gradient is transposed", where=("relu/regularised:W2",))])


def test_the_text_report_holds_every_table_then_what_was_skipped_the_verdict_and_the_diagnosis():
    report = full_report()
    blocks = format_report(report).split("\n\n")
    assert blocks[0] == ("validating bob/mlp.py (homework (the homework's contract)): 3 cases against "
                         f"reference.TorchMLP + autograd (float64, rtol {RTOL})")
    assert blocks[1:4] == [format_case(c) for c in report.cases]
    assert blocks[4].splitlines() == [
        "note: cell 3 skipped",
        "skipped: two hidden layers",
        "convention: W is (in, out)",
        "accepted: an ε inside the log (log_epsilon = 1e-07)",
        f"verdict: {report.verdict}",
        "diagnosis (most likely first):",
        "  1. W2's gradient is transposed",
        "     [W2 in relu/regularised]",
    ]
    assert len(blocks) == 5


def test_the_brief_report_leaves_out_only_the_tables_that_agree_as_they_are():
    report = full_report()
    brief = format_report(report, brief=True).split("\n\n")
    assert brief[1:3] == [format_case(report.cases[1]), format_case(report.cases[2])]  # accepted: still shown
    assert len(brief) == 4 and brief[-1] == format_report(report).split("\n\n")[-1]
    plain = Report("x", cases=[good()])
    assert format_report(plain).split("\n\n")[-1] == f"verdict: {plain.verdict}"
    assert "diagnosis" not in format_report(plain)


def test_the_text_report_uses_the_courses_layout():
    report = Report("x", cases=[bad_w2()], words=CS231N_WORDS)
    assert format_report(report).split("\n\n")[1] == format_case(report.cases[0], CS231N_WORDS)


# ----------------------------------------------------------------------------- the Markdown page
def test_the_markdown_page_a_student_reads():
    report = full_report()
    report.score = Score(2.0, 3.0, [CasePoints("relu/minibatch", 1.0, 1.0, "passed", "agrees"),
                                    CasePoints("relu/regularised", 2.0, 1.0, "failed", "W2 | <b>wrong</b>")])
    failing_table = format_case(report.cases[1])
    assert format_markdown(report, "bob [the *best*]") == "\n".join([
        "# bob \\[the *best*\\]: fail",
        "",
        f"**FAIL — 1 of 3 cases disagree with the torch reference (float64, rtol {RTOL}); besides, W is (in, out)**",
        "",
        "- implementation: bob/mlp.py",
        "- conventions: homework (the homework's contract)",
        "- ran in: bubblewrap: read-only",
        "",
        "## Notes",
        "",
        "- cell 3 skipped",
        "",
        "## Skipped",
        "",
        "- two hidden layers",
        "",
        "## Conventions",
        "",
        "- W is (in, out)",
        "",
        "## Accepted",
        "",
        "- an ε inside the log (log_epsilon = 1e-07)",
        "",
        "## Diagnosis (most likely first)",
        "",
        "1. W2's gradient is transposed — *W2 in relu/regularised*",
        "",
        "## Points: 2 of 3",
        "",
        "| case | points | |",
        "|---|---|---|",
        "| relu/minibatch | 1 / 1 | agrees |",
        "| relu/regularised | 1 / 2 | W2 \\| &lt;b&gt;wrong&lt;/b&gt; |",
        "",
        "## Failing cases",
        "",
        "```",
        failing_table,
        "```",
        "",
        "",
        f"2 of 3 cases agree with the reference (float64, rtol {RTOL}).",
    ]) + "\n"


def test_the_markdown_page_of_a_clean_pass_has_no_empty_sections():
    report = Report("alice/mlp.py", cases=[good(), good(REG)])
    assert format_markdown(report, "alice") == "\n".join([
        "# alice: pass",
        "",
        f"**PASS — all 2 cases agree with the torch reference (float64, rtol {RTOL})**",
        "",
        "- implementation: alice/mlp.py",
        "- conventions: homework (the homework's contract)",
        "",
        f"2 of 2 cases agree with the reference (float64, rtol {RTOL}).",
    ]) + "\n"


def test_the_markdown_page_of_an_error_and_of_a_finding_seen_nowhere():
    report = Report("x.py", error="cannot import mlp", error_kind="load", diagnosis=[finding("a guess")],
                    words=CS231N_WORDS)
    page = format_markdown(report, "zoe")
    assert page.startswith("# zoe: error\n\n**ERROR — cannot validate x.py: cannot import mlp**\n")
    assert "1. a guess\n" in page and "cases agree" not in page and "Failing" not in page
    assert page.endswith("1. a guess\n")


def test_the_markdown_verdict_keeps_the_graders_word_and_lowers_the_students():
    """A student's message in the verdict cannot pose as the grader's verdict; the grader's own word stays."""
    report = Report("x.py", error="PASS <script> [FAIL]", error_kind="raised")
    assert format_markdown(report, "zoe").splitlines()[2] == "**ERROR — cannot validate x.py: pass &lt;script&gt; \\[fail\\]**"


def test_a_case_compared_as_it_is_is_neither_explained_nor_accepted():
    result = CaseReport(MINI, good().rows, good().outcome)
    assert (result.harmless, result.accepted, result.answer) == ("", False, None)
    assert result.to_dict()["accepted"] is False and result.to_dict()["harmless"] is None


def test_the_summary_of_a_passing_report_still_names_what_the_diagnosis_saw():
    """Every case agrees (or is accepted), yet the diagnosis noticed something: the class table says it."""
    report = Report("x", cases=[good()], diagnosis=[finding("an ε inside the log, accepted"), finding("second")])
    assert report.exit_code == 0 and report.summary == "an ε inside the log, accepted"
