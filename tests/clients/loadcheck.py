"""A verifying S3 load over every node of a cluster, for the fault tests: what it proves
is that faults within parity lose no acknowledged write, serve no wrong or stale bytes
and break no listing.

Writers PUT unique keys (one body per key, so a key's content is never in doubt) with
random bodies, each writer to its own node (so writers on healthy nodes go on while
one node is faulty), and read each acknowledged PUT back from the other nodes in
turn. A lister LISTs the prefix from the nodes in turn. A *violation* is anything the
store must never do, whatever the faults: wrong bytes, a 404 for an acknowledged key,
a listing that is unsorted or repeats a key, misses a key acknowledged before it
started, names a key never written, or shows a size or ETag that is not the key's.
An *error* is a request that failed (503, a timeout, a refused connection): allowed
while a node is down, counted per node so a test can judge where they happened.

Bounds: each writer stops after `puts_max` PUTs, everything after `duration_max_s`;
`stop()` waits a bounded time for the threads.
"""

from __future__ import annotations

import hashlib
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError

from clusterutil import Cluster

PREFIX = "load/"
# Body sizes: mostly small objects, some of several chunks, a few of two stripes.
SIZES = [0, 1, 100, 4096, 10_000, 65_536, 200_000, 1_500_000]
SIZE_WEIGHTS = [1, 2, 4, 8, 8, 4, 2, 1]
# A writer whose node refuses at once waits this long before its next PUT, so it does
# not spend its PUTs in a burst of refusals.
ERROR_PAUSE_S = 0.25
# How long the final check retries a 503 or a dropped connection of one request.
SETTLE_S = 20


@dataclass
class Attempt:
    """One PUT tried: the key's only body (by digest), and when it was acknowledged."""

    sha256: str
    md5: str
    size: int
    acked_at: float | None = None


def status_of(error: Exception) -> int:
    """The HTTP status of a failed request, 0 for no answer (timeout, refused)."""
    if isinstance(error, ClientError):
        return error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    return 0


def code_of(error: Exception) -> str:
    if isinstance(error, ClientError):
        return error.response.get("Error", {}).get("Code", "")
    return type(error).__name__


