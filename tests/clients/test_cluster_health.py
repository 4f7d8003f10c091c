"""MinIO's cluster health paths on the real server, as a load balancer or an
orchestrator (`mc ready`) meets them: `/minio/health/cluster` follows every erasure
set's write quorum, `/minio/health/cluster/read` its read quorum, `?maintenance=true`
answers whether this node could go down (a single node never can: 412), with MinIO's
headers, unauthenticated, GET and HEAD alike. Drives are taken away the way the other
drive tests do it (a drive folder emptied, its format record made to hang), and the
answers are checked against what S3 requests really do at that moment. Each test runs
its own server (they damage drives)."""

from __future__ import annotations

import time
import uuid

import requests
from botocore.config import Config

from conftest import start_server
from test_drive_truth import assert_503, drive_folders, move_entries
from test_metrics import generated_token, hang_format_record, release_format_record, scrape, value

# How long a path may take to follow the drives: the probes pause 1 s between runs and
# call a drive hung after 3 s; the rest is slack for a loaded test machine.
TURN_S = 10
# How long the server may take to be green again once the drives are back.
RECOVER_S = 15

CLUSTER = "/minio/health/cluster"
CLUSTER_READ = "/minio/health/cluster/read"
MAINTENANCE = "/minio/health/cluster?maintenance=true"


def ask(srv, path: str, method: str = "GET") -> requests.Response:
    """One unauthenticated request to a health path."""
    return requests.request(method, srv.endpoint + path, timeout=10)


def wait_for(srv, path: str, expected: int, within_s: float) -> float:
    """Seconds until `path` answered `expected`; fails after `within_s`."""
    started = time.monotonic()
    while (status := ask(srv, path).status_code) != expected:
        waited = time.monotonic() - started
        assert waited < within_s, f"{path} still {status} after {waited:.1f}s, not {expected}"
        time.sleep(0.1)
    return time.monotonic() - started


def wait_drives_not_online(srv, token: str, count: int) -> None:
    """Waits until the node's reports show `count` drives not online (so a health answer
    read after it saw the loss)."""
    deadline = time.monotonic() + TURN_S
    while True:
        metrics = scrape(srv, token)
        away = sum(value(metrics, "shoal_node_drive_state", state=s)
                   for s in ("offline", "hung", "unformatted", "foreign"))
        if away == count:
            return
        assert time.monotonic() < deadline, f"{away} drives not online, expected {count}"
        time.sleep(0.1)


def assert_answer(srv, path: str, status: int, header: str, quorum: str) -> None:
    """GET and HEAD both answer `status` with MinIO's quorum header and no body."""
    for method in ("GET", "HEAD"):
        r = ask(srv, path, method)
        assert r.status_code == status, f"{method} {path}: {r.status_code}"
        assert r.headers.get(header) == quorum, f"{method} {path}: {dict(r.headers)}"
        assert r.headers.get("X-Minio-Storage-Class-Defaults") == "false", dict(r.headers)
        assert r.content == b"", f"{method} {path} has a body: {r.content[:200]!r}"


