"""Helpers shared by the client tests: hand-signed raw requests (for what boto3 refuses
to send), error assertions that show the response, a model of S3 listing order, and
checksums computed locally to compare with what the server reports."""

from __future__ import annotations

import base64
import datetime
import hashlib
import socket
import ssl
import xml.etree.ElementTree as ET
import zlib
from contextlib import contextmanager
from unittest import mock
from urllib.parse import quote, urlsplit

import pytest
import requests
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

S3_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


class _Signer(S3SigV4Auth):
    """SigV4 for S3 whose payload hash can be forced (to send a lying one)."""

    def __init__(self, credentials, payload_hash: str | None):
        super().__init__(credentials, "s3", "us-east-1")
        self._payload_hash = payload_hash

    def payload(self, request):
        if self._payload_hash is not None:
            return self._payload_hash
        return hashlib.sha256(request.body or b"").hexdigest()


@contextmanager
def _clock(skew: datetime.timedelta | None):
    if skew is None:
        yield
        return
    when = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) + skew
    with mock.patch("botocore.auth.get_current_datetime", return_value=when):
        yield


def signed_headers(server, method: str, path: str, query: str = "", body: bytes = b"",
                   headers: dict | None = None, *, access_key: str | None = None,
                   secret_key: str | None = None, payload_hash: str | None = None,
                   skew: datetime.timedelta | None = None) -> tuple[str, dict]:
    """Returns (url, headers) for a SigV4-signed request. `path` must already be
    URI-encoded; it is sent exactly as given."""
    url = f"{server.endpoint}{path}" + (f"?{query}" if query else "")
    request = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
    credentials = Credentials(access_key or server.access_key, secret_key or server.secret_key)
    with _clock(skew):
        _Signer(credentials, payload_hash).add_auth(request)
    return url, dict(request.headers.items())


def raw(server, method: str, path: str, query: str = "", body: bytes = b"",
        headers: dict | None = None, timeout: float = 10, **sign) -> requests.Response:
    """Sends one hand-signed request with `requests` (no retries, no client checks)."""
    url, signed = signed_headers(server, method, path, query, body, headers, **sign)
    return requests.request(method, url, data=body, headers=signed, verify=server.verify,
                            timeout=timeout, allow_redirects=False)


def error_code(response: requests.Response) -> str | None:
    try:
        root = ET.fromstring(response.content)
    except ET.ParseError:
        return None
    code = root.find("Code")
    return code.text if code is not None else None


def assert_raw_error(response: requests.Response, status: int, code: str) -> None:
    """The response is the S3 error `code` with HTTP `status`; shows the body otherwise."""
    got = error_code(response)
    assert (response.status_code, got) == (status, code), (
        f"{response.request.method} {response.request.url}: expected {status} {code}, "
        f"got {response.status_code} {got}\nheaders: {dict(response.headers)}\n"
        f"body: {response.content[:2000]!r}"
    )


@contextmanager
def client_error(status: int, code: str):
    """Expects the block to raise botocore ClientError with this code and HTTP status."""
    with pytest.raises(ClientError) as caught:
        yield caught
    err = caught.value.response
    got = (err["ResponseMetadata"].get("HTTPStatusCode"), err.get("Error", {}).get("Code"))
    assert got == (status, code), f"expected {status} {code}, got {got}: {err}"


def assert_absent(s3, bucket: str, key: str) -> None:
    """The key is neither readable nor listed (a refused PUT left nothing behind)."""
    with client_error(404, "404"):
        s3.head_object(Bucket=bucket, Key=key)
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=key[:200])
    keys = [o["Key"] for o in listed.get("Contents", [])]
    assert key not in keys, f"refused object {key!r} is listed: {keys}"


def path_of(bucket: str, key: str = "") -> str:
    return f"/{bucket}/{quote(key, safe='/~')}" if key else f"/{bucket}"


