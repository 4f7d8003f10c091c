"""`shoal admin info` shows each erasure set's members with their state (a removed
drive folder shows offline) and the heal backlog (objects a GET found damaged and
queued for repair), in text and in `--json` (issue 13, item 5, first part)."""

from __future__ import annotations

import json
import re
import os
import shutil
import subprocess
import time

from conftest import clean_env, shoal_binary, start_server

MIB = 1 << 20
WAIT_S = 15
BUCKET = "sets"


def admin_info(srv, *args: str) -> str:
    env = clean_env(AWS_ENDPOINT_URL=srv.endpoint, SHOAL_ROOT_USER=srv.access_key,
                    SHOAL_ROOT_PASSWORD=srv.secret_key)
    done = subprocess.run([str(shoal_binary()), "admin", "info", *args], env=env,
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_info_shows_member_states_and_heal_backlog(tmp_path):
    """Chunk files deleted on two of four drives are found by GETs (the objects still
    read whole) and queued for healing (the drain heals them within moments, so `info`
    shows them as queued and healed since start); a drive folder removed goes offline;
    `info` shows both."""
    srv = start_server(tmp_path, "http")
    try:
        s3 = srv.client()
        s3.create_bucket(Bucket=BUCKET)
        document = json.loads(admin_info(srv, "--json"))
        members = document["sets"][0]["members"]
        assert [(m["state"], m["local"]) for m in members] == [("online", True)] * 4, members
        assert document["heal_backlog"] == 0, document

        bodies = {f"k{i}": os.urandom(2 * MIB + i) for i in range(8)}
        for key, body in bodies.items():
            s3.put_object(Bucket=BUCKET, Key=key, Body=body)
        # Two of four chunks per object: at least one data chunk of most objects, which
        # the GET must rebuild (a parity chunk alone would go unnoticed by a GET).
        for key in bodies:
            for drive in ("drive1", "drive2"):
                for part in (tmp_path / drive / BUCKET / key).glob("_d*/part.1"):
                    part.unlink()
        for key, body in bodies.items():
            assert s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == body
        shutil.rmtree(tmp_path / "drive4")

        deadline = time.monotonic() + WAIT_S
        while True:
            document = json.loads(admin_info(srv, "--json"))
            states = {m["drive"]: m["state"] for m in document["sets"][0]["members"]}
            if document["heal"]["queued"] >= 1 and "offline" in states.values():
                break
            assert time.monotonic() < deadline, document
            time.sleep(0.5)
        assert states[str(tmp_path / "drive4")] == "offline", states
        assert [s for d, s in states.items() if d != str(tmp_path / "drive4")] == ["online"] * 3
        assert document["sets"][0]["online"] == 3
        assert sum(s["heal_backlog"] for s in document["shards"]) == document["heal_backlog"]

        shown = admin_info(srv)
        assert f"{tmp_path / 'drive4'}  OFFLINE, local" in shown, shown
        assert f"{tmp_path / 'drive1'}  online, local" in shown, shown
        assert re.search(r"heal backlog: \d+ object\(s\) queued for repair; since start "
                         r"[1-9]\d* queued", shown), shown
    finally:
        assert srv.process.stop() == 0, srv.process.describe()


def test_cluster_info_names_each_members_node(tmp_path):
    """On a 4-node cluster (2 drives each, one set of 8) `info` lists all 8 members:
    this node's 2 as local, the others with their peer node; a stopped node's drives
    turn offline while the rest stay online."""
    from clusterutil import Cluster

    cluster = Cluster(tmp_path / "c", nodes=4, drives=2)
    try:
        cluster.up()
        env = clean_env(AWS_ENDPOINT_URL=cluster.endpoint(1),
                        SHOAL_ROOT_USER=cluster.env["AWS_ACCESS_KEY_ID"],
                        SHOAL_ROOT_PASSWORD=cluster.env["AWS_SECRET_ACCESS_KEY"])

        def info() -> dict:
            done = subprocess.run([str(shoal_binary()), "admin", "info", "--json"], env=env,
                                  capture_output=True, text=True, timeout=30)
            assert done.returncode == 0, done.stderr
            return json.loads(done.stdout)

        deadline = time.monotonic() + WAIT_S
        while True:
            members = info()["sets"][0]["members"]
            if [m["state"] for m in members] == ["online"] * 8:
                break
            assert time.monotonic() < deadline, members
            time.sleep(0.5)
        local = [m for m in members if m["local"]]
        assert len(local) == 2 and all("node" not in m for m in local), members
        peers = {m["node"] for m in members if not m["local"]}
        assert peers == {f"127.0.0.{i}:{cluster.port}" for i in (2, 3, 4)}, members

        cluster.stop_node(3)
        node3 = f"127.0.0.3:{cluster.port}"
        deadline = time.monotonic() + WAIT_S
        while True:
            members = info()["sets"][0]["members"]
            down = [m for m in members if m["state"] == "offline"]
            if len(down) == 2:
                break
            assert time.monotonic() < deadline, members
            time.sleep(0.5)
        assert {m.get("node") for m in down} == {node3}, members
    finally:
        cluster.down()
