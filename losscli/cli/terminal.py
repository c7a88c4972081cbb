"""The command line's dealings with the terminal: every error as one ``Error:`` line and an exit
code, signals, warnings on stderr, tables printed at the terminal's width, the progress bar,
and the allocator setting of the process. rich is imported only to print."""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from collections.abc import Callable
from typing import Any

import click

EXIT_OK, EXIT_GATE_FAILED, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3


class LossCliGroup(click.Group):
    """Runs a command and turns every error into one ``Error:`` line and exit 2."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        from losscli.errors import LossCliError, Terminated

        kwargs["standalone_mode"] = False
        restore = _terminate_on_signals()
        try:
            try:
                with warnings.catch_warnings():
                    # The library's Python warnings for notebook users; the CLI says the same
                    # as a `Warning:` line, once, from its input checks.
                    warnings.filterwarnings("ignore", "In loss ", SyntaxWarning)
                    code = super().main(*args, **kwargs)
            except click.exceptions.Exit as exc:
                code = exc.exit_code
            _flush_stdout()
        except click.Abort:
            error_line("interrupted")
            code = 130
        except click.ClickException as exc:
            error_line(one_line(exc.format_message()) + _help_hint(exc))
            given = kwargs.get("args") or (args[0] if args else None)
            _junit_on_usage_error(list(given) if given is not None else sys.argv[1:], exc)
            code = EXIT_USAGE
        except LossCliError as exc:
            from losscli.io.readers import cli_flag  # numpy: only once something ran

            _debug_traceback()
            error_line(one_line(exc.spelled(cli_flag)))
            code = EXIT_USAGE
        except KeyboardInterrupt:
            error_line("interrupted")
            code = 130
        except Terminated as exc:
            error_line(f"terminated by {exc.name}")
            code = 128 + exc.signum
        except BrokenPipeError:
            # The reader went away (e.g. `| head`): not an error of ours.
            sys.stderr.close()
            code = EXIT_OK
        except Exception as exc:  # noqa: BLE001 - the last line of defence: never a traceback
            # A bug of ours, never disguised as an input error (exit 2): exit 3.
            _debug_traceback()
            error_line(
                f"internal error: {type(exc).__name__}: {one_line(str(exc))[:500]} (a losscli "
                "bug; please report it; LOSSCLI_DEBUG=1 shows the traceback)"
            )
            code = EXIT_INTERNAL
        finally:
            restore()
        sys.exit(code or 0)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Bare ``losscli``: the help, formatted, on stdout and exit 0 (as ``git`` and ``pip``
        do), not click's usage error folded into one ``Error:`` line."""
        if not args and self.no_args_is_help and not ctx.resilient_parsing:
            click.echo(ctx.get_help(), color=ctx.color)
            ctx.exit(0)
        return super().parse_args(ctx, args)


def _junit_on_usage_error(argv: list[str], exc: click.ClickException) -> None:
    """``check ... --junit-xml PATH`` whose command line click refused (an unknown option, a bad
    choice): the report at PATH becomes an ``<error>`` too, never an earlier run's green one."""
    argv = [str(a) for a in argv]
    if "check" not in argv:
        return
    rest = argv[argv.index("check") + 1 :]
    path = None
    for i, arg in enumerate(rest):
        if arg == "--junit-xml" and i + 1 < len(rest):
            path = rest[i + 1]
        elif arg.startswith("--junit-xml="):
            path = arg.partition("=")[2]
    if not path:
        return
    from losscli.errors import InputError
    from losscli.report.junit import write_error_report

    config = next((a for a in rest if not a.startswith("-") and a != path), "config")
    write_error_report(path, config, InputError(one_line(exc.format_message())), None)


def _terminate_on_signals() -> Callable[[], None]:
    """SIGTERM and SIGHUP raise ``Terminated``: temporary files are removed on the way out."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    from losscli.errors import Terminated

    def handler(signum: int, frame: object) -> None:
        raise Terminated(signum)

    previous = {}
    for name in ("SIGTERM", "SIGHUP"):
        signum = getattr(signal, name, None)
        if signum is not None:
            previous[signum] = signal.signal(signum, handler)

    def restore() -> None:
        for signum, old in previous.items():
            signal.signal(signum, old)

    return restore


def _flush_stdout() -> None:
    """Flush now: a write that fails at exit (a full disk) would otherwise pass unseen."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as exc:
        from losscli.cli.streamed import stdout_error

        raise stdout_error(exc) from None


