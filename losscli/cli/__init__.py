"""The command line: click commands and options, the terminal (rich tables, progress, colour),
and turning library errors into one ``Error:`` line and exit code 2.

The only package that imports click or rich; it parses flags, calls the library and renders.
"""

from losscli.cli.commands import main

__all__ = ["main"]
