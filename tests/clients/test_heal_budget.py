"""Healing's byte rate with the real binary: `--heal-bytes-per-second` is the value
`shoal admin config` shows and changes at run time, `shoal admin heal` keeps to it (a
rebuild at a low rate takes its time, at 0 it does not), and the bytes healing moved
are counted in `shoal_node_heal_bytes_total`."""

from __future__ import annotations

import json
import os
import subprocess
import time

from conftest import clean_env, shoal_binary, start_server
from test_heal import drive_folders
from test_metrics import samples, signed_get, value

MIB = 1024 * 1024
TIMEOUT_S = 60


def admin(srv, *args: str) -> subprocess.CompletedProcess:
    env = clean_env(AWS_ENDPOINT_URL=srv.endpoint, SHOAL_ROOT_USER=srv.access_key,
                    SHOAL_ROOT_PASSWORD=srv.secret_key)
    done = subprocess.run([str(shoal_binary()), "admin", *args], env=env, capture_output=True,
                          text=True, timeout=TIMEOUT_S)
    assert done.returncode == 0, f"shoal admin {' '.join(args)}: {done.stderr}"
    return done


def lose_chunk_files(tmp_path, bucket: str) -> None:
    """Removes every part file of the bucket on the first drive (its records stay)."""
    for part in (drive_folders(tmp_path)[0] / bucket).rglob("part.1"):
        part.unlink()


def timed_heal(srv, bucket: str) -> tuple[float, dict]:
    """`shoal admin heal BUCKET --json`: seconds taken and the last (done) line."""
    start = time.monotonic()
    out = admin(srv, "heal", bucket, "--json").stdout
    took = time.monotonic() - start
    done = json.loads(out.strip().splitlines()[-1])
    assert done.get("done") is True and done["healed"] >= 1, out
    return took, done


def heal_bytes(srv) -> tuple[float, float]:
    metrics = samples(signed_get(srv, "/minio/v2/metrics/node").text)
    return (value(metrics, "shoal_node_heal_bytes_total", direction="read"),
            value(metrics, "shoal_node_heal_bytes_total", direction="written"))


def test_heal_rate_flag_config_and_metrics(tmp_path):
    """Started at 4 MiB/s, a heal that rebuilds a 4 MiB object's lost chunks (about
    14 MiB moved: 3 drives' records read twice, one drive's written) takes over 3 s;
    set to 0 at run time, the same heal is quick; the bytes show in the metrics."""
    # The scanner paused: the admin heal is to find the damage, not the drain task.
    flags = ("--heal-bytes-per-second", str(4 * MIB), "--scan-objects-per-second", "0")
    srv = start_server(tmp_path, "http", flags, shards=1)
    try:
        assert admin(srv, "config", "get", "heal-bytes-per-second").stdout.strip() == \
            f"heal-bytes-per-second = {4 * MIB}"
        s3 = srv.client()
        s3.create_bucket(Bucket="rate")
        s3.put_object(Bucket="rate", Key="k", Body=os.urandom(4 * MIB))
        lose_chunk_files(tmp_path, "rate")
        read_before, written_before = heal_bytes(srv)
        paced, done = timed_heal(srv, "rate")
        # The metrics are published once a second.
        deadline = time.monotonic() + 5
        while True:
            read_after, written_after = heal_bytes(srv)
            if written_after - written_before >= 2 * MIB or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert written_after - written_before >= 2 * MIB, (written_before, written_after)
        moved = (read_after - read_before) + (written_after - written_before)
        # Less 2 MiB: more than the account's credit at this rate (250 ms of it, 1 MiB).
        assert paced >= (moved - 2 * MIB) / (4 * MIB), (paced, moved, done)

        assert admin(srv, "config", "set", "heal-bytes-per-second", "0").stdout.strip() == \
            "heal-bytes-per-second = 0"
        lose_chunk_files(tmp_path, "rate")
        unpaced, _ = timed_heal(srv, "rate")
        assert unpaced < paced / 2, (unpaced, paced)
    finally:
        assert srv.process.stop() == 0
