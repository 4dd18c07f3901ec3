"""Results, rendered: the text report and Markdown feedback, a class run's output folder and
grades.csv, its summary, Gradescope's results.json, and merged shards. The records they render
are ``compare.grader.judging.records``."""
