"""What a validation found, for a person: the text report and the Markdown feedback page, in
the course's words. The data they render is ``compare.grader.judging.records``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from compare.grader.course.words import HOMEWORK, CourseWords
from compare.grader.judging.records import TOL, CaseReport, Report

if TYPE_CHECKING:
    from compare.grader.diagnosis.findings import Finding


# ----------------------------------------------------------------------------- text
def _in_layout(name: str, index, words: CourseWords):
    """A weight's shape (or index) in the course's layout: reversed where W is (in, out)."""
    if name.startswith("W") and words.weights == "in_out" and isinstance(index, tuple) and len(index) == 2:
        return index[::-1]
    return index


def format_case(result: CaseReport, words: CourseWords = HOMEWORK) -> str:
    """The case's table: each row's shape and worst index in the course's own layout."""
    lines = [result.case.describe(words),  # its title and penalty in the course's words
             f"  {'param':<6}{'shape':<12}{'max abs err':>12}{'max rel err':>12}  {'worst index':<13}result"]
    for row in result.rows:
        d = row.diff
        verdict = "ok" if row.passed else "FAIL" + (f" ({row.note})" if row.note else "")
        if result.harmless and not row.passed:
            verdict = "accepted" if result.accepted else "differs (a convention, not a bug)"
        shape, worst = _in_layout(row.name, tuple(d.shape), words), _in_layout(row.name, d.worst_index, words)
        lines.append(f"  {row.name:<6}{str(shape):<12}{d.max_abs_error:>12.2e}{d.max_rel_error:>12.2e}  "
                     f"{str(worst):<13}{verdict}")
    if result.harmless:
        lines.append(f"  {'accepted' if result.accepted else 'a convention, not a bug'}: {result.harmless}")
    return "\n".join(lines)


def _where(finding: Finding) -> str:
    params, cases = [], []
    for item in finding.where:
        case, _, param = item.partition(":")
        if param and param not in params:
            params.append(param)
        if case not in cases:
            cases.append(case)
    shown = ", ".join(cases[:3]) + (f" (+{len(cases) - 3} more)" if len(cases) > 3 else "")
    return (f"{', '.join(params)} in " if params else "") + shown


def findings_lines(report: Report) -> list:
    lines = []
    for i, finding in enumerate(report.diagnosis, start=1):
        where = _where(finding)
        lines.append(f"  {i}. {finding.message}" + (f"\n     [{where}]" if where else ""))
    return lines


def format_report(report: Report, brief: bool = False) -> str:
    """The tables (only the failing ones when ``brief``), what was skipped, verdict, diagnosis."""
    if report.error is not None:
        return report.verdict
    head = (f"validating {report.target} ({report.assignment}): {len(report.cases)} cases against "
            f"reference.TorchMLP + autograd (float64, rtol {TOL.rtol:g})")
    blocks = [head] + [format_case(c, report.words) for c in report.cases if not (brief and c.passed and c.agrees)]
    tail = [f"note: {line}" for line in report.notes] + [f"skipped: {line}" for line in report.skipped]
    tail += [f"convention: {line}" for line in report.conventions]
    tail += [f"accepted: {line}" for line in report.accepted]
    tail.append(f"verdict: {report.verdict}")
    if report.diagnosis:
        tail.append("diagnosis (most likely first):")
        tail += findings_lines(report)
    return "\n\n".join(blocks + ["\n".join(tail)])


def format_markdown(report: Report, student: str) -> str:
    """The feedback file a student reads: verdict, what to fix, then the failing tables. Everything
    that comes from the student (their name, file names, messages) is escaped: no HTML, links or
    Markdown of theirs reach the page."""
    from compare.grader.results.outputs import markdown_text as md

    # The verdict's word is the grader's (PASS, FAIL, ERROR), kept as it is; the rest may quote the student,
    # and is escaped (which also lowers any PASS or FAIL of theirs).
    word, rest = report.verdict_parts
    lines = [f"# {md(student, 200)}: {report.status}", "", f"**{word} — {md(rest)}**", "",
             f"- implementation: {md(report.target, 300)}", f"- conventions: {md(report.assignment)}"]
    if report.isolation:
        lines.append(f"- ran in: {md(report.isolation)}")
    for title, items in (("Notes", report.notes), ("Skipped", report.skipped),
                         ("Conventions", report.conventions), ("Accepted", report.accepted)):
        if items:
            lines += ["", f"## {title}", ""] + [f"- {md(item)}" for item in items]
    if report.diagnosis:
        lines += ["", "## Diagnosis (most likely first)", ""]
        lines += [f"{i}. {md(f.message)}" + (f" — *{md(_where(f))}*" if f.where else "")
                  for i, f in enumerate(report.diagnosis, start=1)]
    if report.score is not None:
        s = report.score
        lines += ["", f"## Points: {s.score:.4g} of {s.max_score:.4g}", "", "| case | points | |", "|---|---|---|"]
        lines += [f"| {c.name} | {c.points:.4g} / {c.max_points:.4g} | {md(c.output, 200)} |" for c in s.cases]
    failing = [c for c in report.cases if not c.passed]
    if failing:
        lines += ["", "## Failing cases", ""]
        for case in failing:
            lines += ["```", format_case(case, report.words), "```", ""]
    passed = len(report.cases) - len(failing)
    if report.cases:
        lines += ["", f"{passed} of {len(report.cases)} cases agree with the reference "
                      f"(float64, rtol {TOL.rtol:g}).", ""]
    return "\n".join(lines).rstrip() + "\n"
