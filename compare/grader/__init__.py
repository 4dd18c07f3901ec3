"""Grading untrusted implementations: the student's code runs only in an isolated worker.

The parts, each with one job, lower ones never importing higher ones:

- ``sandbox/``     — the only code the worker loads (bound read-only into the sandbox; standard
                     library and NumPy only): ``wire`` (JSON header + raw float64/int64 bytes, size
                     caps; nothing is unpickled or executed), ``worker`` and ``host`` (the worker's
                     loop and the calls into student code), ``stubs``, ``sources``, ``syntax``, ``errors``;
- ``submissions/`` — what a submission is (a file, a notebook, a package) and how a class folder
                     is read into students, bounded and without following links;
- ``workers/``     — how a worker is started and contained (bubblewrap or a plain process,
                     per-submission limits, the packages it may see) and the grader's end of the
                     channel (``runner``: one request at a time, every reply re-checked);
- ``course/``      — what the course asks: assignment and presets, conventions, cases, points,
                     and its words (every phrase a student reads is rendered there);
- ``judging/``     — the torch reference and its cache, the battery of cases against it, each
                     case's outcome, what is harmless, and the records a judging produces
                     (``records``: rows, case reports, the ``Report`` and its JSON);
- ``diagnosis/``   — why a gradient is wrong: broken networks, the known bugs, detectors, the
                     run's aggregation; findings as data (keys, numbers, where), never prose;
- ``results/``     — the renderings: text report, Markdown feedback, grades.csv, summary,
                     Gradescope's results.json, shards; and the class run's output folder.

Above them, the glue the commands call: ``validation`` (one submission: ``validate``,
``assert_matches_reference``), ``classrun`` (a class folder), ``autograder`` (Gradescope) and
``options`` (what every grading command takes). docs/layout.md has the rules.

This ``__init__`` imports nothing, so the worker can load its modules without the grader's.
"""
