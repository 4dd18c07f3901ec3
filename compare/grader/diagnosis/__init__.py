"""Diagnosis: why a gradient is wrong, told as findings in the course's own words."""