def test_cluster_paths_follow_write_and_read_quorum(tmp_path):
    """On a healthy 4-drive node (2+2: write quorum 3, read quorum 2) both paths are 200
    and maintenance is 412; one drive gone keeps them 200; two gone turn /cluster 503
    within seconds while /cluster/read stays 200, and indeed a PUT fails and a GET of an
    older object succeeds; three gone turn both 503; all back, both 200 again."""
    srv = start_server(tmp_path, "http")
    try:
        token = generated_token(srv)
        s3 = srv.client(Config(retries={"total_max_attempts": 1}))
        s3.create_bucket(Bucket="health")
        s3.put_object(Bucket="health", Key="kept", Body=b"k" * 300_000)
        assert_answer(srv, CLUSTER, 200, "X-Minio-Write-Quorum", "3")
        assert_answer(srv, CLUSTER_READ, 200, "X-Minio-Read-Quorum", "2")
        assert_answer(srv, MAINTENANCE, 412, "X-Minio-Write-Quorum", "3")
        assert_answer(srv, CLUSTER_READ + "?maintenance=true", 412, "X-Minio-Read-Quorum", "2")

        drives = drive_folders(tmp_path)
        away = [d.with_name(d.name + ".away") for d in drives]
        gone = 0
        try:
            move_entries(drives[3], away[3])
            gone = 1
            wait_drives_not_online(srv, token, 1)
            assert ask(srv, CLUSTER).status_code == 200, "3 of 4 is write quorum"

            move_entries(drives[2], away[2])
            gone = 2
            waited = wait_for(srv, CLUSTER, 503, TURN_S)
            print(f"/cluster turned 503 {waited:.2f}s after the second drive left")
            assert_answer(srv, CLUSTER, 503, "X-Minio-Write-Quorum", "3")
            assert_answer(srv, CLUSTER_READ, 200, "X-Minio-Read-Quorum", "2")
            assert_answer(srv, MAINTENANCE, 412, "X-Minio-Write-Quorum", "3")
            assert ask(srv, "/minio/health/live").status_code == 200
            # What the paths say is what S3 does: reads work, writes do not.
            body = s3.get_object(Bucket="health", Key="kept")["Body"].read()
            assert body == b"k" * 300_000
            assert_503(s3.put_object, Bucket="health", Key=f"new-{uuid.uuid4().hex}", Body=b"x")

            move_entries(drives[1], away[1])
            gone = 3
            waited = wait_for(srv, CLUSTER_READ, 503, TURN_S)
            print(f"/cluster/read turned 503 {waited:.2f}s after the third drive left")
            assert_answer(srv, CLUSTER, 503, "X-Minio-Write-Quorum", "3")
            assert_answer(srv, CLUSTER_READ, 503, "X-Minio-Read-Quorum", "2")
            assert_answer(srv, MAINTENANCE, 412, "X-Minio-Write-Quorum", "3")
        finally:
            for index in range(4 - gone, 4):
                move_entries(away[index], drives[index])
        waited = max(wait_for(srv, CLUSTER, 200, RECOVER_S), wait_for(srv, CLUSTER_READ, 200, RECOVER_S))
        print(f"both paths 200 again {waited:.2f}s after the drives returned")
        s3.put_object(Bucket="health", Key="after", Body=b"a")
    finally:
        assert srv.process.stop() == 0


def test_hung_drives_turn_cluster_red_within_seconds(tmp_path):
    """With reads of 2 of 4 drives hanging (not failing), /cluster answers 503 within
    seconds (a probe is hung after 3 s) while /cluster/read stays 200 and the health
    answers themselves never wait for the hung drives; once the reads return, 200."""
    srv = start_server(tmp_path, "http")
    try:
        hung = drive_folders(tmp_path)[:2]
        for d in hung:
            hang_format_record(d)
        try:
            waited = wait_for(srv, CLUSTER, 503, TURN_S)
            print(f"/cluster turned 503 {waited:.2f}s after 2 drives hung")
            for path, status in ((CLUSTER, 503), (CLUSTER_READ, 200), (MAINTENANCE, 412)):
                started = time.monotonic()
                assert ask(srv, path).status_code == status, path
                assert time.monotonic() - started < 1, f"{path} waited for a hung drive"
        finally:
            for d in hung:
                release_format_record(d)
        wait_for(srv, CLUSTER, 200, RECOVER_S)
        assert ask(srv, CLUSTER_READ).status_code == 200
    finally:
        assert srv.process.stop() == 0


def test_health_paths_need_no_credentials_and_take_only_get_and_head(tmp_path):
    """The health paths answer without any credentials (a signature is not needed and a
    wrong one does not matter), and any other method is an S3 request on the reserved
    bucket `minio`, refused as such."""
    srv = start_server(tmp_path, "http")
    try:
        bogus = {"Authorization": "AWS4-HMAC-SHA256 Credential=nobody/20990101/us-east-1/s3/"
                                  "aws4_request, SignedHeaders=host, Signature=00"}
        for path in (CLUSTER, CLUSTER_READ, CLUSTER + "/", CLUSTER_READ + "/"):
            assert requests.get(srv.endpoint + path, headers=bogus, timeout=10).status_code == 200
        for method in ("PUT", "POST", "DELETE"):
            r = requests.request(method, srv.endpoint + CLUSTER, timeout=10)
            assert r.status_code in (400, 403), f"{method}: {r.status_code} {r.text}"
            assert r.status_code != 200
    finally:
        assert srv.process.stop() == 0
