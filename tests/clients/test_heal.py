"""Heal on sight with the real binary: files damaged on disk under the drive folders (a
chunk file deleted, bytes flipped in another, a metadata record removed) are served
correctly by GET, which queues the objects; the shards' heal tasks then rewrite exactly
the damaged files, byte for byte as the write left them, and count it in the metrics.
Each test runs its own server, since it damages the drives."""

from __future__ import annotations

import os
import time
from pathlib import Path

from conftest import DRIVES, start_server
from test_metrics import samples, signed_get, value

SIZE = 3 * 1024 * 1024 + 11
HEAL_WAIT_S = 30


def drive_folders(tmp: Path) -> list[Path]:
    """The server's drive folders, in command-line order (start_server)."""
    return [tmp / f"drive{i}" for i in range(1, DRIVES + 1)]


def object_files(drive: Path, bucket: str, key: str) -> dict[str, bytes]:
    """Every file of one object on one drive (path relative to the drive), with bytes."""
    root = drive / bucket / key
    return {str(p.relative_to(drive)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def flip_bytes(path: Path, offset: int) -> None:
    """Flips a byte of a file in place, as a failing disk would."""
    with open(path, "r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0xFF]))


def first_chunk_drive(written: list[dict[str, bytes]], data: bytes) -> int:
    """The drive holding the object's first data chunk (its part file's first record,
    after the 8-byte checksum, starts with the object's first bytes): a GET reads it."""
    for index, files in enumerate(written):
        part = next(b for p, b in files.items() if p.endswith("/part.1"))
        if part[8:8 + 4096] == data[:4096]:
            return index
    raise AssertionError("no drive holds the first data chunk")


def wait_until(check, what: str) -> float:
    """Polls `check` until it is true (at most HEAL_WAIT_S); returns the seconds taken."""
    start = time.monotonic()
    while time.monotonic() - start < HEAL_WAIT_S:
        if check():
            return time.monotonic() - start
        time.sleep(0.2)
    raise AssertionError(f"not healed within {HEAL_WAIT_S} s: {what}")


def test_damaged_files_are_healed_after_a_read(tmp_path):
    """A deleted chunk file, flipped bytes, a removed metadata record and a corrupt
    inline record, each on a drive the GET reads: it serves the right bytes, and within seconds every drive holds again
    exactly the files the PUT wrote; the heal counter says so."""
    srv = start_server(tmp_path, "http")
    try:
        s3 = srv.client()
        s3.create_bucket(Bucket="heal")
        bodies = {key: os.urandom(SIZE) for key in ("gone", "rot", "nometa")}
        bodies["small"] = b"an inline object, kept in its records"
        for key, data in bodies.items():
            s3.put_object(Bucket="heal", Key=key, Body=data)
        drives = drive_folders(tmp_path)
        written = {key: [object_files(d, "heal", key) for d in drives] for key in bodies}

        # Chunks a GET reads (the first data chunk's drive), so it finds the damage.
        at = first_chunk_drive(written["gone"], bodies["gone"])
        gone = next(p for p in written["gone"][at] if p.endswith("/part.1"))
        (drives[at] / gone).unlink()
        at = first_chunk_drive(written["rot"], bodies["rot"])
        rot = next(p for p in written["rot"][at] if p.endswith("/part.1"))
        flip_bytes(drives[at] / rot, 4096 + 17)
        flip_bytes(drives[at] / rot, 600_000)
        # Records a GET reads: it asks as few members as agreement needs, data-chunk
        # members first, so a record on another member is the scanner's to find.
        at = first_chunk_drive(written["nometa"], bodies["nometa"])
        (drives[at] / "heal/nometa/_meta").unlink()
        at = next(i for i, files in enumerate(written["small"])
                  if bodies["small"][:16] in files["heal/small/_meta"])
        flip_bytes(drives[at] / "heal/small/_meta", 30)

        for key, data in bodies.items():
            got = s3.get_object(Bucket="heal", Key=key)["Body"].read()
            assert got == data, f"{key}: wrong bytes served"

        def healed() -> bool:
            return all(object_files(d, "heal", key) == written[key][i]
                       for key in bodies for i, d in enumerate(drives))

        took = wait_until(healed, "files on disk back as written")
        print(f"healed within {took:.1f} s")
        for key, data in bodies.items():
            assert s3.get_object(Bucket="heal", Key=key)["Body"].read() == data

        def counted() -> bool:
            metrics = samples(signed_get(srv, "/minio/v2/metrics/node").text)
            return (value(metrics, "shoal_node_heal_objects_total", result="healed") >= 4
                    and value(metrics, "shoal_node_heal_backlog") == 0)

        wait_until(counted, "shoal_node_heal_objects_total{result=healed} >= 4")
        leftovers = [p for d in drives for p in (d / ".shoal/tmp").rglob("*") if p.is_file()]
        assert not leftovers, f"staged files left behind: {leftovers}"
    finally:
        assert srv.process.stop() == 0
