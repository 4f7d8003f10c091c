#!/usr/bin/env python3
"""Writes the committed seed corpus (fuzz/corpus/<target>/): a few valid inputs per
target, taken from the unit tests' examples (AWS's published SigV4/SigV2 examples,
botocore's vectors, the XML documents S3 clients send). The `records` seeds are
encoded by shoal-shards itself: this script runs `examples/record_seeds.rs`
(`cargo +nightly run --example record_seeds`), which checks every seed decodes. The
`wire_frame` and `wire_handshake` seeds are frames encoded here by the byte table of
`wire/src/frame.rs` (`wire/tests/decoder.rs` checks that they decode); the
`wire_verbs` seeds are written by shoal-wire's encoder (`examples/wire_verb_seeds.rs`),
which checks every seed decodes; the `peer_call` seeds by shoal-shards' wire form
(`examples/peer_call_seeds.rs`), which checks every seed decodes.
Deterministic, so re-running it changes nothing; run it after changing a record
layout or version."""

from __future__ import annotations

import hashlib
import hmac
import struct
import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus"

SIGV4_GET = (
    "GET /test.txt HTTP/1.1\r\nHost: examplebucket.s3.amazonaws.com\r\n"
    "Authorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
    "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
    "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41\r\n"
    "Range: bytes=0-9\r\nx-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\r\n"
    "x-amz-date: 20130524T000000Z\r\n\r\n"
)
SIGV4_PRESIGNED = (
    "GET /test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2F"
    "us-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
    "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404 HTTP/1.1\r\n"
    "Host: examplebucket.s3.amazonaws.com\r\n\r\n"
)
CHUNKED_PUT_HEAD = (
    "PUT /examplebucket/chunkObject.txt HTTP/1.1\r\nHost: s3.amazonaws.com\r\n"
    "x-amz-date: 20130524T000000Z\r\nx-amz-storage-class: REDUCED_REDUNDANCY\r\n"
    "Authorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
    "SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;"
    "x-amz-decoded-content-length;x-amz-storage-class,"
    "Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9\r\n"
    "x-amz-content-sha256: STREAMING-AWS4-HMAC-SHA256-PAYLOAD\r\nContent-Encoding: aws-chunked\r\n"
    "x-amz-decoded-content-length: {decoded}\r\nContent-Length: {length}\r\n\r\n"
)
SIGV2_GET = (
    "GET /photos/puppy.jpg HTTP/1.1\r\nHost: awsexamplebucket1.us-west-1.s3.amazonaws.com\r\n"
    "Date: Tue, 27 Mar 2007 19:36:42 +0000\r\n"
    "Authorization: AWS AKIAIOSFODNN7EXAMPLE:qgk2+6Sv9/oM7G3qLEjTH1a1l1g=\r\n\r\n"
)
SIGV2_PRESIGNED = (
    "GET /photos/puppy.jpg?AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Signature=NpgCjnDzrM%2BWFzoENXmpNDUsSn8%3D"
    "&Expires=1175139620 HTTP/1.1\r\nHost: johnsmith.s3.amazonaws.com\r\n\r\n"
)
BOTOCORE_UPLOAD_PART = (
    "PUT /bucket/photos/a%20b.jpg?uploadId=2~x%2By&partNumber=7 HTTP/1.1\r\n"
    "Host: localhost:9000\r\nContent-Type: image/jpeg\r\nContent-MD5: 1B2M2Y8AsgTpgAmY7PhCfg==\r\n"
    "X-Amz-Meta-Color:  blue \r\nx-amz-storage-class: STANDARD\r\nDate: Tue, 14 Nov 2023 22:13:20 GMT\r\n"
    "Authorization: AWS AKIAIOSFODNN7EXAMPLE:rptIJZvLZ+1lmnBI3UH8s0NDv6U=\r\nContent-Length: 0\r\n\r\n"
)
HEADS = {
    "sigv4_get": SIGV4_GET,
    "sigv4_presigned": SIGV4_PRESIGNED,
    "sigv4_chunked_put": CHUNKED_PUT_HEAD.format(decoded=1, length=180),
    "sigv2_get": SIGV2_GET,
    "sigv2_presigned": SIGV2_PRESIGNED,
    "botocore_upload_part": BOTOCORE_UPLOAD_PART,
    "list_v2": "GET /bucket?list-type=2&prefix=a%20b&delimiter=%2F&encoding-type=url HTTP/1.1\r\nHost: localhost\r\n\r\n",
    "delete_objects": "POST /bucket?delete HTTP/1.1\r\nHost: bucket.s3.example.com\r\nContent-Length: 0\r\n\r\n",
}


def chunk(data: bytes, signature: str | None = None, ext: str = "") -> bytes:
    head = f"{len(data):x}"
    if signature:
        head += f";chunk-signature={signature}"
    return (head + ext + "\r\n").encode() + data + b"\r\n"


