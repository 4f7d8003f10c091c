"""The server as a process: each mode really runs what it claims (TLS, epoll driver,
two shards), fresh connections spread over both shards, and the banner says where the
credentials come from."""

from __future__ import annotations

import ssl
import socket

from conftest import SHARDS
from s3util import signed_headers


def test_banner_describes_the_mode(server):
    """The banner names the endpoint scheme, the shard count, the driver and env credentials."""
    banner = server.process.stdout
    assert server.process.lines[0].startswith("Shoal "), banner
    assert f"S3 API at {server.endpoint}" in banner, banner
    assert f"shards:   {SHARDS} " in banner, banner
    assert "credentials: from SHOAL_ROOT_USER / SHOAL_ROOT_PASSWORD" in banner, banner
    assert server.secret_key not in banner, "the banner printed the secret from the environment"
    if server.mode == "epoll":
        assert "I/O driver: epoll" in banner, banner


def test_https_serves_the_given_certificate(server):
    """Over HTTPS the server presents the test certificate; over HTTP it speaks plain HTTP."""
    if not server.https:
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert sock.recv(16).startswith(b"HTTP/1.1 "), "plain HTTP expected"
        return
    context = ssl.create_default_context(cafile=server.cert_path)
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        with context.wrap_socket(sock, server_hostname="127.0.0.1") as tls:
            cert = tls.getpeercert()
            assert ("IP Address", "127.0.0.1") in cert["subjectAltName"], cert


def test_requests_reach_both_shards(server, bucket):
    """Over 32 fresh connections (boto3 clients and requests sessions), x-amz-request-id
    shows both shard prefixes 00 and 01 and nothing else."""
    ids = []
    for i in range(32):
        if i % 8 == 0:
            # A new boto3 client is a new connection pool, so a new connection. (Few of
            # them: building a client costs ~0.3 s of CPU.)
            client = server.client()
            response = client.head_bucket(Bucket=bucket)
            ids.append(response["ResponseMetadata"]["HTTPHeaders"]["x-amz-request-id"])
            client.close()
        else:
            url, headers = signed_headers(server, "HEAD", f"/{bucket}")
            with server.session() as session:
                response = session.head(url, headers=headers, timeout=10)
            assert response.status_code == 200, (response.status_code, response.headers)
            ids.append(response.headers["x-amz-request-id"])
    prefixes = {request_id[:2] for request_id in ids}
    assert {"00", "01"} <= prefixes, f"shard prefixes seen: {sorted(prefixes)} in {ids}"
    assert prefixes <= {"00", "01"}, f"unknown shard prefixes: {sorted(prefixes)} in {ids}"
    assert len(set(ids)) == len(ids), f"request ids repeat: {ids}"


def test_one_connection_keeps_its_shard(server, bucket):
    """Requests on one kept-alive connection are all served by the same shard."""
    client = server.client()
    seen = {client.head_bucket(Bucket=bucket)["ResponseMetadata"]["HTTPHeaders"]
            ["x-amz-request-id"][:2] for _ in range(10)}
    client.close()
    assert len(seen) == 1, seen
