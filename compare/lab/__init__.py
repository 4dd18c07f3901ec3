"""The homework lab: settings, data, lockstep training of the twins, sweeps, plots and the
array comparison every check shares. Never imports the grader."""
