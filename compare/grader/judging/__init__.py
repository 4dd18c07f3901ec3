"""Judging a submission against the torch reference: the reference and its cache (``reference``),
the case battery (``battery``), each case's judged numbers (``outcome``), what the course counts
as harmless (``harmless``) and the records a judging produces (``records``: rows, case reports,
the ``Report`` with its verdict and JSON form). Nothing here imports the diagnosis, which reads
the outcomes, or the results, which render the records."""
