"""Text kept exactly as S3 keeps it: DeleteObjects and tagging documents are read
without trimming (a key "a " is not "a"), entities decoded once; and listings with
encoding-type=url percent-encode a space as %20, never "+"."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from s3util import S3_NS, raw

pytestmark = pytest.mark.above_transport


def _keys(s3, bucket: str) -> list[str]:
    return [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]


def test_delete_objects_deletes_only_the_exact_keys(s3, bucket):
    """DeleteObjects naming "a ", " a", "a\\n" and "a&b" deletes exactly those keys and
    leaves "a", "ab" and "a&amp;b" (their trimmed or twice-decoded look-alikes) alone."""
    targets = ["a ", " a", "a\n", "a&b"]
    survivors = ["a", "ab", "a&amp;b"]
    for key in targets + survivors:
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    answer = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in targets]})
    assert sorted(d["Key"] for d in answer.get("Deleted", [])) == sorted(targets), answer
    assert not answer.get("Errors"), answer
    assert _keys(s3, bucket) == sorted(survivors)
    for key in survivors:
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == key.encode()


def test_tags_keep_their_whitespace(s3, bucket):
    """PutObjectTagging with a key " k" and a value "v " reads back exactly."""
    s3.put_object(Bucket=bucket, Key="tagged", Body=b"x")
    tag_set = [{"Key": " k", "Value": "v "}, {"Key": "a&b", "Value": "<\t>"}]
    s3.put_object_tagging(Bucket=bucket, Key="tagged", Tagging={"TagSet": tag_set})
    got = s3.get_object_tagging(Bucket=bucket, Key="tagged")["TagSet"]
    assert sorted(got, key=lambda t: t["Key"]) == sorted(tag_set, key=lambda t: t["Key"])


def _raw_texts(server, path: str, query: str, element: str) -> list[str]:
    response = raw(server, "GET", path, query)
    assert response.status_code == 200, response.content
    root = ET.fromstring(response.content)
    return [e.text or "" for e in root.iter(f"{S3_NS}{element}")]


def test_url_encoding_writes_space_as_percent_20(server, s3, bucket):
    """Keys holding a space and a "+" round-trip through boto3's list_objects_v2 (which
    asks for encoding-type=url and decodes), and on the wire every listing writes the
    space as %20 and the plus as %2B: keys, prefixes, markers and upload keys."""
    keys = ["a b+c", "d e/f", "plus+only"]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    assert _keys(s3, bucket) == sorted(keys)
    rolled = s3.list_objects_v2(Bucket=bucket, Delimiter="/", Prefix="")
    assert [p["Prefix"] for p in rolled["CommonPrefixes"]] == ["d e/"]

    v2 = "delimiter=%2F&encoding-type=url&list-type=2&prefix=&start-after=a%20"
    assert _raw_texts(server, f"/{bucket}", v2, "Key") == ["a%20b%2Bc", "plus%2Bonly"]
    assert _raw_texts(server, f"/{bucket}", v2, "StartAfter") == ["a%20"]
    prefixes = [p for p in _raw_texts(server, f"/{bucket}", v2, "Prefix") if p]
    assert prefixes == ["d%20e/"]
    v1 = "delimiter=%2F&encoding-type=url&marker=a%20&max-keys=1"
    assert _raw_texts(server, f"/{bucket}", v1, "Marker") == ["a%20"]
    assert _raw_texts(server, f"/{bucket}", v1, "NextMarker") == ["a%20b%2Bc"]

    upload = s3.create_multipart_upload(Bucket=bucket, Key="u p+q")["UploadId"]
    try:
        uploads = _raw_texts(server, f"/{bucket}", "encoding-type=url&uploads=", "Key")
        assert uploads == ["u%20p%2Bq"]
        listed = s3.list_multipart_uploads(Bucket=bucket)["Uploads"]
        assert [u["Key"] for u in listed] == ["u p+q"]
    finally:
        s3.abort_multipart_upload(Bucket=bucket, Key="u p+q", UploadId=upload)
