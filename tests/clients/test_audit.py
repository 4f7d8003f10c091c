"""`shoal debug audit` (issue 13, item 6) on the drives of a stopped server: every
version healthy after clean writes; after chunk files are deleted, chunk bytes flipped,
a metadata record removed, more than parity of an object destroyed, and a whole drive
wiped, exactly the damaged versions are reported degraded or unreadable with the right
chunk counts and exit status; the drives are byte-identical before and after; drives
that are missing or of another deployment are reported, not fatal."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import (ROOT_PASSWORD, ROOT_USER, ServerProcess, clean_env, free_port, new_s3_client,
                      shoal_binary)

MIB = 1 << 20
DRIVES = 6  # one set of 3 data + 3 parity chunks
SET_SIZE = 6
BUCKET = "audit"
# Keys a filesystem or a JSON line could trip on: quotes, backslashes, control
# characters, a line separator, empty segments, dot segments, a trailing slash.
ODD_KEYS = [
    'odd/"quoted"\\back\\slash',
    "odd/tab\there\x01ctl",
    "odd/line\u2028sep/ünï/日本",
    "odd//empty/./../segments",
    "odd/trailing/",
]


def start(drives: list[Path], tmp: Path) -> tuple[ServerProcess, object]:
    """A server over `drives` with one shard; and a boto3 client for it."""
    port = free_port()
    env = clean_env(SHOAL_ROOT_USER=ROOT_USER, SHOAL_ROOT_PASSWORD=ROOT_PASSWORD)
    args = ["server", "--address", f"127.0.0.1:{port}", "--shards", "1", *map(str, drives)]
    process = ServerProcess(args, env, cwd=tmp, log_dir=tmp / "logs")
    process.wait_ready(port)
    client = new_s3_client(
        endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
        aws_access_key_id=ROOT_USER, aws_secret_access_key=ROOT_PASSWORD)
    return process, client


def stop(process: ServerProcess) -> None:
    code = process.stop()
    assert code == 0, process.describe()


def audit(*drives: Path | str, json_out: bool = True) -> tuple[int, list[dict], dict]:
    """Runs the auditor; its exit status, version lines and summary line (JSON)."""
    args = [str(shoal_binary()), "debug", "audit", *map(str, drives)]
    if json_out:
        args.append("--json")
    done = subprocess.run(args, capture_output=True, text=True, timeout=120)
    if not json_out:
        return done.returncode, [], {"stdout": done.stdout, "stderr": done.stderr}
    # Split on "\n" only: a key may hold U+2028, which str.splitlines() also splits on.
    lines = [json.loads(line) for line in done.stdout.split("\n") if line]
    versions = [line for line in lines if "summary" not in line]
    summaries = [line for line in lines if "summary" in line]
    assert len(summaries) <= 1 and (not summaries or lines[-1] is summaries[0]), done.stdout
    return done.returncode, versions, (summaries[0] if summaries else {"stderr": done.stderr})


def tree_digest(folders: list[Path]) -> str:
    """Names, kinds, sizes, contents and modification times of everything under the
    folders (and the folders themselves): any write, create, remove or rename shows."""
    digest = hashlib.sha256()
    for folder in folders:
        if not folder.exists():
            digest.update(f"absent {folder}\n".encode())
            continue
        for path in sorted([folder, *folder.rglob("*")]):
            stat = path.lstat()
            digest.update(f"{path}\0{stat.st_mode}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
            if path.is_file():
                digest.update(path.read_bytes())
    return digest.hexdigest()


def version_dirs(drive: Path, key: str) -> list[Path]:
    return sorted((drive / BUCKET / key).glob("_d*"))


def by_key(versions: list[dict]) -> dict[str, dict]:
    found = {v["key"]: v for v in versions}
    assert len(found) == len(versions), "a key reported twice"
    return found


@pytest.fixture
def deployment(tmp_path):
    """Six drives of a stopped server holding small (inline), multi-stripe, multipart and
    odd-keyed objects, plus victims for the damage; the key → expected chunk totals."""
    drives = [tmp_path / f"d{i}" for i in range(1, DRIVES + 1)]
    process, s3 = start(drives, tmp_path)
    try:
        s3.create_bucket(Bucket=BUCKET)
        totals: dict[str, int] = {}

        def put(key: str, size: int, stripes: int) -> None:
            s3.put_object(Bucket=BUCKET, Key=key, Body=os.urandom(size))
            totals[key] = stripes * SET_SIZE

        put("small", 1000, 1)
        put("empty", 0, 0)
        put("big", 3 * MIB + 17, 4)
        for key in ODD_KEYS:
            put(key, 2 * MIB, 2)
        for key in ("v-chunk-gone", "v-flipped", "v-lost"):
            put(key, 3 * MIB + 17, 4)
        put("v-meta-gone", 5000, 1)
        put("v-meta-lost", 5000, 1)
        upload = s3.create_multipart_upload(Bucket=BUCKET, Key="multi")["UploadId"]
        parts = []
        for number, size in ((1, 5 * MIB), (2, MIB + 3)):
            etag = s3.upload_part(Bucket=BUCKET, Key="multi", UploadId=upload, PartNumber=number,
                                  Body=os.urandom(size))["ETag"]
            parts.append({"PartNumber": number, "ETag": etag})
        s3.complete_multipart_upload(Bucket=BUCKET, Key="multi", UploadId=upload,
                                     MultipartUpload={"Parts": parts})
        totals["multi"] = (5 + 2) * SET_SIZE
        s3.put_object(Bucket=BUCKET, Key="deleted", Body=b"gone soon")
        s3.delete_object(Bucket=BUCKET, Key="deleted")
    finally:
        stop(process)
    return drives, totals


def test_audit_reports_exactly_the_damage(deployment):
    """Healthy drives audit healthy (exit 0); each kind of damage shows on exactly its
    version, with the chunk counts it leaves, and nothing on the drives changes."""
    drives, totals = deployment
    code, versions, summary = audit(*drives)
    assert code == 0, (versions, summary)
    found = by_key(versions)
    assert set(found) == set(totals), sorted(found)
    for key, total in totals.items():
        v = found[key]
        assert (v["state"], v["chunks_ok"], v["chunks_total"]) == ("healthy", total, total), v
        assert v["bucket"] == BUCKET and len(v["version"]) == 32 and v["problems"] == [], v
    assert summary["summary"] == {"healthy": len(totals), "degraded": 0, "unreadable": 0}
    assert [d["state"] for d in summary["drives"]] == ["ok"] * DRIVES, summary

    # One drive loses a chunk file; another's chunk has a flipped byte; one drive loses a
    # small object's metadata (and with it the inline chunk); four of six drives lose
    # an object's chunk files: more than its parity.
    (version_dirs(drives[0], "v-chunk-gone")[0] / "part.1").unlink()
    flipped = version_dirs(drives[1], "v-flipped")[0] / "part.1"
    data = bytearray(flipped.read_bytes())
    data[100] ^= 0x01
    flipped.write_bytes(bytes(data))
    (drives[2] / BUCKET / "v-meta-gone" / "_meta").unlink()
    for drive in drives[:4]:  # more than parity: no version keeps read quorum
        (drive / BUCKET / "v-meta-lost" / "_meta").unlink()
    for drive in drives[:4]:
        (version_dirs(drive, "v-lost")[0] / "part.1").unlink()

    before = tree_digest(drives)
    code, versions, summary = audit(*drives)
    assert tree_digest(drives) == before, "the audit changed the drives"
    assert code == 1, summary
    found = by_key(versions)
    expected = {
        "v-chunk-gone": ("degraded", 24 - 4),
        "v-flipped": ("degraded", 24 - 1),
        "v-meta-gone": ("degraded", 6 - 1),
        "v-lost": ("unreadable", 24 - 16),
    }
    for key, total in totals.items():
        if key == "v-meta-lost":
            continue
        state, ok = expected.get(key, ("healthy", total))
        v = found[key]
        assert (v["state"], v["chunks_ok"], v["chunks_total"]) == (state, ok, total), v
    lost = found["v-meta-lost"]
    assert lost["state"] == "unreadable" and "on 2 of 6 drives" in lost["note"], lost
    assert [p["metadata"] for p in lost["problems"]] == ["missing"] * 4, lost
    assert found["v-flipped"]["problems"][0]["chunks_corrupt"] == 1, found["v-flipped"]
    assert found["v-chunk-gone"]["problems"][0]["chunks_missing"] == 4
    meta_problem = found["v-meta-gone"]["problems"]
    assert [p["metadata"] for p in meta_problem] == ["missing"], meta_problem
    assert found["v-lost"]["stripes_unreadable"] == 4
    assert summary["summary"] == {"healthy": len(totals) - 5, "degraded": 3, "unreadable": 2}

    # A whole drive wiped (its folder left empty): every version loses that drive's
    # metadata and chunks; the drive is reported blank and its position unfilled.
    wiped = drives[5]
    shutil.rmtree(wiped)
    wiped.mkdir()
    before = tree_digest(drives)
    code, versions, summary = audit(*drives)
    assert tree_digest(drives) == before, "the audit changed the drives"
    assert code == 1
    found = by_key(versions)
    assert found["v-lost"]["state"] == found["v-meta-lost"]["state"] == "unreadable"
    for key in totals.keys() - {"v-lost", "v-meta-lost"}:
        v = found[key]
        assert v["state"] == "degraded", v
        unavailable = sum(p["chunks_unavailable"] for p in v["problems"])
        assert unavailable == totals[key] // SET_SIZE, v
    states = {d["path"]: d["state"] for d in summary["drives"]}
    assert states[str(wiped)] == "blank" and states["(not given)"] == "not_given", summary
    assert summary["positions_without_drive"] == 1

    # The plain report says the same in lines.
    code, _, plain = audit(*drives, json_out=False)
    assert code == 1
    assert "unreadable audit/v-lost" in " ".join(plain["stdout"].split()), plain["stdout"]
    assert "summary:" in plain["stdout"].splitlines()[-1]


def test_missing_and_foreign_drives_are_reported(tmp_path):
    """A folder that does not exist and a drive of another deployment are reported and
    skipped, the rest is audited (exit 1: a position has no drive); with no formatted
    drive at all, or no drive argument, the exit status is 2."""
    ours = [tmp_path / "a" / f"d{i}" for i in range(1, DRIVES + 1)]
    theirs = [tmp_path / "b" / f"d{i}" for i in range(1, DRIVES + 1)]
    for drives in (ours, theirs):
        (tmp_path / drives[0].parent.name).mkdir()
        process, s3 = start(drives, tmp_path)
        try:
            s3.create_bucket(Bucket=BUCKET)
            s3.put_object(Bucket=BUCKET, Key="k", Body=os.urandom(2 * MIB))
        finally:
            stop(process)

    absent = tmp_path / "absent"
    # The ranges form of `shoal server` is taken too.
    pattern = str(tmp_path / "a" / "d{1...5}")
    code, versions, summary = audit(pattern, absent, theirs[0])
    assert code == 1, summary
    states = [(d["path"], d["state"]) for d in summary["drives"]]
    assert (str(absent), "missing") in states and (str(theirs[0]), "foreign") in states, states
    assert ("(not given)", "not_given") in states, states
    assert [(v["key"], v["state"], v["chunks_ok"], v["chunks_total"]) for v in versions] == [
        ("k", "degraded", 10, 12)]

    # The same deployment's drives in any order, given twice: audited once each.
    code, versions, summary = audit(*reversed(ours), ours[0])
    assert code == 0 and versions[0]["state"] == "healthy", (versions, summary)

    code, versions, summary = audit(absent, tmp_path / "a")
    assert code == 2 and versions == [], summary
    done = subprocess.run([str(shoal_binary()), "debug", "audit"], capture_output=True)
    assert done.returncode == 2


def test_cluster_drives_audited_from_one_machine(tmp_path):
    """A 4-node cluster's drives (each node's folders, given from this machine in any
    order): the sets come from the format records, every version audits healthy, and
    a chunk file removed on one node's drive shows as exactly one missing chunk-run."""
    from clusterutil import Cluster

    folder = tmp_path / "c"
    cluster = Cluster(folder, nodes=4, drives=2)
    try:
        cluster.up()
        s3 = cluster.client(1)
        s3.create_bucket(Bucket=BUCKET)
        s3.put_object(Bucket=BUCKET, Key="big", Body=os.urandom(3 * MIB + 5))
        cluster.client(3).put_object(Bucket=BUCKET, Key="small", Body=b"tiny")
    finally:
        cluster.down()
    drives = sorted(folder.glob("n*/d*"), reverse=True)
    assert len(drives) == 8, drives
    code, versions, summary = audit(*drives)
    assert code == 0, (versions, summary)
    places = {(d["set"], d["drive"]) for d in summary["drives"] if d["state"] == "ok"}
    assert places == {(1, i) for i in range(1, 9)}, summary
    found = by_key(versions)
    # 8 drives over 4 nodes: one set of 4 data + 4 parity chunks.
    assert (found["big"]["state"], found["big"]["chunks_total"]) == ("healthy", 4 * 8)
    assert (found["small"]["state"], found["small"]["chunks_total"]) == ("healthy", 8)

    victim = next(p for d in drives for p in (d / BUCKET / "big").glob("_d*/part.1"))
    victim.unlink()
    code, versions, _ = audit(*drives)
    found = by_key(versions)
    assert code == 1
    assert (found["big"]["state"], found["big"]["chunks_ok"]) == ("degraded", 32 - 4)
    assert found["small"]["state"] == "healthy"


def test_drives_of_a_running_server_are_flagged(tmp_path):
    """Drives a running server holds are named on stderr and in the summary (the audit
    still runs); once the server stops, none are."""
    drives = [tmp_path / f"d{i}" for i in range(1, DRIVES + 1)]
    process, s3 = start(drives, tmp_path)
    try:
        s3.create_bucket(Bucket=BUCKET)
        s3.put_object(Bucket=BUCKET, Key="k", Body=b"running")
        code, versions, summary = audit(*drives)
        assert summary["in_use_by_a_server"] == list(map(str, drives)), summary
        assert versions[0]["key"] == "k", versions
        done = subprocess.run([str(shoal_binary()), "debug", "audit", str(drives[0])],
                              capture_output=True, text=True, timeout=60)
        assert "in use by a running shoal process" in done.stderr, done.stderr
        assert "IN USE by a running server" in done.stdout, done.stdout
    finally:
        stop(process)
    code, versions, summary = audit(*drives)
    assert code == 0 and summary["in_use_by_a_server"] == [], summary
