"""Starting, containing and talking to workers: isolation levels, per-submission
limits, the packages a worker may see, and the grader's end of the channel."""
