"""compare.grader.sandbox.errors: what a student's text becomes in a report line (``clean_text``)
and the error every refusal of a submission is (``StudentError``). Quick: no files, no worker."""

from __future__ import annotations

import pytest

from compare.grader.sandbox.errors import MESSAGE_LIMIT, StudentError, clean_text


def test_a_student_error_says_its_message_kind_and_exception_type():
    error = StudentError("raised", "loss_and_grads raised ValueError: shapes (2,3) and (4,) not aligned", "ValueError")
    assert str(error) == "loss_and_grads raised ValueError: shapes (2,3) and (4,) not aligned"
    assert (error.kind, error.exc_type) == ("raised", "ValueError")
    assert StudentError("load", "alice.py: cannot open").exc_type is None
    assert isinstance(error, Exception)


def test_the_default_limit_at_its_bound_and_one_over():
    assert MESSAGE_LIMIT == 300
    assert clean_text("x" * 300) == "x" * 300
    assert clean_text("x" * 301) == "x" * 299 + "…"


def test_a_cut_line_ends_with_one_ellipsis_after_no_blank():
    assert clean_text("abcde", 5) == "abcde"
    assert clean_text("abc de", 5) == "abc…"  # "abc " cut, its blank dropped
    assert clean_text("abcdef", 5) == "abcd…"


def test_what_is_not_text_is_said_as_str_says_it():
    assert clean_text(OSError(2, "No such file or directory")) == "[Errno 2] No such file or directory"
    assert clean_text(42) == "42" and clean_text(None) == "None"


@pytest.mark.parametrize(("raw", "said"), [
    ("verdict:\x1b[2J PASS\r\nnext", "verdict: [2J pass next"),  # control characters become blanks
    ("a\tb\x00c", "a b c"),
    ("line\u2028separator\u2029paragraph", "line separator paragraph"),  # Zl, Zp
    ("ab\u202ecd\u200bef", "abcdef"),  # format characters (bidi override, zero-width space) vanish
    ("a\ud800b", "ab"),  # a lone surrogate
    ("a\ue000b", "ab"),  # private use
    ("a\u0378b", "ab"),  # unassigned
    ("   many     blanks \n\n here  ", "many blanks here"),
    ("FAIL then PASS", "fail then pass"),
    ("é, 中文, ü", "é, 中文, ü"),
])
def test_a_line_is_printable_and_never_poses_as_a_verdict(raw, said):
    assert clean_text(raw) == said


def test_only_the_first_eight_limits_of_a_long_text_are_read():
    # Blanks collapse, so what lies past 8 × limit characters would otherwise show: it never does.
    assert clean_text(" " * 77 + "abc", 10) == "abc"  # 80 characters: read whole
    assert clean_text(" " * 78 + "abc", 10) == "ab"  # 81: the last one is not read
    assert clean_text(" " * 5000 + "late", 10) == ""
