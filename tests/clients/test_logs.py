"""The server's logs as an operator meets them: JSON lines on stderr with
`--log-format json`, the filter from SHOAL_LOG, failed requests logged with the request
id their response carries, the one-line-per-request log (`--log-requests`) and the audit
log file (`--audit-log`). Runs over plain HTTP only: logging does not depend on the
transport."""

from __future__ import annotations

import json
import shutil
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
