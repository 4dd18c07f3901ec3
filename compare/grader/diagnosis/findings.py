"""A finding: one likely cause of a failure, as data that is never changed once it is made.

A ``Finding`` holds a stable ``key`` (the class summary groups by it), a ``phrase`` with named
slots (``course.words``), the ``numbers`` behind it (one record per place it was seen), where
it holds (``where``: "case:param", or "case" for a finding about the whole case), how sure it is
(``certainty``) and the ``follow_ons`` it explains. It is frozen: the diagnosis builds a new
finding (``placed``, ``merged``, ``explaining``, ``told_in``) wherever it learns more, so a
finding handed out — to a case, to the run's list, to a report — says the same thing for good.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from types import MappingProxyType

from compare.grader.course.words import HOMEWORK, CourseWords, render

EXACT, PATTERN, HINT = "exact", "pattern", "hint"  # how sure a finding is


@dataclass(frozen=True)
class Finding:
    """One likely cause, as data. ``key`` names the cause (stable: the class summary groups by it).

    ``phrase`` is its wording with named slots (``course.words``); ``numbers`` holds the
    values behind it, one record per place it was seen ({"where", "case", "K", "factor",
    "shifts", "rel", ...}); ``certainty`` says how sure it is: "exact" (the student's numbers
    are what the bug produces, to rounding), "pattern" (which cases fail), "hint" (which
    parameters fail). ``follow_ons`` are the findings this one explains (an all-zero gradient
    that the bug predicts). ``message`` is the finding told in ``words``, the course's.
    Lists given for ``where``, ``numbers`` and ``follow_ons`` are kept as tuples (each record a
    read-only mapping).
    """

    key: str
    phrase: str | dict
    rank: int = 0  # lower is more specific: the detector's position
    where: tuple = ()  # "case:param" (or "case" for case detectors)
    numbers: tuple = field(default=(), repr=False)
    certainty: str = EXACT
    follow_ons: tuple = field(default=(), repr=False)
    hypothesis: object = field(default=None, repr=False, compare=False)  # the Hypothesis it matched, if one
    words: CourseWords = field(default=HOMEWORK, repr=False)

    def __post_init__(self):
        object.__setattr__(self, "where", tuple(self.where))
        object.__setattr__(self, "numbers", tuple(MappingProxyType(dict(r)) for r in self.numbers))
        object.__setattr__(self, "follow_ons", tuple(self.follow_ons))

    # ------------------------------------------------------------------------- new findings from this one
    def placed(self, where: str, rank: int | None = None, certainty: str | None = None) -> Finding:
        """This finding seen at ``where`` (its records say so too), with its rank and certainty."""
        return replace(self, where=(where,), numbers=[{**r, "where": where} for r in self.numbers],
                       rank=self.rank if rank is None else rank,
                       certainty=self.certainty if certainty is None else certainty)

    def merged(self, other: Finding) -> Finding:
        """The same cause seen here and in ``other``: every place, record and follow-on, the lower rank."""
        return replace(self, rank=min(self.rank, other.rank), where=self.where + other.where,
                       numbers=self.numbers + other.numbers, follow_ons=self.follow_ons + other.follow_ons)

    def explaining(self, follow_ons=(), where=()) -> Finding:
        """This finding with more ``follow_ons`` it explains and more places (``where``) it holds."""
        return replace(self, follow_ons=self.follow_ons + tuple(follow_ons), where=self.where + tuple(where))

    def told_in(self, words: CourseWords) -> Finding:
        """This finding (and its follow-ons) to be told in ``words``."""
        return replace(self, words=words, follow_ons=[f.told_in(words) for f in self.follow_ons])

    # ------------------------------------------------------------------------- told
    @property
    def message(self) -> str:
        return self.told(self.words)

    def told(self, words: CourseWords) -> str:
        """The finding in ``words``; the follow-on findings it explains named after it."""
        text = render(self.phrase, self.numbers, words)
        by_key: dict = {}
        for follow_on in self.follow_ons:
            by_key.setdefault(follow_on.key, []).append(follow_on)
        for index, same in enumerate(by_key.values()):
            where = [w for f in same for w in f.where]
            shown = ", ".join(where[:4]) + (f" (+{len(where) - 4} more)" if len(where) > 4 else "")
            text += f"; {'this also explains' if index == 0 else 'and'}: {same[0].told(words)} ({shown})"
        return text

    def to_dict(self) -> dict:
        return {"key": self.key, "message": self.message, "where": list(self.where), "certainty": self.certainty,
                "numbers": [dict(r) for r in self.numbers], "follow_ons": [f.to_dict() for f in self.follow_ons]}


def with_K(key: str, phrase, case, **numbers) -> Finding:
    """A finding whose phrase may name this case's batch size K ("{K}")."""
    return Finding(key, phrase, numbers=[{"case": case.name, "K": case.K, **numbers}])
