"""Right math under other conventions is never a pass: ``assert_matches_reference`` (a course's own
pytest helper) fails on it, naming the convention, and passes the same code under its own."""

from __future__ import annotations

from pathlib import Path

import pytest

from compare.validate import assert_matches_reference

IN_OUT = Path(__file__).resolve().parent / "student_impls" / "in_out.py"  # W (in, out), b (h, 1): right math


def test_assert_matches_reference_fails_right_math_under_other_conventions():
    with pytest.raises(AssertionError) as raised:
        assert_matches_reference(f"{IN_OUT}:make_mlp")
    message = str(raised.value)
    assert "disagrees with the torch reference" in message
    assert ("the backprop is right (all 19 cases agree once read in its own conventions), but it stores W1 as "
            "(in, out) (5, 4) where the assignment asks (out, in) (4, 5)") in message
