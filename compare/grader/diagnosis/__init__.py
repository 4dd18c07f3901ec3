"""Diagnosis: why a gradient is wrong, told as findings in the course's own words.

One job per module, each importing only those above it (and the judging below them all):

- ``variants``    — deliberately broken networks: autograd on the case's network altered one way;
- ``findings``    — ``Finding``: one likely cause as data, frozen once made;
- ``evidence``    — ``Evidence`` (what the detectors may ask about one case) and ``matches``;
- ``hypotheses``  — the catalogue of known bugs (a new one is one entry in ``HYPOTHESES``);
- ``detectors``   — the parameter detectors, in order of specificity; ``loss`` — the loss's;
- ``aggregation`` — one case's findings, then the run's: grouping, patterns, ``diagnose``.

Callers use ``compare.grader.diagnosis.aggregation.diagnose``. A finding's phrase is worded by the
course (``compare.grader.course.words``); this ``__init__`` imports nothing.
"""
