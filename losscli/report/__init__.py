"""What a run gives, as documents: the JSON document of an evaluation or a check run, text
formats (values, Markdown, CSV, a pandas DataFrame), JUnit XML and plots. ``formats`` is the
table of output formats, keyed by ``--format`` name, that every command prints through.

Reads the engine's results; imports neither click nor rich (the terminal tables are the
command line's). matplotlib only in ``plots``, pandas only in ``tabular``.
"""
