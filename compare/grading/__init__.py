"""Grading untrusted implementations: the student's code runs only in an isolated worker.

The parts, each with one job:

- ``errors``     — ``StudentError`` (what the implementation did wrong) and ``clean_text``
                   (anything the student wrote, made safe to print: no control characters, capped);
- ``wire``       — the only format between worker and grader: a JSON header and raw float64/int64
                   bytes, with size caps; nothing the worker sends is ever unpickled or executed;
- ``submission`` — which files a ``module:NAME`` / ``path.py:NAME`` spec names, found without
                   importing them, and their bounded copy into a private folder;
- ``isolation``  — how the worker is started: bubblewrap (read-only filesystem, no network, its
                   own PID namespace, a throwaway user id) where the machine has it, else a plain
                   process; in both, resource limits, its own session, a minimal environment, and a
                   kill of everything it started;
- ``runner``     — the grader's side: one request at a time under one deadline, every reply
                   re-checked; ``InProcessRunner`` for trusted callables only;
- ``host`` and ``worker`` — the worker's side (standard library and NumPy only: they run
                   inside the sandbox, where neither ``compare`` nor torch exists).

This ``__init__`` imports nothing, so the worker can load its modules without the grader's.
"""
