"""What an implementation did wrong, and how anything it wrote is made safe to print.

Standard library only: the worker loads this file too.
"""

from __future__ import annotations

import unicodedata

MESSAGE_LIMIT = 300  # characters of one student-controlled string in a one-line message


class StudentError(Exception):
    """The implementation broke the contract; ``str()`` is a one-line reason for the user.

    ``kind`` is "load" (cannot be loaded), "forbidden" (imports what the assignment forbids),
    "raised" (student code raised), "contract" (wrong types, keys, shapes, mutated inputs, a
    malformed reply), "channel" (it wrote to the grader's channel: malformed or out-of-order
    frames), "timeout" or "died".
    """

    def __init__(self, kind: str, message: str, exc_type: str | None = None):
        super().__init__(message)
        self.kind = kind
        self.exc_type = exc_type


def clean_text(text, limit: int = MESSAGE_LIMIT) -> str:
    """One printable line: control and format characters (ESC, CR, bidi overrides…) become
    spaces or vanish, runs of blanks shrink to one, the verdict words PASS/FAIL are lowered (a
    student's message cannot pose as a verdict), and the text is cut at ``limit`` characters."""
    if not isinstance(text, str):
        text = str(text)
    if len(text) > 8 * limit:
        text = text[: 8 * limit]  # no need to scan megabytes to print three hundred characters
    out = []
    for char in text:
        category = unicodedata.category(char)
        if category in ("Cc", "Zl", "Zp"):
            out.append(" ")
        elif category not in ("Cf", "Cs", "Co", "Cn"):
            out.append(char)
    line = " ".join("".join(out).split())
    # The grader's own verdict words are upper case: a student's text never shows them.
    line = line.replace("PASS", "pass").replace("FAIL", "fail")
    if len(line) > limit:
        line = line[: limit - 1].rstrip() + "…"
    return line