def raw_socket_exchange(server, head: bytes, body_prefix: bytes = b"",
                        timeout_s: float = 10) -> bytes:
    """Writes a request head (and maybe some body bytes) on a fresh socket, then reads
    whatever the server answers until it closes, the response is complete or time runs
    out. Returns the bytes read (b"" if the server said nothing)."""
    sock = open_socket(server, timeout_s)
    try:
        sock.sendall(head)
        try:
            sock.sendall(body_prefix)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            pass  # The server may refuse and close before the body: its answer counts.
        return read_until_complete(sock)
    finally:
        sock.close()


def open_socket(server, timeout_s: float = 10):
    """A connected socket to the server, TLS-wrapped (and verified) in HTTPS mode."""
    host, port = urlsplit(server.endpoint).hostname, urlsplit(server.endpoint).port
    sock = socket.create_connection((host, port), timeout=timeout_s)
    if server.https:
        context = ssl.create_default_context(cafile=server.cert_path)
        sock = context.wrap_socket(sock, server_hostname=host)
    return sock


def read_until_complete(sock, received: bytes = b"") -> bytes:
    """Reads until one response with a Content-Length is complete, EOF or timeout."""
    while not _response_complete(received):
        try:
            chunk = sock.recv(65536)
        except (socket.timeout, ConnectionResetError, ssl.SSLError):
            break
        if not chunk:
            break
        received += chunk
    return received


def _response_complete(data: bytes) -> bool:
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value.strip())
    return False


def parse_raw_response(data: bytes) -> tuple[int, dict, bytes]:
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, body


# ---- listing model -------------------------------------------------------------------

def model_listing(keys, prefix: str = "", delimiter: str | None = None,
                  after: str = "") -> list[tuple[str, bool]]:
    """S3's answer to a full listing as (name, is_common_prefix), in order: keys after
    `after` under `prefix`, rolled up at the first `delimiter` past the prefix.
    Not modelled (AWS's answer is not documented): `after` strictly inside a common
    prefix; tests do not ask for it."""
    entries, seen = [], set()
    for key in sorted(keys, key=lambda k: k.encode()):
        if not key.startswith(prefix) or key.encode() <= after.encode():
            continue
        if delimiter:
            cut = key.find(delimiter, len(prefix))
            if cut >= 0:
                rolled = key[: cut + len(delimiter)]
                # A marker equal to a common prefix (v1 NextMarker) skips that prefix.
                if rolled not in seen and rolled.encode() > after.encode():
                    seen.add(rolled)
                    entries.append((rolled, True))
                continue
        entries.append((key, False))
    return entries


def page_entries(page: dict) -> list[tuple[str, bool]]:
    """A list page's keys and common prefixes merged in S3 order."""
    names = [(o["Key"], False) for o in page.get("Contents", [])]
    names += [(p["Prefix"], True) for p in page.get("CommonPrefixes", [])]
    return sorted(names, key=lambda e: e[0].encode())


# ---- checksums -------------------------------------------------------------------------

def _b64(raw_digest: bytes) -> str:
    return base64.b64encode(raw_digest).decode()


def checksum_of(algorithm: str, data: bytes) -> str:
    """The base64 checksum value S3 reports for `data` under `algorithm`."""
    if algorithm == "CRC32":
        return _b64(zlib.crc32(data).to_bytes(4, "big"))
    if algorithm == "CRC32C":
        from awscrt import checksums
        return _b64(checksums.crc32c(data).to_bytes(4, "big"))
    if algorithm == "CRC64NVME":
        from awscrt import checksums
        return _b64(checksums.crc64nvme(data).to_bytes(8, "big"))
    if algorithm == "SHA1":
        return _b64(hashlib.sha1(data).digest())
    if algorithm == "SHA256":
        return _b64(hashlib.sha256(data).digest())
    raise ValueError(algorithm)


def md5_b64(data: bytes) -> str:
    return _b64(hashlib.md5(data).digest())


def etag_of(data: bytes) -> str:
    return f'"{hashlib.md5(data).hexdigest()}"'
