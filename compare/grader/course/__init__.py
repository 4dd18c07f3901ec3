"""What the course asks: the assignment and its presets, naming and layout conventions,
the test cases and the points they carry."""
