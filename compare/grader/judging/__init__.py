"""Judging a submission against the torch reference: the reference and its cache (``reference``),
the case battery (``battery``), each case's judged numbers (``outcome``) and what the course
counts as harmless (``harmless``). Nothing here imports the diagnosis, which reads the outcomes."""
