"""`shoal admin heal` against the real server, as an operator meets it: damage on disk
that no client read (a chunk file deleted, a metadata record removed, chunk bytes
flipped) is reported by a dry run without a change, found in full only with --deep,
healed by a real run (files back as written, exit 0), and a second run finds nothing;
a prefix narrows it; a missing bucket is refused. The background scanner is paused,
and no client reads the damaged objects, so only the command heals them."""

from __future__ import annotations

import json
import os
import subprocess

from conftest import clean_env, shoal_binary, start_server
from test_drive_truth import drive_folders, part_file

BUCKET = "healme"
SIZE = 600_000  # over the inline limit: the data lives in part files


def admin_heal(srv, *args: str) -> subprocess.CompletedProcess:
    env = clean_env(AWS_ENDPOINT_URL=srv.endpoint, SHOAL_ROOT_USER=srv.access_key,
                    SHOAL_ROOT_PASSWORD=srv.secret_key)
    return subprocess.run([str(shoal_binary()), "admin", "heal", *args], env=env,
                          capture_output=True, text=True, timeout=120)


def json_run(srv, *args: str) -> tuple[int, list[dict], dict]:
    """Runs `heal --json`: its exit status, the object lines and the totals."""
    done = admin_heal(srv, *args, "--json")
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    totals = [line for line in lines if line.get("done")]
    assert len(totals) == 1, (done.stdout, done.stderr)
    return done.returncode, [line for line in lines if "outcome" in line], totals[0]


def test_admin_heal_reports_then_heals_exactly_the_damage(tmp_path):
    """Dry runs change nothing (shallow: the missing file and record; deep: the rotten
    bytes too); a deep heal restores every damaged file byte for byte; a second heal
    checks everything whole; a prefix limits it; a missing bucket exits 1."""
    srv = start_server(tmp_path, "http", ("--scan-objects-per-second", "0"))
    try:
        s3 = srv.client()
        s3.create_bucket(Bucket=BUCKET)
        for i in range(6):
            s3.put_object(Bucket=BUCKET, Key=f"obj{i}", Body=os.urandom(SIZE))
        s3.put_object(Bucket=BUCKET, Key="small", Body=b"tiny")
        drives = drive_folders(tmp_path)
        missing = part_file(drives[1], BUCKET, "obj1")
        missing_bytes = missing.read_bytes()
        missing.unlink()
        meta = drives[2] / BUCKET / "obj3" / "_meta"
        meta_bytes = meta.read_bytes()
        meta.unlink()
        rotten = part_file(drives[0], BUCKET, "obj2")
        rotten_bytes = rotten.read_bytes()
        flipped = bytearray(rotten_bytes)
        flipped[len(flipped) // 2] ^= 0xFF
        rotten.write_bytes(bytes(flipped))

        status, objects, totals = json_run(srv, BUCKET, "--dry-run")
        assert status == 1, totals
        assert {(o["object"], o["outcome"]) for o in objects} == \
            {("obj1", "damaged"), ("obj3", "damaged")}, objects
        assert (totals["checked"], totals["damaged"], totals["healed"]) == (7, 2, 0), totals
        status, objects, totals = json_run(srv, BUCKET, "--dry-run", "--deep")
        assert status == 1 and totals["damaged"] == 3, (objects, totals)
        assert not missing.exists() and not meta.exists(), "a dry run changed nothing"
        assert rotten.read_bytes() == bytes(flipped)

        done = admin_heal(srv, BUCKET, "--deep")
        assert done.returncode == 0, (done.stdout, done.stderr)
        healed = sorted(line.split()[1] for line in done.stdout.splitlines()
                        if line.startswith("healed"))
        assert healed == [f"{BUCKET}/obj1", f"{BUCKET}/obj2", f"{BUCKET}/obj3"], done.stdout
        assert "7 object(s) checked: 4 whole, 3 healed" in done.stdout, done.stdout
        assert missing.read_bytes() == missing_bytes
        assert meta.read_bytes() == meta_bytes
        assert rotten.read_bytes() == rotten_bytes

        status, objects, totals = json_run(srv, BUCKET, "--deep")
        assert status == 0 and objects == [], objects
        assert (totals["checked"], totals["healthy"]) == (7, 7), totals
        status, _, totals = json_run(srv, f"{BUCKET}/obj1")
        assert status == 0 and totals["checked"] == 1, totals

        refused = admin_heal(srv, "no-such-bucket")
        assert refused.returncode == 1 and "NoSuchBucket" in refused.stderr, refused.stderr
    finally:
        assert srv.process.stop() == 0, srv.process.describe()
