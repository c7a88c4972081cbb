"""Typed errors raised by the losscli library.

The CLI turns every :class:`LossCliError` into one ``Error: ...`` line and exit
code 2; anything else is a bug.
"""

from __future__ import annotations


class LossCliError(Exception):
    """Base class for every error losscli reports to a user."""


class SpecError(LossCliError, ValueError):
    """A loss specification is wrong: unknown loss, parameter or value."""


class InputError(LossCliError, ValueError):
    """Input data is unusable: unreadable file, bad shape, bad values."""


class RowError(InputError):
    """An input error at a row; ``template`` holds ``{row}``.

    Evaluating in chunks, a row found in a chunk is shifted to its place in the input.
    """

    def __init__(self, template: str, row: int) -> None:
        self.template = template
        self.row = row
        super().__init__(template.format(row=row))


class LossError(LossCliError, ValueError):
    """A loss cannot be computed, e.g. a custom loss function raised."""


class Terminated(BaseException):
    """SIGTERM or SIGHUP arrived: unwind (removing temporary files) and exit ``128 + signum``."""

    def __init__(self, signum: int) -> None:
        import signal

        self.signum = signum
        self.name = signal.Signals(signum).name
        super().__init__(self.name)
