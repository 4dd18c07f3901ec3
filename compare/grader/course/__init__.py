"""What the course asks: the assignment and its presets (``assignment``), naming and layout
conventions (``conventions``), the test cases (``cases``), the points they carry (``points``), and
the words its students read (``words``: what the course calls each thing, and the one renderer of
a phrase with slots). A new course convention goes here, in one place."""