SIG = "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648"
BODIES = {
    # (mode selector, read size, head, body); modes as fuzz_targets/body.rs numbers them.
    "content_length": (0, 7, "PUT /b/k HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n", b"hello"),
    "http_chunked_trailer": (
        0, 3, "PUT /b/k HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n",
        chunk(b"hello") + chunk(b" world", ext=";name=v") + b"0\r\nx-trailer: 1\r\n\r\n",
    ),
    "aws_chunked_signed": (
        2, 64, CHUNKED_PUT_HEAD.format(decoded=5, length="{length}"),
        chunk(b"hello", SIG) + chunk(b"", SIG),
    ),
    "aws_chunked_unsigned_trailer": (
        4, 16,
        "PUT /b/k HTTP/1.1\r\nHost: h\r\nContent-Encoding: aws-chunked\r\n"
        "x-amz-decoded-content-length: 5\r\nx-amz-trailer: x-amz-checksum-crc32c\r\n"
        "Content-Length: {length}\r\n\r\n",
        chunk(b"hello") + b"0\r\nx-amz-checksum-crc32c: mnG7TA==\r\n\r\n",
    ),
    "aws_chunked_in_http_chunked": (
        4, 5,
        "PUT /b/k HTTP/1.1\r\nHost: h\r\nContent-Encoding: aws-chunked\r\nTransfer-Encoding: chunked\r\n"
        "x-amz-decoded-content-length: 2\r\n\r\n",
        chunk(chunk(b"hi") + b"0\r\n\r\n") + b"0\r\n\r\n",
    ),
}

XML = {
    "delete": '<?xml version="1.0" encoding="UTF-8"?>\n<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
              "<Quiet>true</Quiet><Object><Key>a </Key></Object><Object><Key>a&amp;b&#13;</Key>"
              "<VersionId>v1</VersionId></Object><Object><Key><![CDATA[ <c> ]]></Key></Object></Delete>",
    "complete": "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>\"abc\"</ETag></Part>"
                "<Part><ETag>def</ETag><PartNumber>3</PartNumber><ChecksumCRC32>AAAAAA==</ChecksumCRC32></Part>"
                "</CompleteMultipartUpload>",
    "create_bucket": '<CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
                     "<LocationConstraint>eu-west-1</LocationConstraint></CreateBucketConfiguration>",
    "tagging": "<Tagging><TagSet><Tag><Key>k</Key><Value>v</Value></Tag><Tag><Key> e</Key>"
               "<Value></Value></Tag></TagSet></Tagging>",
    "tagging_header": "team=ml+ops&path=a%2Fb&empty=",
}

HEADER_VALUES = {
    "amz_date": "20130524T000000Z",
    "imf_fixdate": "Fri, 24 May 2013 00:00:00 GMT",
    "numeric_zone": "Tue, 27 Mar 2007 19:36:42 -0000",
    "rfc850": "Sunday, 06-Nov-94 08:49:37 GMT",
    "asctime": "Sun Nov  6 08:49:37 1994",
    "range": "bytes=0-9",
    "suffix_range": "bytes=-500",
    "if_match": '"abc", "def"\n*',
}

QUERIES = {
    "list": "list-type=2&prefix=a%20b&delimiter=%2F&encoding-type=url&start-after=%E2%82%AC",
    "uploads": "uploads&prefix=a%2Fb&&x=",
    "presigned": "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=86400&X-Amz-SignedHeaders=host",
}


def write(target: str, name: str, data: bytes) -> None:
    folder = CORPUS / target
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)


# The peer protocol (wire/src/frame.rs, wire/src/handshake.rs): the deployment the
# wire targets expect, and the root credentials their handshakes derive the secret from.
WIRE_DEPLOYMENT = b"fuzz-deployment!"
WIRE_ACCESS_KEY = b"AKIAIOSFODNN7EXAMPLE"
WIRE_SECRET_KEY = b"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
HELLO, CHALLENGE, PROOF, WELCOME, REFUSE, REQUEST, REPLY, CANCEL, PING, PONG = range(1, 11)
# frame.rs's PROTOCOL_VERSION (2: the Welcome tells the listener node's shard count).
WIRE_VERSION = 2


def crc64_nvme(data: bytes) -> int:
    """CRC-64/NVME, bit by bit (reflected; init and final xor all ones)."""
    crc = 0xFFFF_FFFF_FFFF_FFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x9A6C_9329_AC4B_C9B5 if crc & 1 else 0)
    return crc ^ 0xFFFF_FFFF_FFFF_FFFF


assert crc64_nvme(b"123456789") == 0xAE8B_1486_0A79_9888


def wire_frame(kind: int, body: bytes = b"", payload: bytes = b"", request_id: int = 0,
               target_shard: int = 0, deadline_ms: int = 0, flags: int = 0) -> bytes:
    """One frame: the 80-byte header of the table in frame.rs, body, payload."""
    head = b"SHWF" + struct.pack("<HBBQ", WIRE_VERSION, kind, flags, request_id) + WIRE_DEPLOYMENT
    head += struct.pack("<IIIIQ", target_shard, deadline_ms, len(body), len(payload),
                        crc64_nvme(body)) + bytes(16)
    return head + struct.pack("<Q", crc64_nvme(head)) + body + payload


