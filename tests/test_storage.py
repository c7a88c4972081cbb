"""Inputs on object storage, against a real S3 endpoint: moto's server, started on 127.0.0.1 by
the fixture and stopped after. Expected values come from numpy on the same data."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import free_port, stop, wait_for_port
from conftest import run_cli as invoke

from losscli.io import storage

Y = np.array([0.5, 1.0, 2.0, 4.0, 3.5, 0.0])
P = np.array([1.0, 1.0, 2.5, 3.0, 3.5, 1.0])


def _put(s3, key: str, data: bytes) -> None:
    with s3.open_output_stream(key) as out:
        out.write(data)


@pytest.fixture(scope="module")
def bucket(tmp_path_factory) -> Iterator[str]:
    from pyarrow import fs

    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with open(log, "wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    endpoint = f"http://127.0.0.1:{port}"
    saved = {
        k: os.environ.get(k)
        for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL", "AWS_REGION")
    }
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_ENDPOINT_URL=endpoint,
        AWS_REGION="us-east-1",
    )
    storage._s3.cache_clear()
    try:
        wait_for_port(port, server, "moto's S3 server")
        s3 = fs.S3FileSystem(
            endpoint_override=endpoint, region="us-east-1", allow_bucket_creation=True
        )
        s3.create_dir("preds")
        table = pa.table({"y": Y, "p": P})
        pq.write_table(table, "preds/one.parquet", filesystem=s3)
        for day, rows in (("2026-11-01", slice(0, 4)), ("2026-11-02", slice(4, 6))):
            part = table.slice(rows.start, rows.stop - rows.start)
            pq.write_table(part, f"preds/by_day/day={day}/w=2/part-0.parquet", filesystem=s3)
        _put(s3, "preds/by_day/_SUCCESS", b"")
        csv = "y,p\n" + "".join(
            f"{a!r},{b!r}\n" for a, b in zip(Y.tolist(), P.tolist(), strict=True)
        )
        _put(s3, "preds/table.csv", csv.encode())
        for name, array in (("y.npy", Y), ("p.npy", P)):
            buffer = io.BytesIO()
            np.save(buffer, array)
            _put(s3, f"preds/{name}", buffer.getvalue())
        buffer = io.BytesIO()
        np.savez(buffer, y=Y, p=P)
        _put(s3, "preds/both.npz", buffer.getvalue())
        yield "s3://preds"
    finally:
        stop([server])
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        storage._s3.cache_clear()


MSE = float(np.mean((Y - P) ** 2))


def value(*args: str) -> float:
    return float(invoke("eval", "mse", *args, "-f", "value", code=0).stdout)


def test_parquet_csv_npy_and_npz_on_s3(bucket):
    table = ("--true-col", "y", "--pred-col", "p")
    assert value("--data", f"{bucket}/one.parquet", *table) == MSE
    assert value("--data", f"{bucket}/table.csv", *table) == MSE
    assert value("--y-true", f"{bucket}/y.npy", "--y-pred", f"{bucket}/p.npy") == MSE
    assert value("--y-true", f"{bucket}/both.npz:y", "--y-pred", f"{bucket}/both.npz:p") == MSE


def test_a_hive_dataset_and_a_glob(bucket):
    table = ("--true-col", "y", "--pred-col", "p")
    assert value("--data", f"{bucket}/by_day", *table) == MSE
    assert value("--data", f"{bucket}/by_day/", *table) == MSE
    assert value("--data", f"{bucket}/*.parquet", *table) == MSE
    # The partition column w=2 weighs every row.
    weighted = value(
        "--data", f"{bucket}/by_day", *table, "--weight-col", "w", "--reduction", "sum"
    )
    assert weighted == pytest.approx(float(np.sum(2 * (Y - P) ** 2)), rel=1e-15)


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        (
            "s3://nobucket/one.parquet",
            "s3://nobucket/one.parquet: the bucket 'nobucket' does not exist",
        ),
        ("{bucket}/missing.parquet", "{bucket}/missing.parquet: no such file"),
        (
            "s3://AKIDEXAMPLE:wJalrXUtnFEMI@preds/missing.parquet",
            "s3://***@preds/missing.parquet: no such file",
        ),
        ("{bucket}/nothing-*.parquet", "{bucket}/nothing-*.parquet: no file matches the pattern"),
    ],
    ids=["no-bucket", "no-key", "credentials-in-uri", "empty-glob"],
)
def test_storage_errors_name_the_uri_and_never_a_secret(bucket, uri, message):
    uri, message = uri.format(bucket=bucket), message.format(bucket=bucket)
    result = invoke("eval", "mse", "--data", uri, "--true-col", "y", "--pred-col", "p", code=2)
    assert result.stderr == f"Error: {message}\n"
    assert "wJalrXUtnFEMI" not in result.stderr


SECRET = "SuperSecret123"
CREDENTIALS = f"s3://AKIAUSER:{SECRET}@preds"


def test_credentials_in_a_uri_reach_no_output(bucket, tmp_path):
    """The user part of a URI is ``***`` in every output: error lines, warnings, JSON, JUnit
    (of ``check``), plots and the ``source`` column of per-sample files."""
    from pyarrow import fs

    s3 = fs.S3FileSystem(endpoint_override=os.environ["AWS_ENDPOINT_URL"], region="us-east-1")
    _put(s3, "preds/bad.npz", b"not a zip file")
    _put(s3, "preds/nosuffix", b"1\n2\n")
    arrays = ("--y-true", f"{CREDENTIALS}/y.npy", "--y-pred", f"{CREDENTIALS}/p.npy")
    result = invoke("eval", "mse", "--y-true", f"{CREDENTIALS}/bad.npz", *arrays[2:], code=2)
    assert result.stderr.startswith("Error: s3://***@preds/bad.npz: not a readable .npz file")
    result = invoke("eval", "mse", "--y-true", f"{CREDENTIALS}/nosuffix", *arrays[2:], code=2)
    assert result.stderr.startswith("Error: s3://***@preds/nosuffix: cannot tell the format")
    for option, suffixes in (("--output", ".npy, .csv, .parquet"), ("--plot", ".png, .svg, .html")):
        target = f"s3://K:{SECRET}@preds/x.txt"
        result = invoke("eval", "mse", *arrays, "--histogram", option, target, code=2)
        assert result.stderr == (
            f"Error: {option} s3://***@preds/x.txt: unknown suffix; use {suffixes}\n"
        )
    # A run that works: JSON inputs, the same-data warning, a plot, a dataset's source column.
    same = ("--y-true", f"{CREDENTIALS}/y.npy", "--y-pred", f"{CREDENTIALS}/y.npy")
    result = invoke("eval", "mse", *same, "-f", "json", code=0)
    assert json.loads(result.stdout)["inputs"]["y_pred"] == "s3://***@preds/y.npy"
    assert result.stderr == (
        "Warning: y_true and y_pred are the same data (s3://***@preds/y.npy): every loss "
        "compares it with itself\n"
    )
    plot = tmp_path / "plot.html"
    invoke("eval", "mse", *arrays, "--histogram", "--plot", plot, code=0)
    invoke("eval", "mse", *arrays, "--output", f"{CREDENTIALS}/secret-out/", code=0)
    part = pq.read_table("preds/secret-out/part-00000.parquet", filesystem=s3)
    assert set(part["source"].to_pylist()) == {"s3://***@preds/p.npy"}
    assert SECRET not in plot.read_text()
    # Credentials or not, an output inside an input's bucket path overlaps it.
    result = invoke("eval", "mse", *arrays, "--output", "s3://preds/", code=2)
    assert result.stderr.startswith(
        "Error: --output s3://preds/ overlaps the input s3://***@preds/y.npy"
    )
    # check: the error in the JUnit report, the JSON document and on stderr.
    config = tmp_path / "losscli.toml"
    config.write_text(
        f'[inputs]\ny_true = "{CREDENTIALS}/bad.npz"\ny_pred = "{CREDENTIALS}/p.npy"\n'
        '[[checks]]\nloss = "mse"\n'
    )
    report = tmp_path / "report.xml"
    result = invoke("check", config, "--junit-xml", report, "-f", "json", code=2)
    for text in (report.read_text(), result.stdout, result.stderr):
        assert SECRET not in text and "s3://***@preds/bad.npz" in text
    assert json.loads(result.stdout)["checks"][0]["error"].startswith(
        "s3://***@preds/bad.npz: not a readable .npz file"
    )
    # The library's errors, as Python raises them.
    import losscli
    from losscli.errors import InputError

    for name in ("bad.npz", "nosuffix"):
        with pytest.raises(InputError, match=r"^s3://\*\*\*@preds/") as raised:
            losscli.evaluate("mse", y_true=f"{CREDENTIALS}/{name}", y_pred=f"{CREDENTIALS}/p.npy")
        assert SECRET not in str(raised.value)


def test_an_unreachable_endpoint_is_an_error_in_bounded_time(bucket, monkeypatch, tmp_path):
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    storage._s3.cache_clear()
    try:
        start = time.monotonic()
        result = invoke(
            "eval",
            "mse",
            "--data",
            f"{bucket}/one.parquet",
            "--true-col",
            "y",
            "--pred-col",
            "p",
            code=2,
        )
        assert time.monotonic() - start < 30
    finally:
        storage._s3.cache_clear()
    assert result.stderr == (
        f"Error: {bucket}/one.parquet: cannot connect to the endpoint; check AWS_ENDPOINT_URL "
        "and the network\n"
    )


def test_a_dataset_output_on_object_storage(bucket, tmp_path):
    def output(target: str, *extra: str, code: int):
        arrays = ("--y-true", f"{bucket}/y.npy", "--y-pred", f"{bucket}/p.npy")
        return invoke("eval", "mse", *arrays, "--output", target, *extra, "-f", "value", code=code)

    assert output(f"{bucket}/out.npy", code=2).stderr == (
        f"Error: --output {bucket}/out.npy: a single file is not written to object storage; end "
        "the URI with / for a Parquet dataset, or write a local file\n"
    )
    assert float(output(f"{bucket}/out/", code=0).stdout) == MSE
    from pyarrow import fs

    s3 = fs.S3FileSystem(endpoint_override=os.environ["AWS_ENDPOINT_URL"], region="us-east-1")
    part = pq.read_table("preds/out/part-00000.parquet", filesystem=s3)
    np.testing.assert_array_equal(part["mse"].to_numpy(), (Y - P) ** 2)
    assert set(part["source"].to_pylist()) == {f"{bucket}/p.npy"}
    assert output(f"{bucket}/out/", code=2).stderr == (
        f"Error: --output {bucket}/out/ already holds files; pass --force to replace its part "
        "files\n"
    )
    output(f"{bucket}/out/", "--force", code=0)
    assert output("s3://nobucket/out/", code=2).stderr == (
        "Error: s3://nobucket/out/: the bucket 'nobucket' does not exist\n"
    )
    assert output(f"{bucket}/", code=2).stderr.startswith(f"Error: --output {bucket}/ overlaps")
    # The dataset of a hive-partitioned input: one part per file.
    table = ("--true-col", "y", "--pred-col", "p")
    invoke("eval", "mse", "--data", f"{bucket}/by_day", *table, "--output", f"{bucket}/o2/",
           code=0)  # fmt: skip
    parts = pq.read_table("preds/o2", filesystem=s3)
    np.testing.assert_array_equal(parts["mse"].to_numpy(), (Y - P) ** 2)


def test_a_failed_dataset_output_leaves_the_earlier_one_on_object_storage(bucket):
    from pyarrow import fs

    s3 = fs.S3FileSystem(endpoint_override=os.environ["AWS_ENDPOINT_URL"], region="us-east-1")
    table = pa.table({"y": Y, "p": P})
    pq.write_table(table.slice(0, 4), "preds/two/a.parquet", filesystem=s3)
    pq.write_table(table.slice(4), "preds/two/b.parquet", filesystem=s3)
    args = ("--data", f"{bucket}/two", "--true-col", "y", "--pred-col", "p",
            "--output", f"{bucket}/staged/", "-f", "value")  # fmt: skip
    invoke("eval", "mse", *args, code=0)

    def listing() -> dict[str, bytes]:
        infos = s3.get_file_info(fs.FileSelector("preds/staged", recursive=True))
        return {
            i.path: s3.open_input_stream(i.path).read() for i in infos if i.type == fs.FileType.File
        }

    before = listing()
    assert sorted(before) == ["preds/staged/part-00000.parquet", "preds/staged/part-00001.parquet"]
    bad = table.slice(4).set_column(0, "y", pa.array([np.nan] * (len(Y) - 4)))
    pq.write_table(bad, "preds/two/b.parquet", filesystem=s3)
    result = invoke("eval", "mae", *args, "--force", code=2)
    assert result.stderr.startswith(f"Error: {bucket}/two/b.parquet: y_true (")
    assert listing() == before


@pytest.mark.slow
def test_access_denied_is_one_line_naming_the_uri(tmp_path):
    """A second moto server that checks credentials (IAM): a user without any policy."""
    import boto3

    port = free_port()
    env = dict(os.environ, INITIAL_NO_AUTH_ACTION_COUNT="4")  # the set-up calls below
    with open(tmp_path / "moto.log", "wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        wait_for_port(port, server, "moto's S3 server")
        setup = {
            "endpoint_url": endpoint,
            "region_name": "us-east-1",
            "aws_access_key_id": "testing",
            "aws_secret_access_key": "testing",
        }
        s3 = boto3.client("s3", **setup)
        s3.create_bucket(Bucket="locked")
        s3.put_object(Bucket="locked", Key="t.csv", Body=b"y,p\n1,2\n")
        iam = boto3.client("iam", **setup)
        iam.create_user(UserName="nobody")
        key = iam.create_access_key(UserName="nobody")["AccessKey"]
        env = dict(
            os.environ,
            AWS_ENDPOINT_URL=endpoint,
            AWS_ACCESS_KEY_ID=key["AccessKeyId"],
            AWS_SECRET_ACCESS_KEY=key["SecretAccessKey"],
            AWS_REGION="us-east-1",
        )
        for uri in ("s3://locked/t.csv", "s3://locked/"):
            argv = ["eval", "mse", "--data", uri, "--true-col", "y", "--pred-col", "p"]
            done = subprocess.run(
                [sys.executable, "-m", "losscli", *argv], env=env, capture_output=True, text=True
            )
            assert (done.returncode, done.stdout) == (2, "")
            assert done.stderr == (
                f"Error: {uri}: access denied; check the credentials in the environment\n"
            )
            assert key["SecretAccessKey"] not in done.stderr
    finally:
        stop([server])


def test_a_local_hive_dataset_has_its_partition_columns(tmp_path):
    table = pa.table({"y": Y, "p": P})
    for day, rows in (("a", slice(0, 3)), ("b", slice(3, 6))):
        target = Path(tmp_path / f"ds/w={1 if day == 'a' else 3}/part.parquet")
        target.parent.mkdir(parents=True)
        pq.write_table(table.slice(rows.start, rows.stop - rows.start), target)
    got = value(
        "--data",
        str(tmp_path / "ds"),
        "--true-col",
        "y",
        "--pred-col",
        "p",
        "--weight-col",
        "w",
        "--reduction",
        "sum",
    )
    w = np.array([1, 1, 1, 3, 3, 3])
    assert got == pytest.approx(float(np.sum(w * (Y - P) ** 2)), rel=1e-15)


# --- single files over http(s): a real HTTP server on 127.0.0.1 --------------------------


#: The Authorization header of every request the web fixture served.
AUTHORIZATIONS: list[str | None] = []


@pytest.fixture(scope="module")
def web(tmp_path_factory) -> Iterator[str]:
    import functools
    import http.server

    root = tmp_path_factory.mktemp("web")
    pq.write_table(pa.table({"y": Y, "p": P}), root / "one.parquet")
    csv = "y,p\n" + "".join(f"{a!r},{b!r}\n" for a, b in zip(Y.tolist(), P.tolist(), strict=True))
    (root / "table.csv").write_text(csv)
    np.save(root / "y.npy", Y)
    np.save(root / "p.npy", P)

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            AUTHORIZATIONS.append(self.headers.get("Authorization"))
            super().do_GET()

    handler = functools.partial(Quiet, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    yield from _serving(server)


def _serving(server: Any) -> Any:
    """Serve on a thread, yield the server's http address, then shut it down."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_single_files_over_http(web):
    table = ("--true-col", "y", "--pred-col", "p")
    assert value("--data", f"{web}/one.parquet", *table) == MSE
    assert value("--data", f"{web}/table.csv", *table) == MSE
    assert value("--y-true", f"{web}/y.npy", "--y-pred", f"{web}/p.npy") == MSE


