"""Text that reaches an output: URIs with their user part redacted (``redact``), control
characters escaped (``escape``), and a slice's label (``slice_label``), unambiguous whatever its
keys hold. Every renderer, message and report goes through these. No click, no rich."""

from __future__ import annotations

import datetime as dt
import decimal
import math
import re
from typing import Any

#: A URI's scheme and user part (``s3://key:secret@``), anywhere in a text: the authority
#: ends at ``/``, ``?`` or ``#``, and its last ``@`` ends the user part. A space does not end
#: it: a user part holding one is redacted too (text after a URI with no path that holds an
#: ``@`` is redacted with it, the safe side).
_USER_PART = re.compile(r"\b([A-Za-z][A-Za-z0-9+.-]*://)[^/?#]*@")
REDACTED = "***"


def without_user(uri: str) -> str:
    """What a URI names, its user part dropped (``s3://key:secret@b/x`` -> ``s3://b/x``)."""
    return _USER_PART.sub(r"\1", uri, count=1)


#: A URI's query string (a presigned URL carries its credential and signature there).
_QUERY = re.compile(r"(\b[A-Za-z][A-Za-z0-9+.-]*://[^\s?#]*\?)([^\s#]*?)(?=[:,;)]?(?:\s|$))")
_QUERY_VALUE = re.compile(r"=[^&;]*")


def redact(text: str) -> str:
    """``text`` with the user part of every URI in it (which may hold a secret) as ``***``,
    and every value of its query string: ``s3://key:secret@bucket/a.npy`` ->
    ``s3://***@bucket/a.npy``, ``https://host/a.csv?X-Amz-Signature=abc`` ->
    ``https://host/a.csv?X-Amz-Signature=***``."""
    if "@" in text:
        text = _USER_PART.sub(rf"\1{REDACTED}@", text)
    if "?" in text:
        text = _QUERY.sub(lambda m: m[1] + _QUERY_VALUE.sub(f"={REDACTED}", m[2]), text)
    return text


_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escaped(char: str) -> str:
    code = ord(char)
    if char in _NAMED:
        return _NAMED[char]
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def escape(text: str) -> str:
    """``text`` with every character that is not printable (control characters, line and
    paragraph separators, format characters such as bidirectional overrides) written as its
    Python escape (``\\x1b``, ``\\n``), as JSON writes them: nothing of a value can move the
    cursor, hide text or start a line."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else _escaped(c) for c in text)


def shown(text: str) -> str:
    """Any text bound for a terminal, a report or a file: redacted, then escaped."""
    return escape(redact(text))


def key_value(value: Any) -> Any:
    """A slice key's value as JSON holds it: a date, time or datetime in ISO 8601, a decimal
    as its exact text, binary as hex; numbers, text, booleans and None as they are."""
    if isinstance(value, (dt.date, dt.time)):  # a datetime is a date
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, dt.timedelta):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)  # "inf", "-inf": JSON has no such number
    return value


#: Text shown bare in a label: letters, digits and ``_ . : / @ + -``; anything else is quoted.
_BARE = re.compile(r"[\w.:/@+-]+")
#: Text that would read as something else: null, a boolean or a number.
_WORDS = frozenset({"null", "none", "nan", "na", "n/a", "nil", "true", "false", "inf"})


def _looks_special(text: str) -> bool:
    if text.lower() in _WORDS:
        return True
    try:
        float(text)
    except ValueError:
        return False
    return True


def quoted(text: str) -> str:
    """``text`` in double quotes, ``"`` and ``\\`` escaped by a backslash, and every
    character that is not printable escaped."""
    return '"' + escape(text.replace("\\", "\\\\").replace('"', '\\"')) + '"'


def column_name(name: str) -> str:
    """A column's name in a label or a list of names: bare when plain, else quoted."""
    return name if _BARE.fullmatch(name) else quoted(name)


def label_value(value: Any) -> str:
    """One key value in a label: ``null`` for a null, ``true``/``false``, a number as
    written, a date in ISO 8601, binary as hex, and text bare when it is plain (letters,
    digits, ``_ . : / @ + -``) and reads as neither null, a boolean nor a number; otherwise
    quoted (``"null"``, ``"1"``, ``"x, b=y"``)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value if _BARE.fullmatch(value) and not _looks_special(value) else quoted(value)
    return escape(str(key_value(value)))


def slice_label(where: dict[str, Any]) -> str:
    """``region=eu, day=1``; ``(all)`` for the whole input; see ``label_value``. A column name
    that is not plain is quoted too."""
    if not where:
        return "(all)"
    return ", ".join(f"{column_name(k)}={label_value(v)}" for k, v in where.items())
