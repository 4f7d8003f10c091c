"""Healing on a 4-node cluster of real nodes (scripts/cluster.sh): damage spread over
several nodes' drives (a chunk file deleted, chunk bytes flipped, a metadata record
removed, a drive's copy of a whole bucket wiped) never makes a read wrong, is healed by
`shoal admin heal --deep` through any node, and the offline auditor run over every
drive of the stopped cluster then finds every version healthy."""

from __future__ import annotations

import os
import shutil
import subprocess

from clusterutil import Cluster
from conftest import clean_env, shoal_binary
from test_audit import audit, by_key
from test_drive_truth import part_file

BUCKET = "clusterheal"


def test_cluster_heals_damage_on_peers_drives_and_the_auditor_agrees(tmp_path):
    """Every object reads back whole from every node while damaged; a deep heal
    through node 2 heals exactly the damaged objects (exit 0); the auditor over all 8
    drives finds all 12 versions healthy."""
    folder = tmp_path / "c"
    c = Cluster(folder, nodes=4, drives=2, server_args=("--scan-objects-per-second", "0"))
    bodies = {f"obj{i}": os.urandom(1_300_000 + i) for i in range(10)}
    bodies |= {"small-a": b"tiny a", "small-b": b"tiny b"}
    try:
        c.up()
        s3 = c.client(1)
        s3.create_bucket(Bucket=BUCKET)
        for key, body in bodies.items():
            s3.put_object(Bucket=BUCKET, Key=key, Body=body)
        part_file(folder / "n2" / "d1", BUCKET, "obj0").unlink()
        rotten = part_file(folder / "n3" / "d2", BUCKET, "obj1")
        data = bytearray(rotten.read_bytes())
        data[len(data) // 3] ^= 0x5A
        rotten.write_bytes(bytes(data))
        (folder / "n4" / "d1" / BUCKET / "obj2" / "_meta").unlink()
        wiped = folder / "n2" / "d2" / BUCKET
        shutil.rmtree(wiped)
        wiped.mkdir()

        for node in range(1, 5):
            reader = c.client(node)
            for key, body in bodies.items():
                got = reader.get_object(Bucket=BUCKET, Key=key)["Body"].read()
                assert got == body, (node, key)

        env = clean_env(AWS_ENDPOINT_URL=c.endpoint(2),
                        AWS_ACCESS_KEY_ID=c.env["AWS_ACCESS_KEY_ID"],
                        AWS_SECRET_ACCESS_KEY=c.env["AWS_SECRET_ACCESS_KEY"])
        done = subprocess.run([str(shoal_binary()), "admin", "heal", BUCKET, "--deep"],
                              env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, (done.stdout, done.stderr)
        assert "12 object(s) checked" in done.stdout, done.stdout
        for key, body in bodies.items():
            assert c.client(4).get_object(Bucket=BUCKET, Key=key)["Body"].read() == body, key
    finally:
        c.down()
    drives = sorted(folder.glob("n*/d*"))
    assert len(drives) == 8, drives
    code, versions, summary = audit(*drives)
    found = by_key(versions)
    assert set(found) == set(bodies), sorted(found)
    assert code == 0 and {v["state"] for v in versions} == {"healthy"}, (versions, summary)