#: An error line longer than this is cut in the middle: messages shorten what they echo, and
#: this holds the line readable when something echoed in full is long anyway.
MAX_MESSAGE = 1000


def one_line(message: str) -> str:
    line = " ".join(message.split())
    if len(line) > MAX_MESSAGE:
        line = line[: MAX_MESSAGE - 300] + " ... " + line[-295:]
    return line


def _help_hint(exc: click.ClickException) -> str:
    ctx = getattr(exc, "ctx", None)
    return f" (see '{ctx.command_path} --help')" if ctx is not None else ""


def error_line(message: str) -> None:
    from losscli.text import shown

    click.echo(f"Error: {shown(message)}", err=True)


def _debug_traceback() -> None:
    if os.environ.get("LOSSCLI_DEBUG"):
        import traceback

        traceback.print_exc()


def warn(message: str, prefix: str = "Warning: ") -> None:
    from losscli.text import shown

    click.echo(f"{prefix}{shown(message)}", err=True)


def stdin_hint(specs: list[Any], quiet: bool) -> None:
    """Reading standard input from a terminal looks like a hang: say what losscli waits for."""
    if not quiet and any(spec.reads_stdin() for spec in specs) and sys.stdin.isatty():
        warn(
            "reading the input from the terminal: paste the rows and press Ctrl-D, "
            "or pipe a file in (cat preds.csv | losscli ...)",
            prefix="losscli: ",
        )


def print_table(build: Callable[[int | None], Any]) -> None:
    """Print a rich table to stdout, built for the terminal's width (``None``: not a terminal,
    never wrapped); colours on a terminal only, never with NO_COLOR."""
    from rich.console import Console

    terminal = sys.stdout.isatty()
    console = Console(
        highlight=False,
        width=None if terminal else 10**6,
        no_color=not terminal or bool(os.environ.get("NO_COLOR")),
    )
    if terminal:
        console.print(build(console.width), crop=False)
        return
    with console.capture() as captured:  # piped: no padding after the last column
        console.print(build(None), crop=False)
    sys.stdout.write("".join(line.rstrip() + "\n" for line in captured.get().splitlines()))


@contextlib.contextmanager
def progress_bar(quiet: bool, clock: Callable[[], float] | None = None) -> Any:
    """A rich progress bar on stderr for long work (over 0.5 s), only when stderr is a terminal.

    With a known size (``.npy``, Parquet metadata): percent, rows done of the total and a
    labelled ETA; otherwise rows done and the time taken.
    """
    if quiet or not sys.stderr.isatty():
        yield None
        return
    import time

    clock = clock or time.monotonic
    start = clock()
    bar: Any = None
    task: Any = None

    def update(done: int, total: int | None, unit: str = "rows") -> None:
        nonlocal bar, task
        if bar is None:
            if clock() - start <= 0.5:  # only for long work
                return
            bar, task = _start_bar(total)
        if total:
            detail = f"{100 * done / total:3.0f}%  {done:,}/{total:,} {unit}"
        else:
            detail = f"{done:,} {unit}"
        bar.update(task, completed=done, total=total, detail=detail)

    try:
        yield update
    finally:
        if bar is not None:
            bar.stop()


def _start_bar(total: int | None) -> tuple[Any, Any]:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    timing = (
        [TextColumn("ETA"), TimeRemainingColumn()]
        if total
        else [TextColumn("elapsed"), TimeElapsedColumn()]
    )
    bar = Progress(
        TextColumn("evaluating"),
        BarColumn(),
        TextColumn("{task.fields[detail]}"),
        *timing,
        console=Console(stderr=True),
        transient=True,
    )
    task = bar.add_task("rows", total=total, detail="")
    bar.start()
    return bar, task


def keep_freed_memory() -> None:
    """Ask glibc's malloc to keep freed blocks for reuse instead of returning them to the
    system: every chunk allocates its temporaries anew (a few MiB), and memory handed back
    and taken again costs a page fault per 4 KiB (measured: two 1 MiB temporaries took
    1.6 ms instead of 0.12 ms). Process-wide, so the command does it, not the library; a
    no-op where there is no glibc."""
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (AttributeError, OSError):
        return
    m_trim_threshold, m_mmap_threshold = -1, -3
    mallopt(m_mmap_threshold, 64 << 20)  # blocks below 64 MiB come from the heap...
    mallopt(m_trim_threshold, 256 << 20)  # ...which keeps up to 256 MiB freed for reuse
