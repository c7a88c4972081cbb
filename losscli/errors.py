"""Typed errors raised by the losscli library.

The CLI turns every :class:`LossCliError` into one ``Error: ...`` line and exit
code 2; anything else is a bug. A message names a setting with ``setting(key)``; the front
end that shows it spells the key its own way (``spelled``): ``--group-by`` on the command
line, ``group_by`` in a check file, ``group_by=`` in Python.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

#: A setting's key inside a message, until a front end spells it.
_SETTING = re.compile("\x00([a-z_]+)\x00")


def setting(key: str) -> str:
    """``key`` (``group_by``) named in a message, for the front end to spell."""
    return f"\x00{key}\x00"


def spelled(message: str, say: Callable[[str], str]) -> str:
    """A message with each ``setting(key)`` spelled by ``say``."""
    return _SETTING.sub(lambda found: say(found[1]), message)


class LossCliError(Exception):
    """Base class for every error losscli reports to a user. ``str()`` names a setting by its
    key (``group_by``); a front end shows ``spelled(say)`` (``--group-by``, ``group_by=``)."""

    def __str__(self) -> str:
        return spelled(self.unspelled(), str)

    def unspelled(self) -> str:
        """The message with its settings left for a front end to spell."""
        return super().__str__()

    def spelled(self, say: Callable[[str], str]) -> str:
        return spelled(self.unspelled(), say)


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


class TooManySlices(InputError):
    """More slices than ``max_slices``, found while reading (also on a cluster worker)."""

    def __init__(self, columns: tuple[str, ...], limit: int) -> None:
        self.columns, self.limit = tuple(columns), limit
        super().__init__(
            f"{setting('group_by')} {', '.join(self.columns)}: more than "
            f"{setting('max_slices')} {limit} slices; raise it or group by fewer values"
        )

    def __reduce__(self) -> tuple[type, tuple[tuple[str, ...], int]]:  # one piece to a cluster
        return TooManySlices, (self.columns, self.limit)


class LossError(LossCliError, ValueError):
    """A loss cannot be computed, e.g. a custom loss function raised."""


class Terminated(BaseException):
    """SIGTERM or SIGHUP arrived: unwind (removing temporary files) and exit ``128 + signum``."""

    def __init__(self, signum: int) -> None:
        import signal

        self.signum = signum
        self.name = signal.Signals(signum).name
        super().__init__(self.name)


def shorten(text: object, limit: int = 40) -> str:
    """A name or value echoed in a message: printable, at most ``limit`` characters."""
    text = str(text)
    if not text.isprintable():
        text = repr(text)[1:-1]
    return text if len(text) <= limit else text[: limit - 3] + "..."


def name_list(names: Iterable[str], limit: int = 10) -> str:
    """Names echoed in a message: the first ``limit``, each shortened, and how many more."""
    names = list(names)
    shown = ", ".join(shorten(name) for name in names[:limit])
    more = len(names) - limit
    return shown + (f", ... ({more} more)" if more > 0 else "") if names else "(none)"
