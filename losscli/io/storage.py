"""Inputs on object storage and other filesystems, named by URI: ``s3://``, ``gs://``,
``abfs://``, ``hdfs://``, ``file://``, through pyarrow's filesystems.

Credentials and endpoints come from each store's standard environment (for S3:
``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_ENDPOINT_URL``, ``AWS_REGION``); a URI's
user part (``s3://key:secret@bucket/...``) is never echoed (``s3://***@bucket/...``); over
http(s) it is sent as basic authentication. Every remote call has a connect timeout, so an
unreachable endpoint is an error, not a hang.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable
from typing import Any

from losscli.errors import InputError, shorten
from losscli.text import redact as redact_text
from losscli.text import without_user

#: Schemes read through pyarrow's filesystems.
SCHEMES = ("s3", "gs", "gcs", "abfs", "abfss", "hdfs", "viewfs", "file")
#: Seconds to wait for a connection, and for one request, before an error.
STORAGE_CONNECT_SECONDS = 5.0
REQUEST_SECONDS = 60.0


def is_uri(source: str) -> bool:
    scheme, sep, _ = source.partition("://")
    return bool(sep) and scheme.lower() in (*SCHEMES, "http", "https")


def public(uri: str) -> str:
    """The URI as messages show it: its user part, which may hold a secret, as ``***``."""
    return redact_text(uri)


def location(uri: str) -> str:
    """What a URI names, its user part aside: for telling whether two URIs overlap."""
    return without_user(uri)


def is_glob(source: str) -> bool:
    return any(c in source for c in "*?[")


@functools.lru_cache(maxsize=1)
def _s3() -> Any:
    from pyarrow import fs

    return fs.S3FileSystem(
        endpoint_override=os.environ.get("AWS_ENDPOINT_URL") or None,
        region=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
        connect_timeout=STORAGE_CONNECT_SECONDS,
        request_timeout=REQUEST_SECONDS,
        retry_strategy=fs.AwsStandardS3RetryStrategy(max_attempts=2),
    )


def resolve(uri: str) -> tuple[Any, str]:
    """The filesystem of a URI and the path on it."""
    from pyarrow import fs

    scheme, _, rest = uri.partition("://")
    scheme = scheme.lower()
    if scheme in ("http", "https"):
        return fs.LocalFileSystem(), _local_copy(uri)
    if scheme == "s3":
        return _s3(), re.sub(r"^[^/@]*@", "", rest).rstrip("/")
    try:
        filesystem, path = fs.FileSystem.from_uri(uri)
    except (OSError, ValueError, ImportError) as exc:
        raise InputError(f"{public(uri)}: cannot reach its filesystem ({_reason(exc)})") from None
    return filesystem, path.rstrip("/")


#: http(s) files downloaded in this run: URI -> the local copy.
_DOWNLOADS: dict[str, str] = {}
#: A whole http(s) download's deadline in seconds, and the most bytes it may spool to disk:
#: defaults of ``LOSSCLI_HTTP_TIMEOUT`` and ``LOSSCLI_HTTP_MAX_BYTES``.
HTTP_SECONDS = 600.0
HTTP_MAX_BYTES = 10 * 2**30


def env_limit(name: str, default: float) -> float:
    """A positive number from the environment variable ``name``, or ``default`` when unset."""
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        number = float(text)
    except ValueError:
        number = float("nan")
    if not number > 0 or number == float("inf"):
        raise InputError(f"{name} must be a positive number, not {text!r}")
    return number


def _local_copy(uri: str) -> str:
    """An http(s) file (pyarrow has no HTTP filesystem) copied to a temporary file as it
    arrives, in bounded memory, once per run; removed when losscli exits.

    The whole download has a deadline (``LOSSCLI_HTTP_TIMEOUT`` seconds) and a size cap
    (``LOSSCLI_HTTP_MAX_BYTES``), and must be as long as its ``Content-Length`` says: a server
    that trickles, never ends or lies is an error, and the partial copy is removed at once.
    """
    import tempfile
    from pathlib import PurePosixPath
    from urllib.parse import urlsplit

    if uri in _DOWNLOADS:
        return _DOWNLOADS[uri]
    seconds = env_limit("LOSSCLI_HTTP_TIMEOUT", HTTP_SECONDS)
    most = int(env_limit("LOSSCLI_HTTP_MAX_BYTES", HTTP_MAX_BYTES))
    try:
        suffix = "".join(PurePosixPath(urlsplit(uri).path).suffixes)
    except ValueError as exc:  # an unclosed [ of an IPv6 address
        raise InputError(f"{public(uri)}: not a valid URL ({exc})") from None
    fd, name = tempfile.mkstemp(prefix="losscli-download-", suffix=suffix)
    try:
        with os.fdopen(fd, "wb") as out:
            _download(uri, out, seconds, most)
    except BaseException:
        _remove(name)
        raise
    import atexit

    atexit.register(_remove, name)
    _DOWNLOADS[uri] = name
    return name


def _request(uri: str) -> Any:
    """An http(s) request; a user part (``https://user:password@host/...``) becomes basic
    authentication, as curl sends it."""
    import base64
    import urllib.request
    from urllib.parse import unquote, urlsplit

    parts = urlsplit(uri)
    if parts.username is None:
        return urllib.request.Request(uri)
    host = parts.netloc.rpartition("@")[2]
    user = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
    request = urllib.request.Request(parts._replace(netloc=host).geturl())
    request.add_header("Authorization", "Basic " + base64.b64encode(user.encode()).decode())
    return request


def _download(uri: str, out: Any, seconds: float, most: int) -> None:
    """``uri``'s body written to ``out``, within ``seconds`` and ``most`` bytes."""
    import http.client
    import urllib.error
    import urllib.request

    with _Deadline(seconds) as deadline:
        opener = urllib.request.build_opener(*deadline.handlers(), _same_origin_auth())
        try:
            timeout = min(STORAGE_CONNECT_SECONDS, seconds)
            with opener.open(_request(uri), timeout=timeout) as response:
                declared = getattr(response, "length", None)
                raw = response.headers.get("Content-Length")
                if raw is not None and not raw.strip().isdigit():  # http.client ignores it
                    raise InputError(
                        f"{public(uri)}: its Content-Length, {shorten(raw)!r}, is not a size"
                    )
                if declared is not None and declared > most:
                    raise InputError(
                        f"{public(uri)}: its Content-Length, {declared:,} bytes, is more than "
                        f"LOSSCLI_HTTP_MAX_BYTES ({most:,}); raise it to read this file"
                    )
                received = 0
                while block := response.read1(1 << 20):
                    received += len(block)
                    if received > most:
                        raise InputError(
                            f"{public(uri)}: more than LOSSCLI_HTTP_MAX_BYTES ({most:,} bytes) "
                            "downloaded; raise it to read this file"
                        )
                    out.write(block)
                if deadline.expired:
                    raise TimeoutError
                if declared is not None:
                    _check_length(uri, response, received, declared)
        except InputError:
            raise
        except urllib.error.HTTPError as exc:
            answer = f"{exc.code} {exc.reason}"
            raise InputError(f"{public(uri)}: the server answered {answer}") from None
        except (OSError, ValueError, http.client.HTTPException) as exc:
            if deadline.expired:
                raise InputError(
                    f"{public(uri)}: not downloaded within LOSSCLI_HTTP_TIMEOUT ({seconds:g} s); "
                    "raise it for a slow server"
                ) from None
            reason = redact_text(str(getattr(exc, "reason", exc)))
            raise InputError(f"{public(uri)}: cannot download it ({reason})") from None


def _check_length(uri: str, response: Any, received: int, declared: int) -> None:
    """A body shorter or longer than its ``Content-Length`` is an error: the copy would be a
    different file."""
    if received < declared:
        raise InputError(
            f"{public(uri)}: the connection ended after {received:,} of the {declared:,} bytes "
            "its Content-Length announced"
        )
    try:
        more = response.fp is not None and response.fp.read1(1)
    except TimeoutError:  # a server that keeps the connection open sends nothing more
        more = b""
    if more:
        raise InputError(
            f"{public(uri)}: the server sent more than the {declared:,} bytes its "
            "Content-Length announced"
        )


class _Deadline:
    """Shuts down every socket of a download when its time is up, wherever the download
    waits (connecting, reading headers or a body that trickles in byte by byte)."""

    def __init__(self, seconds: float) -> None:
        import threading

        self.expired = False
        self._sockets: list[Any] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)

    def __enter__(self) -> _Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()
        self._timer.join()

    def _expire(self) -> None:
        import contextlib
        import socket

        with self._lock:
            self.expired = True
            for sock in self._sockets:
                with contextlib.suppress(OSError):  # already closed
                    sock.shutdown(socket.SHUT_RDWR)

    def _watch(self, sock: Any) -> None:
        with self._lock:
            self._sockets.append(sock)
            if self.expired:
                raise TimeoutError

    def handlers(self) -> list[Any]:
        """urllib handlers whose connections register their sockets with this deadline."""
        import http.client
        import urllib.request

        watch = self._watch

        class Connection(http.client.HTTPConnection):
            def connect(self) -> None:
                super().connect()
                watch(self.sock)

        class SecureConnection(http.client.HTTPSConnection):
            def connect(self) -> None:
                super().connect()
                watch(self.sock)

        class Handler(urllib.request.HTTPHandler):
            def http_open(self, req: Any) -> Any:
                return self.do_open(Connection, req)

        class SecureHandler(urllib.request.HTTPSHandler):
            def https_open(self, req: Any) -> Any:
                return self.do_open(SecureConnection, req)

        return [Handler(), SecureHandler()]