class VerifyingLoad:
    """The load on `bucket` of `cluster`, run by `writers` threads and one lister."""

    def __init__(self, cluster: Cluster, bucket: str, writers: int = 8, puts_max: int = 400,
                 duration_max_s: float = 120, seed: int | None = None,
                 read_timeout_s: float = 20):
        self.cluster = cluster
        self.bucket = bucket
        self.writers = writers
        self.puts_max = puts_max
        self.duration_max_s = duration_max_s
        self.seed = seed if seed is not None else random.randrange(1 << 32)
        self.read_timeout_s = read_timeout_s
        self.attempts: dict[str, Attempt] = {}
        self.violations: list[str] = []
        self.errors: Counter = Counter()
        self.lists_checked = 0
        self.settle_retries = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # ---- running ------------------------------------------------------------------

    def start(self) -> None:
        self._deadline = time.monotonic() + self.duration_max_s
        for w in range(self.writers):
            self._threads.append(threading.Thread(target=self._writer, args=(w,), daemon=True))
        self._threads.append(threading.Thread(target=self._lister, daemon=True))
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        # A request in flight ends within its read timeout; the rest is slack.
        deadline = time.monotonic() + self.read_timeout_s * 2 + 30
        for thread in self._threads:
            thread.join(max(0.1, deadline - time.monotonic()))
            assert not thread.is_alive(), "a load thread did not stop"

    def _running(self) -> bool:
        return not self._stop.is_set() and time.monotonic() < self._deadline

    def _clients(self) -> dict[int, object]:
        return {i: self.cluster.client(i, read_timeout_s=self.read_timeout_s)
                for i in range(1, self.cluster.nodes + 1)}

    def _writer(self, w: int) -> None:
        rng = random.Random(self.seed * 1000 + w)
        clients = self._clients()
        nodes = self.cluster.nodes
        writer_node = w % nodes + 1
        for seq in range(self.puts_max):
            if not self._running():
                return
            reader_node = (writer_node + seq % max(1, nodes - 1)) % nodes + 1
            key = f"{PREFIX}w{w}/{seq:06d}"
            body = rng.randbytes(rng.choices(SIZES, SIZE_WEIGHTS)[0])
            attempt = Attempt(hashlib.sha256(body).hexdigest(), hashlib.md5(body).hexdigest(),
                              len(body))
            with self._lock:
                self.attempts[key] = attempt
            try:
                clients[writer_node].put_object(Bucket=self.bucket, Key=key, Body=body)
            except (ClientError, BotoCoreError) as error:
                self._error("put", writer_node, error)
                self._stop.wait(ERROR_PAUSE_S)
                continue
            with self._lock:
                attempt.acked_at = time.monotonic()
            self._read_back(clients[reader_node], reader_node, key, attempt)

    def _read_back(self, client, node: int, key: str, attempt: Attempt) -> None:
        try:
            got = client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except (ClientError, BotoCoreError) as error:
            if status_of(error) == 404:
                self._violation(f"node {node}: acknowledged {key} answered 404 {code_of(error)}")
            else:
                self._error("get", node, error)
            return
        if hashlib.sha256(got).hexdigest() != attempt.sha256:
            self._violation(f"node {node}: {key} read back {len(got)} wrong bytes "
                            f"(wrote {attempt.size})")

    def _lister(self) -> None:
        clients = self._clients()
        turn = 0
        while self._running():
            node = turn % self.cluster.nodes + 1
            turn += 1
            self.check_listing(clients[node], node)
            self._stop.wait(0.5)

    # ---- judging ------------------------------------------------------------------

    def check_listing(self, client, node: int) -> None:
        """One full LIST of the prefix on `node`, checked against what was written; a
        LIST that fails is an error (the node may be the faulty one)."""
        with self._lock:
            acked_before = self._acked_keys()
        try:
            listed = list_all(client, self.bucket, PREFIX)
        except (ClientError, BotoCoreError) as error:
            self._error("list", node, error)
            return
        self._judge_listing(node, listed, acked_before)

    def _judge_listing(self, node: int, listed: list[dict], acked_before: set[str]) -> None:
        with self._lock:
            attempts = dict(self.attempts)
            self.lists_checked += 1
        keys = [entry["Key"] for entry in listed]
        if keys != sorted(set(keys)):
            self._violation(f"node {node}: LIST is unsorted or repeats keys")
        for entry in listed:
            attempt = attempts.get(entry["Key"])
            if attempt is None:
                self._violation(f"node {node}: LIST names {entry['Key']}, never written")
            elif entry["Size"] != attempt.size or entry["ETag"].strip('"') != attempt.md5:
                self._violation(f"node {node}: LIST shows {entry['Key']} with size "
                                f"{entry['Size']} ETag {entry['ETag']}, not {attempt.size} "
                                f"\"{attempt.md5}\"")
        missing = sorted(acked_before - set(keys))
        if missing:
            self._violation(f"node {node}: LIST misses {len(missing)} acknowledged key(s), "
                            f"e.g. {missing[:3]}")

    def _acked_keys(self) -> set[str]:
        return {k for k, a in self.attempts.items() if a.acked_at is not None}

    def verify_everything(self) -> None:
        """Once the load stopped and every node is green: every acknowledged key reads
        back exactly (from the nodes in turn), every PUT that failed left either nothing
        or exactly its body, and every node's LIST is right. A 503 or a dropped
        connection is retried for up to SETTLE_S (a node just back may still be
        reconnecting; counted in `settle_retries`); anything else, or a failure past
        that, is a violation."""
        clients = self._clients()
        nodes = self.cluster.nodes
        for n, (key, attempt) in enumerate(sorted(self.attempts.items())):
            node = n % nodes + 1
            got, error = self._settled(
                lambda: clients[node].get_object(Bucket=self.bucket, Key=key)["Body"].read())
            if error is not None:
                if attempt.acked_at is not None or status_of(error) != 404:
                    self._violation(f"node {node}: {key} (acked: {attempt.acked_at is not None}) "
                                    f"after recovery: {code_of(error)} {error}")
            elif hashlib.sha256(got).hexdigest() != attempt.sha256:
                self._violation(f"node {node}: {key} after recovery: {len(got)} wrong bytes")
        acked = self._acked_keys()
        for node in range(1, nodes + 1):
            listed, error = self._settled(lambda: list_all(clients[node], self.bucket, PREFIX))
            if error is not None:
                self._violation(f"node {node}: LIST after recovery: {error}")
            else:
                self._judge_listing(node, listed, acked)

    def _settled(self, call):
        """(result, None), or (None, error) once the error is not transient or SETTLE_S
        has passed."""
        deadline = time.monotonic() + SETTLE_S
        while True:
            try:
                return call(), None
            except (ClientError, BotoCoreError) as error:
                if status_of(error) not in (0, 503) or time.monotonic() >= deadline:
                    return None, error
                with self._lock:
                    self.settle_retries += 1
                time.sleep(0.5)

    def acked_between(self, start: float, end: float) -> int:
        with self._lock:
            return sum(1 for a in self.attempts.values()
                       if a.acked_at is not None and start <= a.acked_at <= end)

    def acked_count(self) -> int:
        with self._lock:
            return sum(1 for a in self.attempts.values() if a.acked_at is not None)

    def wait_acked(self, count: int, within_s: float) -> None:
        deadline = time.monotonic() + within_s
        while self.acked_count() < count:
            assert time.monotonic() < deadline, (
                f"only {self.acked_count()} PUTs acknowledged after {within_s}s; "
                f"{self.summary()}\n{self.cluster.describe()}")
            time.sleep(0.1)

    def summary(self) -> str:
        with self._lock:
            acked = sum(1 for a in self.attempts.values() if a.acked_at is not None)
            return (f"seed {self.seed}: {len(self.attempts)} PUTs tried, {acked} acknowledged, "
                    f"{self.lists_checked} LISTs checked; errors {dict(self.errors)}; "
                    f"final check retried {self.settle_retries} transient failure(s)")

    def assert_clean(self) -> None:
        assert not self.violations, (
            f"{len(self.violations)} violation(s):\n" + "\n".join(self.violations[:20])
            + f"\n{self.summary()}\n{self.cluster.describe()}")

    def _violation(self, what: str) -> None:
        with self._lock:
            self.violations.append(what)

    def _error(self, op: str, node: int, error: Exception) -> None:
        with self._lock:
            self.errors[f"{op}@n{node}:{status_of(error) or code_of(error)}"] += 1


def list_all(client, bucket: str, prefix: str, pages_max: int = 100) -> list[dict]:
    """Every entry of a ListObjectsV2 under `prefix`, page by page (bounded)."""
    entries: list[dict] = []
    token = None
    for _ in range(pages_max):
        args = {"Bucket": bucket, "Prefix": prefix}
        if token:
            args["ContinuationToken"] = token
        page = client.list_objects_v2(**args)
        entries.extend(page.get("Contents", []))
        if not page.get("IsTruncated"):
            return entries
        token = page["NextContinuationToken"]
    raise AssertionError(f"LIST of {bucket}/{prefix} longer than {pages_max} pages")
