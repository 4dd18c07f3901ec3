"""Judging a submission against the torch reference: the case battery and what the
course counts as harmless."""