def _remove(name: str) -> None:
    if os.path.exists(name):
        os.unlink(name)


def _reason(exc: BaseException) -> str:
    """A storage error's first line, credentials aside (pyarrow's messages hold none)."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def failure(uri: str, exc: BaseException) -> InputError:
    """A storage error as one line naming the URI and the cause."""
    reason = _reason(exc)
    if "NETWORK_CONNECTION" in reason or "Could not connect" in reason:
        reason = "cannot connect to the endpoint; check AWS_ENDPOINT_URL and the network"
    elif "ACCESS_DENIED" in reason or "AccessDenied" in reason or "403" in reason:
        reason = "access denied; check the credentials in the environment"
    return InputError(f"{public(uri)}: {reason}")


def kind(uri: str) -> str | None:
    """``"dir"``, ``"file"`` or None when nothing is there (a bucket that does not exist
    included)."""
    from pyarrow import fs

    _, path = resolve(uri)
    info = _on(uri, lambda filesystem, path: filesystem.get_file_info(path))
    if info.type == fs.FileType.Directory:
        return "dir"
    if info.type == fs.FileType.File:
        return "file"
    bucket = path.split("/", 1)[0]
    buckets = uri.partition("://")[0].lower() in ("s3", "gs", "gcs")
    if buckets and "/" in path:
        found = _on(uri, lambda filesystem, _: filesystem.get_file_info(bucket))
        if found.type == fs.FileType.NotFound:
            raise InputError(f"{public(uri)}: the bucket {bucket!r} does not exist")
    return None


def _on(uri: str, call: Callable[[Any, str], Any]) -> Any:
    """``call(filesystem, path)`` for a URI, its errors as one line naming the URI."""
    filesystem, path = resolve(uri)
    try:
        return call(filesystem, path)
    except (OSError, ValueError) as exc:
        raise failure(uri, exc) from None


def size(uri: str) -> int:
    return int(_on(uri, lambda filesystem, path: filesystem.get_file_info(path).size) or 0)


def open_input(uri: str) -> Any:
    """A random-access file (seek, read, readinto)."""
    return _on(uri, lambda filesystem, path: filesystem.open_input_file(path))


def open_stream(uri: str) -> Any:
    """A sequential stream, read as it arrives."""
    return _on(uri, lambda filesystem, path: filesystem.open_input_stream(path))


def _prefix(uri: str) -> str:
    """The URI up to the path resolve() gives: ``s3://bucket/a/b`` -> ``s3://``."""
    scheme, _, _ = uri.partition("://")
    return f"{scheme}://"