def test_a_user_part_is_basic_authentication_and_never_printed(web):
    import base64

    authenticated = web.replace("http://", "http://user:pass%40word@")
    AUTHORIZATIONS.clear()
    assert value("--y-true", f"{authenticated}/y.npy", "--y-pred", f"{web}/p.npy") == MSE
    # p.npy may come from this process's earlier download: no request, or one without.
    assert AUTHORIZATIONS[0] == "Basic " + base64.b64encode(b"user:pass@word").decode()
    assert set(AUTHORIZATIONS[1:]) <= {None}
    shown = web.replace("http://", "http://***@")
    result = invoke("eval", "mse", "--y-true", f"{authenticated}/missing.npy",
                    "--y-pred", f"{web}/p.npy", code=2)  # fmt: skip
    assert result.stderr == f"Error: {shown}/missing.npy: the server answered 404 File not found\n"
    # A password that reads as a port: one clean error line, no secret.
    bad = "http://user:SuperSecret123@127.0.0.1:notaport/y.npy"
    result = invoke("eval", "mse", "--y-true", bad, "--y-pred", f"{web}/p.npy", code=2)
    assert result.stderr.startswith("Error: http://***@127.0.0.1:notaport/y.npy: cannot download")
    assert "SuperSecret123" not in result.stderr


