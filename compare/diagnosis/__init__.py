"""The diagnosis told in a course's words: ``words`` says what each convention is called,
``render`` turns one finding (a key, its phrase, the numbers behind it) into a sentence."""
