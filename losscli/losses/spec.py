"""Loss specifications: ``NAME`` or ``NAME(key=value, ...)``, and custom loss functions.

>>> parse_spec("huber(delta=2.5)")
LossSpec(text='huber(delta=2.5)', name='huber', params={'delta': 2.5})
>>> parse_spec("dice(axis=(1, 2))").params
{'axis': (1, 2)}
>>> build_losses(["bce(label_smoothing=0.1)"], options={"from_logits": True})[0]
BinaryCrossentropy(from_logits=True, label_smoothing=0.1, axis=-1, reduction='sum_over_batch_size')
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, NamedTuple, NoReturn

from losscli.errors import SpecError, Terminated, shorten
from losscli.losses.classes import CustomLoss, Loss, lookup

_TOKEN_PATTERN = r"""\s*(?:
      (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
    | (?P<name>[A-Za-z_][A-Za-z_0-9]*)
    | (?P<num>[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?|inf|nan))
    | (?P<punct>[()\[\],=])
    )"""
_WORDS: dict[str, Any] = {
    "true": True,
    "false": False,
    "null": None,
    "none": None,
    "inf": float("inf"),
    "nan": float("nan"),
}


MAX_NESTING = 32  # lists and tuples inside one another


class LossSpec(NamedTuple):
    """A parsed loss argument: the text as typed, the loss name and its parameters."""

    text: str
    name: str
    params: dict[str, Any] = {}  # read only, never mutated

    @property
    def is_custom(self) -> bool:
        """``file.py:function`` or ``package.module:function``."""
        return ":" in self.name


def _excerpt(text: str, pos: int, width: int = 60) -> str:
    """``text`` as echoed in a message: whole when short, else the part around ``pos``."""
    if len(text) <= width:
        return text
    start = max(0, min(pos - width // 2, len(text) - width))
    head = "..." if start > 0 else ""
    tail = "..." if start + width < len(text) else ""
    return head + text[start : start + width] + tail


class _Parser:
    def __init__(self, text: str, what: str, start: int = 0) -> None:
        self.text = text
        self.what = what
        self.tokens: list[tuple[str, str, int]] = []
        pos = start
        while pos < len(text):
            if text[pos:].strip() == "":
                break
            m = re.compile(_TOKEN_PATTERN, re.VERBOSE).match(text, pos)  # cached by re
            if not m or m.end() == pos:
                self.fail(f"unexpected character {text[pos:].lstrip()[0]!r}", pos)
            assert m is not None and m.lastgroup is not None
            self.tokens.append((m.lastgroup, m.group(m.lastgroup), m.start(m.lastgroup)))
            pos = m.end()
        self.i = 0

    def fail(self, message: str, pos: int | None = None) -> NoReturn:
        where = f" at position {pos + 1}" if pos is not None else ""
        raise SpecError(
            f"cannot parse {self.what} {_excerpt(self.text, pos or 0)!r}: {message}{where}"
        )

    def peek(self) -> tuple[str, str, int] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def next_is(self, text: str) -> bool:
        token = self.peek()
        return token is not None and token[1] == text

    def at_end(self) -> bool:
        return self.peek() is None

    def expect_end(self, after: str = "") -> None:
        token = self.peek()
        if token is not None:
            self.fail(f"unexpected {shorten(token[1])!r}{after}", token[2])

    def take(self, value: str | None = None) -> tuple[str, str, int]:
        token = self.peek()
        if token is None:
            self.fail(f"expected {value!r}" if value else "unexpected end", len(self.text))
        if value is not None and token[1] != value:
            self.fail(f"expected {value!r}, found {shorten(token[1])!r}", token[2])
        self.i += 1
        return token

    def value(self, depth: int = 0) -> Any:
        kind, text, pos = self.take()
        if depth > MAX_NESTING:
            self.fail(f"values nested more than {MAX_NESTING} deep", pos)
        if kind == "num":
            if re.search(r"[.eEna]", text):
                return float(text)
            if len(text.lstrip("+-")) > 300:
                self.fail("an integer of more than 300 digits", pos)
            return int(text)
        if kind == "str":
            try:
                return text[1:-1].encode().decode("unicode_escape")
            except UnicodeDecodeError as exc:
                self.fail(f"a bad escape in the string {text} ({exc.reason})", pos)
        if kind == "name":
            if text.lower() in _WORDS:
                return _WORDS[text.lower()]
            self.fail(f"{shorten(text)!r} is not a value (quote strings; use true/false/null)", pos)
        if text in "([":
            close = ")" if text == "(" else "]"
            items = []
            while not self.at_end() and not self.next_is(close):
                items.append(self.value(depth + 1))
                if self.next_is(","):
                    self.take(",")
                else:
                    break
            self.take(close)
            return tuple(items) if text == "(" else items
        self.fail(f"expected a value, found {shorten(text)!r}", pos)

    def params(self) -> dict[str, Any]:
        params: dict[str, Any] = {}
        self.take("(")
        while not self.at_end() and not self.next_is(")"):
            kind, key, pos = self.take()
            if kind != "name":
                self.fail(
                    f"expected a parameter name, found {shorten(key)!r} (write key=value)", pos
                )
            if not self.next_is("="):
                self.fail(f"expected '=' after {shorten(key)!r} (write {shorten(key)}=value)", pos)
            self.take("=")
            if key in params:
                self.fail(f"parameter {key!r} given twice", pos)
            params[key] = self.value()
            if self.next_is(","):
                self.take(",")
            else:
                break
        self.take(")")
        self.expect_end(" after ')'")
        return params


def parse_value(text: str) -> Any:
    """A value as in a spec: true/false, null/none, numbers, quoted strings, lists, tuples.

    >>> parse_value("[0.25, 0.75]")
    [0.25, 0.75]
    """
    parser = _Parser(text, "value")
    value = parser.value()
    parser.expect_end()
    return value


def parse_spec(text: str) -> LossSpec:
    """Split ``NAME(key=value, ...)`` into its name and parameters."""
    stripped = text.strip()
    if not stripped:
        raise SpecError("empty loss name; give a loss such as mse or 'huber(delta=2)'")
    open_at = stripped.find("(")
    if open_at < 0:
        if ")" in stripped:
            raise SpecError(f"unbalanced parentheses in loss {shorten(text, 60)!r}")
        return LossSpec(text, stripped, {})
    name = stripped[:open_at].strip()
    if not name:
        raise SpecError(f"loss {shorten(text, 60)!r} has parameters but no name")
    if stripped.count("(") != stripped.count(")") or not stripped.endswith(")"):
        raise SpecError(
            f"unbalanced parentheses in loss {shorten(text, 60)!r}; write NAME(key=value, ...)"
        )
    return LossSpec(text, name, _Parser(stripped, "loss", start=open_at).params())


def load_custom_function(target: str) -> Callable[..., Any]:
    """Load ``path/to/file.py:function`` or ``package.module:function``."""
    where, _, attr = target.rpartition(":")
    if not where or not attr:
        raise SpecError(f"custom loss {target!r} must be file.py:function or module:function")
    if where.endswith(".py"):
        path = Path(where)
        try:
            found = path.is_file()
        except (OSError, ValueError):  # a name too long to look up, a NUL byte
            found = False
        if not found:
            raise SpecError(f"custom loss file {shorten(where)!r} does not exist")
        module_name = f"losscli_custom_{path.stem}"
        spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:
            raise SpecError(f"cannot load custom loss file {where!r}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except (KeyboardInterrupt, Terminated):
            raise
        except BaseException as exc:  # SystemExit too: a loss file never ends the run
            raise SpecError(
                f"custom loss file {where!r} failed to import: {type(exc).__name__}: {exc}"
            ) from exc
    else:
        try:
            module = importlib.import_module(where)
        except (KeyboardInterrupt, Terminated):
            raise
        except BaseException as exc:
            raise SpecError(
                f"cannot import module {where!r} for custom loss {target!r}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
    fn = getattr(module, attr, None)
    if fn is None:
        raise SpecError(f"custom loss {target!r}: {where!r} has no attribute {attr!r}")
    if not callable(fn):
        raise SpecError(f"custom loss {target!r}: {attr!r} is not a function")
    return fn


def build_loss(
    spec: LossSpec | str,
    *,
    options: dict[str, Any] | None = None,
    reduction: str | None = "sum_over_batch_size",
    dtype: Any = "float64",
) -> Loss:
    """A configured loss: the spec's own parameters win over ``options`` it accepts."""
    spec = parse_spec(spec) if isinstance(spec, str) else spec
    if spec.is_custom:
        if spec.params:
            raise SpecError(f"custom loss {spec.name!r} takes no parameters")
        return CustomLoss(
            load_custom_function(spec.name), reduction=reduction, dtype=dtype, name=spec.name
        )
    cls = lookup(spec.name)
    accepted = cls.parameters()
    params = {k: v for k, v in (options or {}).items() if k in accepted}
    params.update(spec.params)
    return cls(reduction=reduction, dtype=dtype, **params)


def build_losses(
    texts: Iterable[str],
    *,
    options: dict[str, Any] | None = None,
    reduction: str | None = "sum_over_batch_size",
    dtype: Any = "float64",
) -> list[Loss]:
    """Build every loss of a command; an option that no loss takes is an error."""
    specs = [parse_spec(text) for text in texts]
    built = [build_loss(s, options=options, reduction=reduction, dtype=dtype) for s in specs]
    for key in options or {}:
        if not any(key in loss.parameters() for loss in built):
            names = ", ".join(s.text for s in specs)
            raise SpecError(f"no chosen loss ({names}) takes the parameter {key!r}")
    return built
