"""The server's logs as an operator meets them: JSON lines on stderr with
`--log-format json`, the filter from SHOAL_LOG, failed requests logged with the request
id their response carries, the one-line-per-request log (`--log-requests`) and the audit
log file (`--audit-log`) and webhook (`--audit-webhook`). Runs over plain HTTP only: logging does not depend on the
transport."""

from __future__ import annotations

import http.server
import json
import re
import shutil
import threading
import time
from pathlib import Path

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import start_server

NO_RETRY = Config(retries={"total_max_attempts": 1})
WAIT_S = 10


def move_entries(src: Path, dst: Path) -> None:
    """Moves everything in `src` into `dst` (the drive's folder itself stays open)."""
    dst.mkdir(exist_ok=True)
    for entry in src.iterdir():
        entry.rename(dst / entry.name)


def request_id_of(error: ClientError) -> str:
    return error.response["ResponseMetadata"]["HTTPHeaders"]["x-amz-request-id"]


def json_lines(text: str) -> list[dict]:
    """Every line of `text` as a JSON object; fails naming the first line that is not."""
    events = []
    for line in text.splitlines():
        try:
            event = json.loads(line)
        except json.JSONDecodeError as e:
            raise AssertionError(f"a log line is not JSON ({e}): {line!r}") from None
        assert isinstance(event, dict), line
        events.append(event)
    return events


def wait_for(read, predicate, what: str):
    """Calls `read` until `predicate(value)` holds, at most WAIT_S; returns the value."""
    deadline = time.monotonic() + WAIT_S
    while True:
        value = read()
        if predicate(value):
            return value
        assert time.monotonic() < deadline, f"{what} within {WAIT_S}s; last: {value!r}"
        time.sleep(0.1)


def test_json_log_lines_carry_the_request_id_of_failed_requests(tmp_path):
    """With --log-format json and SHOAL_LOG=debug every stderr line parses as JSON; a
    refused GET (404) is logged at debug and a GET beyond quorum (503) as a warning, each
    with the x-amz-request-id of its response."""
    srv = start_server(tmp_path, "http", ("--log-format", "json"),
                       env_extra={"SHOAL_LOG": "debug"})
    try:
        s3 = srv.client(NO_RETRY)
        s3.create_bucket(Bucket="logs")
        s3.put_object(Bucket="logs", Key="k", Body=b"hello")
        with pytest.raises(ClientError) as missing:
            s3.get_object(Bucket="logs", Key="missing")
        missing_id = request_id_of(missing.value)
        gone = [tmp_path / f"drive{i}" for i in (2, 3, 4)]
        for drive in gone:
            move_entries(drive, drive.with_name(drive.name + ".away"))
        try:
            with pytest.raises(ClientError) as beyond:
                s3.get_object(Bucket="logs", Key="k")
        finally:
            for drive in gone:
                move_entries(drive.with_name(drive.name + ".away"), drive)
        assert beyond.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
        beyond_id = request_id_of(beyond.value)
        assert missing_id != beyond_id

        events = wait_for(lambda: json_lines(srv.process.stderr),
                          lambda evs: any(e.get("request_id") == beyond_id for e in evs),
                          "the 503's log line")
        by_id = {e.get("request_id"): e for e in events if "request_id" in e}
        assert by_id[missing_id]["level"] == "DEBUG", by_id[missing_id]
        assert by_id[missing_id]["code"] == "NoSuchKey" and by_id[missing_id]["status"] == 404
        assert by_id[beyond_id]["level"] == "WARN", by_id[beyond_id]
        assert by_id[beyond_id]["status"] == 503, by_id[beyond_id]
        assert any(e.get("message") == "serving the S3 API" for e in events), events
    finally:
        code = srv.process.stop()
    assert code == 0, srv.process.describe()
    events = json_lines(srv.process.stderr)
    assert any(e.get("message") == "shard stopped" for e in events), events


def test_log_filter_from_the_environment(tmp_path):
    """SHOAL_LOG=warn hides the info and debug events that the default filter shows or
    not: a refused request leaves no line, start and stop leave none either."""
    srv = start_server(tmp_path, "http", env_extra={"SHOAL_LOG": "warn"})
    try:
        s3 = srv.client(NO_RETRY)
        with pytest.raises(ClientError):
            s3.head_bucket(Bucket="nothing-here")
    finally:
        code = srv.process.stop()
    assert code == 0, srv.process.describe()
    assert srv.process.stderr.strip() == "", srv.process.stderr
    shutil.rmtree(tmp_path, ignore_errors=True)


REQUEST_LINE = re.compile(r"shoal::request: request (.*)$")


