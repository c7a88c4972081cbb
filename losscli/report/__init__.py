"""What a run gives, as documents: the JSON document of an evaluation or a check run, text
formats (values, Markdown, CSV, a pandas DataFrame), JUnit XML and plots.

Reads the engine's results; imports neither click nor rich (the terminal tables are the
command line's). matplotlib only in ``plots``, pandas only in ``tabular``.
"""