def test_credentials_never_follow_a_redirect_to_another_origin(web):
    """A user part is sent to its own host and port only: a server that redirects elsewhere
    does not pass the password on."""
    import http.server

    class Redirect(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(302)
            self.send_header("Location", f"{web}/y.npy")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    for address in _serving(server):
        moved = address.replace("http://", "http://user:s3cret@") + "/moved/y.npy"
        AUTHORIZATIONS.clear()
        assert value("--y-true", moved, "--y-pred", f"{web}/p.npy") == MSE
        assert AUTHORIZATIONS[0] is None  # the other origin's request carried no password


def test_a_presigned_query_string_is_redacted_in_every_output(web):
    """A presigned URL carries its credential in the query string: its values never print."""
    signed = f"{web}/y.npy?X-Amz-Credential=AKIAUSER&X-Amz-Signature=Secret99"
    done = invoke(
        "eval", "mse", "--y-true", signed, "--y-pred", f"{web}/p.npy", "-f", "json", code=0
    )
    assert json.loads(done.stdout)["inputs"]["y_true"] == (
        f"{web}/y.npy?X-Amz-Credential=***&X-Amz-Signature=***"
    )
    missing = signed.replace("y.npy", "missing.npy")
    done = invoke("eval", "mse", "--y-true", missing, "--y-pred", f"{web}/p.npy", code=2)
    assert done.stderr == (
        f"Error: {web}/missing.npy?X-Amz-Credential=***&X-Amz-Signature=***: the server "
        "answered 404 File not found\n"
    )
    assert "Secret99" not in done.stdout + done.stderr


def test_http_errors_name_the_url(web):
    result = invoke(
        "eval", "mse", "--y-true", f"{web}/missing.npy", "--y-pred", f"{web}/p.npy", code=2
    )
    assert result.stderr == f"Error: {web}/missing.npy: the server answered 404 File not found\n"
    closed = f"http://127.0.0.1:{free_port()}/y.npy"
    result = invoke("eval", "mse", "--y-true", closed, "--y-pred", f"{web}/p.npy", code=2)
    assert result.stderr.startswith(f"Error: {closed}: cannot download it (")


@pytest.fixture(scope="module")
def bad_web() -> Iterator[str]:
    """An HTTP server on 127.0.0.1 that misbehaves: /trickle sends one byte of 40 every
    0.5 s, /endless an unannounced body until 30 MB, /short and /long a body shorter and
    longer than their Content-Length, /huge announces a terabyte."""
    import http.server

    body = io.BytesIO()
    np.save(body, P)
    npy = body.getvalue()

    class Bad(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            name = self.path.strip("/").partition(".")[0]
            length = {"trickle": 40, "short": len(npy), "long": 50, "huge": 10**12, "negative": -5}
            length = length.get(name)
            self.send_response(200)
            if length is not None:
                self.send_header("Content-Length", str(length))
            self.send_header("Connection", "close")
            self.end_headers()
            try:
                if name == "trickle":
                    for byte in npy[:40]:
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                        time.sleep(0.5)
                elif name == "endless":
                    for _ in range(30):
                        self.wfile.write(b"x" * 2**20)
                elif name in ("short", "long", "huge", "negative"):
                    self.wfile.write(npy[: len(npy) // 2] if name == "short" else npy)
            except OSError:
                pass  # the client gave up: what the tests expect

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Bad)
    yield from _serving(server)


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("trickle", "not downloaded within LOSSCLI_HTTP_TIMEOUT (2 s); raise it for a slow server"),
        (
            "endless",
            "more than LOSSCLI_HTTP_MAX_BYTES (1,000,000 bytes) downloaded; raise it to read "
            "this file",
        ),
        ("short", "the connection ended after 88 of the 176 bytes its Content-Length announced"),
        ("long", "the server sent more than the 50 bytes its Content-Length announced"),
        ("negative", "its Content-Length, '-5', is not a size"),
        (
            "huge",
            "its Content-Length, 1,000,000,000,000 bytes, is more than LOSSCLI_HTTP_MAX_BYTES "
            "(1,000,000); raise it to read this file",
        ),
    ],
)
def test_a_misbehaving_http_server_is_an_error_in_bounded_time_and_disk(
    bad_web, name, error, tmp_path, monkeypatch
):
    import tempfile

    monkeypatch.setenv("LOSSCLI_HTTP_TIMEOUT", "2")
    monkeypatch.setenv("LOSSCLI_HTTP_MAX_BYTES", "1000000")
    (tmp_path / "spool").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "spool"))
    np.save(tmp_path / "p.npy", P)
    url = f"{bad_web}/{name}.npy"
    start = time.monotonic()
    result = invoke("eval", "mse", "--y-true", url, "--y-pred", tmp_path / "p.npy", code=2)
    assert time.monotonic() - start < 8  # 2 s of deadline; the trickle alone takes 20 s
    assert result.stderr == f"Error: {url}: {error}\n"
    assert list((tmp_path / "spool").iterdir()) == []  # the partial copy is gone at once