def request_lines(stderr: str) -> list[dict[str, str]]:
    """The request log's lines (text format) as field → value (quotes removed)."""
    found = []
    for line in stderr.splitlines():
        match = REQUEST_LINE.search(line)
        if match:
            fields = dict(re.findall(r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)', match.group(1)))
            found.append({k: v.strip('"') for k, v in fields.items()})
    return found


def test_request_log_has_one_line_per_request(tmp_path):
    """--log-requests writes one line per request with its request id, API, bucket,
    key, status, bytes and client; without it there is none."""
    srv = start_server(tmp_path, "http", ("--log-requests",))
    try:
        s3 = srv.client(NO_RETRY)
        made = s3.create_bucket(Bucket="reqlog")
        put = s3.put_object(Bucket="reqlog", Key="dir/a b.txt", Body=b"x" * 1000)
        got = s3.get_object(Bucket="reqlog", Key="dir/a b.txt")
        assert got["Body"].read() == b"x" * 1000
        with pytest.raises(ClientError) as missing:
            s3.head_object(Bucket="reqlog", Key="nope")
        expected = [
            (made["ResponseMetadata"]["RequestId"], "CreateBucket", "", "200"),
            (put["ResponseMetadata"]["RequestId"], "PutObject", "dir/a b.txt", "200"),
            (got["ResponseMetadata"]["RequestId"], "GetObject", "dir/a b.txt", "200"),
            (missing.value.response["ResponseMetadata"]["RequestId"], "HeadObject", "nope", "404"),
        ]
        lines = wait_for(lambda: request_lines(srv.process.stderr),
                         lambda found: len(found) >= len(expected), "four request lines")
        assert len(lines) == len(expected), lines
        by_id = {line["request_id"]: line for line in lines}
        for request_id, api, key, status in expected:
            line = by_id[request_id]
            assert (line["api"], line["bucket"], line["key"], line["status"]) == \
                (api, "reqlog", key, status), line
            assert line["client"] == "127.0.0.1", line
            assert float(line["duration_ms"]) >= 0, line
        assert int(by_id[put["ResponseMetadata"]["RequestId"]]["rx"]) > 1000
        assert int(by_id[got["ResponseMetadata"]["RequestId"]]["tx"]) > 1000
    finally:
        assert srv.process.stop() == 0, srv.process.describe()

    (tmp_path / "quiet").mkdir()
    quiet = start_server(tmp_path / "quiet", "http")
    try:
        quiet.client().list_buckets()
    finally:
        assert quiet.process.stop() == 0
    assert request_lines(quiet.process.stderr) == [], quiet.process.stderr


def test_audit_log_has_one_json_object_per_request(tmp_path):
    """--audit-log FILE gets one JSON object per request (PUT, GET, a 404 GET) with the
    audit fields: API name, bucket, object, status, byte counts, time to response,
    remote host, request id and access key."""
    audit = tmp_path / "audit.log"
    srv = start_server(tmp_path, "http", ("--audit-log", str(audit)))
    key = 'odd "key"\nwith é'
    try:
        s3 = srv.client(NO_RETRY)
        s3.create_bucket(Bucket="audit")
        put = s3.put_object(Bucket="audit", Key=key, Body=b"y" * 2048)
        got = s3.get_object(Bucket="audit", Key=key)
        assert got["Body"].read() == b"y" * 2048
        with pytest.raises(ClientError) as missing:
            s3.get_object(Bucket="audit", Key="absent")
        ids = {
            put["ResponseMetadata"]["RequestId"]: ("PutObject", key, 200),
            got["ResponseMetadata"]["RequestId"]: ("GetObject", key, 200),
            missing.value.response["ResponseMetadata"]["RequestId"]: ("GetObject", "absent", 404),
        }
        # Flushed by each shard once a second.
        entries = wait_for(lambda: json_lines(audit.read_text()) if audit.exists() else [],
                           lambda found: len(found) >= 4, "four audit entries")
    finally:
        assert srv.process.stop() == 0, srv.process.describe()
    entries = json_lines(audit.read_text())
    assert len(entries) == 4, entries
    by_id = {e["requestID"]: e for e in entries}
    for request_id, (name, obj, status) in ids.items():
        entry = by_id[request_id]
        api = entry["api"]
        assert (api["name"], api["bucket"], api["object"], api["statusCode"]) == \
            (name, "audit", obj, status), entry
        assert entry["version"] == "1" and entry["remotehost"] == "127.0.0.1", entry
        assert entry["accessKey"] == srv.access_key, entry
        assert api["timeToResponseInNS"] > 0 and api["timeToResponse"].endswith("ns"), entry
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", entry["time"]), entry
    assert by_id[put["ResponseMetadata"]["RequestId"]]["api"]["rx"] > 2048
    assert by_id[got["ResponseMetadata"]["RequestId"]]["api"]["tx"] > 2048
    assert by_id[missing.value.response["ResponseMetadata"]["RequestId"]]["api"]["status"] == "Not Found"


class _Collector(http.server.BaseHTTPRequestHandler):
    """Keeps every POST's path, content type and body; answers 200."""

    received: list[tuple[str, str, bytes]] = []

    def do_POST(self):  # noqa: N802 - the http.server spelling
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Collector.received.append((self.path, self.headers["Content-Type"], body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):  # quiet
        pass


def test_audit_webhook_receives_the_records(tmp_path):
    """--audit-webhook URL POSTs the audit objects (application/x-ndjson) to a loopback
    endpoint: a PUT made on the server arrives there with its request id."""
    _Collector.received = []
    hook = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{hook.server_address[1]}/audit/in"
    srv = start_server(tmp_path, "http", ("--audit-webhook", url))
    try:
        s3 = srv.client(NO_RETRY)
        s3.create_bucket(Bucket="hook")
        put = s3.put_object(Bucket="hook", Key="k", Body=b"w")
        request_id = put["ResponseMetadata"]["RequestId"]

        def entries():
            return [e for _, _, body in list(_Collector.received)
                    for e in json_lines(body.decode())]

        found = wait_for(entries, lambda es: any(e["requestID"] == request_id for e in es),
                         "the PUT's audit object at the webhook")
    finally:
        assert srv.process.stop() == 0, srv.process.describe()
        hook.shutdown()
    entry = next(e for e in found if e["requestID"] == request_id)
    assert entry["api"]["name"] == "PutObject" and entry["api"]["object"] == "k", entry
    assert all(path == "/audit/in" and kind == "application/x-ndjson"
               for path, kind, _ in _Collector.received), _Collector.received
