"""CopyObject, conditional writes and the default (SigV2) presigner, as boto3 uses them."""

from __future__ import annotations

import random
import threading
import urllib.request

import pytest

from s3util import assert_absent, client_error

pytestmark = pytest.mark.above_transport


def data(size: int, seed: int = 3) -> bytes:
    return random.Random(seed + size).randbytes(size)


def test_copy_object_keeps_or_replaces_metadata(s3, bucket):
    """COPY keeps the source's metadata and bytes; REPLACE swaps the metadata only."""
    body = data(3_000_001)
    s3.put_object(Bucket=bucket, Key="src/a b", Body=body, Metadata={"a": "1"}, ContentType="text/x")
    result = s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src/a b"})
    assert result["CopyObjectResult"]["ETag"] == s3.head_object(Bucket=bucket, Key="dst")["ETag"]
    head = s3.head_object(Bucket=bucket, Key="dst")
    assert (head["Metadata"], head["ContentType"]) == ({"a": "1"}, "text/x")
    assert s3.get_object(Bucket=bucket, Key="dst")["Body"].read() == body
    s3.copy_object(Bucket=bucket, Key="dst", CopySource=f"{bucket}/dst",
                   MetadataDirective="REPLACE", Metadata={"b": "2"}, ContentType="text/y")
    head = s3.head_object(Bucket=bucket, Key="dst")
    assert (head["Metadata"], head["ContentType"]) == ({"b": "2"}, "text/y")
    assert s3.get_object(Bucket=bucket, Key="dst")["Body"].read() == body


def test_copy_refusals(s3, bucket):
    """Self-copy without changes is InvalidRequest; failing source conditions are 412."""
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    etag = s3.head_object(Bucket=bucket, Key="k")["ETag"]
    with client_error(400, "InvalidRequest"):
        s3.copy_object(Bucket=bucket, Key="k", CopySource=f"{bucket}/k")
    with client_error(412, "PreconditionFailed"):
        s3.copy_object(Bucket=bucket, Key="k2", CopySource=f"{bucket}/k", CopySourceIfMatch='"0000"')
    with client_error(412, "PreconditionFailed"):
        s3.copy_object(Bucket=bucket, Key="k2", CopySource=f"{bucket}/k", CopySourceIfNoneMatch=etag)
    assert_absent(s3, bucket, "k2")
    s3.copy_object(Bucket=bucket, Key="k2", CopySource=f"{bucket}/k", CopySourceIfMatch=etag)
    with client_error(404, "NoSuchKey"):
        s3.copy_object(Bucket=bucket, Key="k3", CopySource=f"{bucket}/absent")


def test_conditional_put_and_delete(s3, bucket):
    """If-None-Match: * creates only once; If-Match replaces or deletes only that ETag."""
    first = s3.put_object(Bucket=bucket, Key="c", Body=b"1", IfNoneMatch="*")["ETag"]
    with client_error(412, "PreconditionFailed"):
        s3.put_object(Bucket=bucket, Key="c", Body=b"2", IfNoneMatch="*")
    with client_error(412, "PreconditionFailed"):
        s3.put_object(Bucket=bucket, Key="c", Body=b"2", IfMatch='"0123"')
    second = s3.put_object(Bucket=bucket, Key="c", Body=b"2", IfMatch=first)["ETag"]
    with client_error(412, "PreconditionFailed"):
        s3.delete_object(Bucket=bucket, Key="c", IfMatch=first)
    s3.delete_object(Bucket=bucket, Key="c", IfMatch=second)
    assert_absent(s3, bucket, "c")


def test_racing_creators_exactly_one_wins(server, s3, bucket):
    """32 If-None-Match: * creators of one key on separate connections (and shards):
    exactly one 200, the rest 412 (or 409 while one is in flight), winner's bytes stored."""
    results: dict[int, str] = {}

    def create(i: int) -> None:
        client = server.client()
        try:
            client.put_object(Bucket=bucket, Key="race", Body=data(100_000, i), IfNoneMatch="*")
            results[i] = "ok"
        except client.exceptions.ClientError as e:
            results[i] = e.response["Error"]["Code"]

    threads = [threading.Thread(target=create, args=(i,)) for i in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [i for i, r in results.items() if r == "ok"]
    assert len(winners) == 1, results
    assert all(r in ("ok", "PreconditionFailed", "ConditionalRequestConflict") for r in results.values()), results
    assert s3.get_object(Bucket=bucket, Key="race")["Body"].read() == data(100_000, winners[0])


def test_default_presigned_url(server, s3, bucket):
    """boto3's default presigned URL (SigV2 against a custom endpoint) downloads the object."""
    s3.put_object(Bucket=bucket, Key="p q", Body=b"presigned")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "p q"}, ExpiresIn=60)
    assert "AWSAccessKeyId=" in url
    context = None
    if server.cert_path:
        import ssl
        context = ssl.create_default_context(cafile=server.cert_path)
    assert urllib.request.urlopen(url, context=context).read() == b"presigned"