def list_files(uri: str, hidden: bool = False) -> list[tuple[str, str]]:
    """The files under a directory URI in name order, as (URI, path relative to the
    directory), for a dataset being written; hidden and marker files (``.crc``, ``_SUCCESS``)
    are skipped as Spark and pyarrow skip them, unless ``hidden``. (A dataset being read is
    listed by ``readers.parquet.dataset_files``.)"""
    from pyarrow import fs

    root = uri.rstrip("/")
    filesystem, base = resolve(root)
    try:
        infos = filesystem.get_file_info(fs.FileSelector(base, recursive=True))
    except FileNotFoundError:
        raise InputError(f"{public(root)}: no such directory") from None
    except (OSError, ValueError) as exc:
        raise failure(root, exc) from None
    found = []
    for info in infos:
        relative = info.path[len(base) :].lstrip("/")
        skipped = not hidden and any(p.startswith((".", "_")) for p in relative.split("/"))
        if info.type == fs.FileType.File and not skipped:
            found.append((_prefix(uri) + info.path, relative))
    return sorted(found)


def _origin(url: str) -> tuple[str, str]:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return parts.scheme, parts.netloc.rpartition("@")[2]


def _same_origin_auth() -> Any:
    """A redirect handler that sends the user part's credentials (``Authorization``) only to
    the origin they were given for: a redirect to another scheme, host or port goes without."""
    import urllib.request

    class SameOriginAuth(urllib.request.HTTPRedirectHandler):
        def redirect_request(
            self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str
        ) -> Any:
            new = super().redirect_request(req, fp, code, msg, headers, newurl)
            if new is not None and _origin(newurl) != _origin(req.full_url):
                new.remove_header("Authorization")
            return new

    return SameOriginAuth()
