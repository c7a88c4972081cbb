"""Inputs on object storage and other filesystems, named by URI: ``s3://``, ``gs://``,
``abfs://``, ``hdfs://``, ``file://``, through pyarrow's filesystems.

Credentials and endpoints come from each store's standard environment (for S3:
``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_ENDPOINT_URL``, ``AWS_REGION``); a URI's
user part (``s3://key:secret@bucket/...``) is never echoed (``s3://***@bucket/...``); over
http(s) it is sent as basic authentication. Every remote call has a connect timeout, so an
unreachable endpoint is an error, not a hang.
"""

from __future__ import annotations

import fnmatch
import functools
import os
import re
from collections.abc import Callable
from typing import Any

from losscli.errors import InputError
from losscli.text import redact as redact_text

#: Schemes read through pyarrow's filesystems.
SCHEMES = ("s3", "gs", "gcs", "abfs", "abfss", "hdfs", "viewfs", "file")
#: Seconds to wait for a connection, and for one request, before an error.
CONNECT_SECONDS = 5.0
REQUEST_SECONDS = 60.0


def is_uri(source: str) -> bool:
    scheme, sep, _ = source.partition("://")
    return bool(sep) and scheme.lower() in (*SCHEMES, "http", "https")


def public(uri: str) -> str:
    """The URI as messages show it: its user part, which may hold a secret, as ``***``."""
    return redact_text(uri)


def location(uri: str) -> str:
    """What a URI names, its user part aside: for telling whether two URIs overlap."""
    return re.sub(r"^([A-Za-z][\w+.-]*://)[^/?#]*@", r"\1", uri)


def is_glob(source: str) -> bool:
    return any(c in source for c in "*?[")


@functools.lru_cache(maxsize=1)
def _s3() -> Any:
    from pyarrow import fs

    return fs.S3FileSystem(
        endpoint_override=os.environ.get("AWS_ENDPOINT_URL") or None,
        region=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
        connect_timeout=CONNECT_SECONDS,
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


def _local_copy(uri: str) -> str:
    """An http(s) file (pyarrow has no HTTP filesystem) copied to a temporary file as it
    arrives, in bounded memory, once per run; removed when losscli exits."""
    import atexit
    import shutil
    import tempfile
    import urllib.error
    import urllib.request
    from http.client import HTTPException
    from pathlib import PurePosixPath
    from urllib.parse import urlsplit

    if uri in _DOWNLOADS:
        return _DOWNLOADS[uri]
    try:
        suffix = "".join(PurePosixPath(urlsplit(uri).path).suffixes)
    except ValueError as exc:  # an unclosed [ of an IPv6 address
        raise InputError(f"{public(uri)}: not a valid URL ({exc})") from None
    fd, name = tempfile.mkstemp(prefix="losscli-download-", suffix=suffix)
    atexit.register(_remove, name)
    try:
        with (
            os.fdopen(fd, "wb") as out,
            urllib.request.urlopen(_request(uri), timeout=CONNECT_SECONDS) as response,
        ):
            shutil.copyfileobj(response, out, 1 << 20)
    except urllib.error.HTTPError as exc:
        raise InputError(f"{public(uri)}: the server answered {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, TimeoutError, OSError, ValueError, HTTPException) as exc:
        # HTTPException: a URL http.client refuses (a port that is not a number), a cut answer
        reason = redact_text(str(getattr(exc, "reason", exc)))
        raise InputError(f"{public(uri)}: cannot download it ({reason})") from None
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


def dataset_files(uri: str, hidden: bool = False) -> list[tuple[str, str]]:
    """The files of a dataset (a directory, or a glob over file names) in name order, as
    (URI, path relative to the dataset's root); hidden and marker files (``.crc``,
    ``_SUCCESS``) are skipped as Spark and pyarrow skip them, unless ``hidden``."""
    from pyarrow import fs

    pattern = None
    root = uri.rstrip("/")
    if is_glob(uri):
        root, _, pattern = uri.rstrip("/").rpartition("/")
    filesystem, base = resolve(root)
    try:
        infos = filesystem.get_file_info(fs.FileSelector(base, recursive=pattern is None))
    except FileNotFoundError:
        raise InputError(f"{public(root)}: no such directory") from None
    except (OSError, ValueError) as exc:
        raise failure(root, exc) from None
    found = []
    for info in infos:
        relative = info.path[len(base) :].lstrip("/")
        parts = relative.split("/")
        skipped = not hidden and any(p.startswith((".", "_")) for p in parts)
        if info.type != fs.FileType.File or skipped:
            continue
        if pattern is not None and not fnmatch.fnmatchcase(relative, pattern):
            continue
        found.append((_prefix(uri) + info.path, relative))
    return sorted(found)