def test_http_limits_from_the_environment_must_be_positive_numbers(web, monkeypatch):
    monkeypatch.setenv("LOSSCLI_HTTP_TIMEOUT", "soon")
    fresh = f"{web}/y.npy?not-downloaded-before"
    result = invoke("eval", "mse", "--y-true", fresh, "--y-pred", f"{web}/p.npy", code=2)
    assert result.stderr == "Error: LOSSCLI_HTTP_TIMEOUT must be a positive number, not 'soon'\n"


def test_file_uris_read_local_files_and_datasets(tmp_path):
    pq.write_table(pa.table({"y": Y, "p": P}), tmp_path / "one.parquet")
    (tmp_path / "ds").mkdir()
    for i, rows in enumerate((slice(0, 2), slice(2, 6))):
        part = pa.table({"y": Y[rows], "p": P[rows]})
        pq.write_table(part, tmp_path / "ds" / f"part-{i}.parquet")
    table = ("--true-col", "y", "--pred-col", "p")
    assert value("--data", f"file://{tmp_path}/one.parquet", *table) == MSE
    assert value("--data", f"file://{tmp_path}/ds", *table) == MSE
    missing = f"file://{tmp_path}/none.parquet"
    result = invoke("eval", "mse", "--data", missing, *table, code=2)
    assert result.stderr == f"Error: {missing}: no such file\n"
