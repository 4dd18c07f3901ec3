"""Results as data and their renderings: reports, feedback files, grades.csv,
summary, Gradescope's results.json, and shard merging."""