def wire_proof(c_d: bytes, c_l: bytes, role: int, kind: int) -> bytes:
    secret = hmac.new(WIRE_SECRET_KEY, b"shoal peer cluster secret v1"
                      + struct.pack("<Q", len(WIRE_ACCESS_KEY)) + WIRE_ACCESS_KEY, hashlib.sha256)
    message = b"shoal peer proof v1" + WIRE_DEPLOYMENT + c_d + c_l + bytes([role, kind])
    return hmac.new(secret.digest(), message, hashlib.sha256).digest()


def write_wire_seeds() -> None:
    c_d, c_l = bytes([1] * 32), bytes([2] * 32)
    handshake = (
        wire_frame(HELLO, c_d, target_shard=3)
        + wire_frame(CHALLENGE, c_l + wire_proof(c_d, c_l, 2, CHALLENGE))
        + wire_frame(PROOF, wire_proof(c_d, c_l, 1, PROOF))
        + wire_frame(WELCOME, struct.pack("<I", 3))
    )
    verbs = (
        wire_frame(REQUEST, b"read meta", request_id=1, target_shard=2, deadline_ms=10_000)
        + wire_frame(REPLY, b"meta", bytes(range(64)), request_id=1, flags=1)
        + wire_frame(REPLY, b"", b"end", request_id=1)
        + wire_frame(CANCEL, request_id=1)
        + wire_frame(PING, request_id=9)
        + wire_frame(PONG, request_id=9)
        + wire_frame(REFUSE, b"\x02")
    )
    # wire_frame: a mode byte (bit 0: repair checksums; the rest seeds the split).
    write("wire_frame", "handshake", bytes([0]) + handshake)
    write("wire_frame", "verbs", bytes([0x2A]) + verbs)
    write("wire_frame", "verbs_repaired", bytes([0x55]) + verbs)
    write("wire_frame", "truncated", bytes([4]) + verbs[:150])
    # wire_handshake: mode 0, an attacker alone (these frames, challenges of its own);
    # odd modes, a man in the middle: challenge seeds, then one operation per frame.
    write("wire_handshake", "alone_replays", bytes([0]) + handshake)
    write("wire_handshake", "honest", bytes([1, 1, 2, 0, 0, 0, 0]))
    write("wire_handshake", "other_secret", bytes([3, 1, 2, 0, 0, 0, 0]))
    write("wire_handshake", "other_deployment", bytes([5, 1, 2, 0, 0, 0, 0]))
    write("wire_handshake", "tampered_proof", bytes([1, 1, 2, 0, 0, 1, 90, 0]))


# The golden run of shards/src/member/local/index/tests.rs (`GOLDEN_RUN`; that test keeps
# these bytes true): header (64 bytes), one block of three entries (88), footer (30).
INDEX_GOLDEN_RUN = bytes.fromhex(
    "53484f414c4944580100000001000000a0000000000000001e000000012e433a"
    "0300000000000000b3d1328e0000000000000000000000000000000000000000"
    "010003000000000c70686f746f732f612e6a7067090302020103030303030303"
    "03030303030303030303011e0722657461673322070162000702c3a903030202"
    "01070707070707070707070707070707070701460722657461673722f68daa2e"
    "400000000000000060000000030000000c0070686f746f732f612e6a7067"
)


def write_index_seeds() -> None:
    """index_run: a whole run; its entries bare (the target wraps them in a valid block);
    a clean marker naming one ready bucket (codec.rs framing, CRC-64/NVME)."""
    write("index_run", "run", INDEX_GOLDEN_RUN)
    write("index_run", "entries", INDEX_GOLDEN_RUN[64 + 6:160 - 4])
    body = bytes([0]) + struct.pack("<II", 1, 3) + b"bkt"
    framed = b"SHOALIXC" + struct.pack("<HHI", 1, 0, len(body)) + body
    write("index_run", "clean_marker", framed + struct.pack("<Q", crc64_nvme(framed)))


def main() -> None:
    for name, head in HEADS.items():
        write("http_head", name, head.encode())
        write("auth", name, head.encode())
    for name, (mode, read, head, body) in BODIES.items():
        head = head.replace("{length}", str(len(body)))
        write("body", name, bytes([mode, read]) + head.encode() + body)
    for name, text in XML.items():
        write("xml_bodies", name, text.encode())
    for name, text in HEADER_VALUES.items():
        write("headers", name, text.encode())
    for name, text in QUERIES.items():
        write("uri_query", name, text.encode())
    write_wire_seeds()
    write_index_seeds()
    # Records come from the store's own encoders, at the versions it writes today.
    subprocess.run(
        ["cargo", "+nightly", "run", "--quiet", "--example", "record_seeds"], cwd=HERE, check=True
    )
    # Verb messages come from shoal-wire's own encoder.
    subprocess.run(
        ["cargo", "+nightly", "run", "--quiet", "--example", "wire_verb_seeds"], cwd=HERE, check=True
    )
    # Peer calls and answers come from shoal-shards' wire form.
    subprocess.run(
        ["cargo", "+nightly", "run", "--quiet", "--example", "peer_call_seeds"], cwd=HERE, check=True
    )


if __name__ == "__main__":
    main()
