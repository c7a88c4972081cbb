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


class LossError(LossCliError, ValueError):
    """A loss cannot be computed, e.g. a custom loss function raised."""
