"""Object and bucket tagging through boto3 and the AWS CLI: the tag calls, tags set on
PUT, copy and multipart create, the tag count on GET/HEAD, and S3's limits."""

from __future__ import annotations

import pytest

from s3util import client_error

pytestmark = pytest.mark.above_transport


def tag_set(pairs: dict[str, str]) -> dict:
    return {"TagSet": [{"Key": k, "Value": v} for k, v in pairs.items()]}


def tags_of(s3, bucket: str, key: str) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]}


def test_object_tagging_calls(s3, bucket):
    """Put, get and delete object tags; the bytes, ETag and Last-Modified stay."""
    s3.put_object(Bucket=bucket, Key="k", Body=b"payload")
    before = s3.head_object(Bucket=bucket, Key="k")
    assert tags_of(s3, bucket, "k") == {}
    assert "x-amz-tagging-count" not in before["ResponseMetadata"]["HTTPHeaders"]
    s3.put_object_tagging(Bucket=bucket, Key="k", Tagging=tag_set({"team": "ml", "tier": "hot"}))
    assert tags_of(s3, bucket, "k") == {"team": "ml", "tier": "hot"}
    after = s3.head_object(Bucket=bucket, Key="k")
    assert after["ResponseMetadata"]["HTTPHeaders"]["x-amz-tagging-count"] == "2"
    assert (after["ETag"], after["LastModified"]) == (before["ETag"], before["LastModified"])
    got = s3.get_object(Bucket=bucket, Key="k")
    assert got["TagCount"] == 2 and got["Body"].read() == b"payload"
    s3.put_object_tagging(Bucket=bucket, Key="k", Tagging=tag_set({"only": "one"}))
    assert tags_of(s3, bucket, "k") == {"only": "one"}
    status = s3.delete_object_tagging(Bucket=bucket, Key="k")["ResponseMetadata"]["HTTPStatusCode"]
    assert status == 204
    assert tags_of(s3, bucket, "k") == {}
    with client_error(404, "NoSuchKey"):
        s3.get_object_tagging(Bucket=bucket, Key="absent")
    with client_error(404, "NoSuchKey"):
        s3.put_object_tagging(Bucket=bucket, Key="absent", Tagging=tag_set({"a": "b"}))


def test_tags_on_put_copy_and_multipart(s3, bucket):
    """x-amz-tagging on PutObject, the tagging directive of CopyObject, and tags given
    to CreateMultipartUpload all end up on the object; an overwrite drops old tags."""
    s3.put_object(Bucket=bucket, Key="src", Body=b"x", Tagging="a=1&b=two%20words")
    assert tags_of(s3, bucket, "src") == {"a": "1", "b": "two words"}
    s3.copy_object(Bucket=bucket, Key="copied", CopySource=f"{bucket}/src")
    assert tags_of(s3, bucket, "copied") == {"a": "1", "b": "two words"}
    s3.copy_object(Bucket=bucket, Key="replaced", CopySource=f"{bucket}/src",
                   TaggingDirective="REPLACE", Tagging="c=3")
    assert tags_of(s3, bucket, "replaced") == {"c": "3"}
    s3.put_object(Bucket=bucket, Key="src", Body=b"y")
    assert tags_of(s3, bucket, "src") == {}
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mpu", Tagging="m=p")["UploadId"]
    part = s3.upload_part(Bucket=bucket, Key="mpu", UploadId=upload, PartNumber=1, Body=b"z")
    s3.complete_multipart_upload(Bucket=bucket, Key="mpu", UploadId=upload, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
    assert tags_of(s3, bucket, "mpu") == {"m": "p"}


def test_tag_limits(s3, bucket):
    """More than 10 tags, a key over 128 or a value over 256 characters, or a repeated
    key is InvalidTag, on the call and on the header; nothing changes."""
    s3.put_object(Bucket=bucket, Key="k", Body=b"v", Tagging="keep=1")
    bad_sets = [
        {f"k{i}": "v" for i in range(11)},
        {"k" * 129: "v"},
        {"k": "v" * 257},
    ]
    for bad in bad_sets:
        with client_error(400, "InvalidTag"):
            s3.put_object_tagging(Bucket=bucket, Key="k", Tagging=tag_set(bad))
    with client_error(400, "InvalidTag"):
        s3.put_object_tagging(Bucket=bucket, Key="k", Tagging={"TagSet": [
            {"Key": "a", "Value": "1"}, {"Key": "a", "Value": "2"}]})
    with client_error(400, "InvalidTag"):
        s3.put_object(Bucket=bucket, Key="k2", Body=b"v",
                      Tagging="&".join(f"k{i}=v" for i in range(11)))
    assert tags_of(s3, bucket, "k") == {"keep": "1"}
    # Exactly at the limits is fine.
    edge = {f"k{i}": "v" for i in range(9)} | {"k" * 128: "v" * 256}
    s3.put_object_tagging(Bucket=bucket, Key="k", Tagging=tag_set(edge))
    assert tags_of(s3, bucket, "k") == edge


def test_bucket_tagging(s3, bucket):
    """Bucket tags: NoSuchTagSet until set, replaced whole, removed; up to 50 tags."""
    with client_error(404, "NoSuchTagSet"):
        s3.get_bucket_tagging(Bucket=bucket)
    s3.put_bucket_tagging(Bucket=bucket, Tagging=tag_set({"cost-center": "42"}))
    many = {f"k{i}": str(i) for i in range(50)}
    s3.put_bucket_tagging(Bucket=bucket, Tagging=tag_set(many))
    got = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=bucket)["TagSet"]}
    assert got == many
    with client_error(400, "InvalidTag"):
        s3.put_bucket_tagging(Bucket=bucket, Tagging=tag_set({f"k{i}": "v" for i in range(51)}))
    s3.delete_bucket_tagging(Bucket=bucket)
    with client_error(404, "NoSuchTagSet"):
        s3.get_bucket_tagging(Bucket=bucket)
    with client_error(404, "NoSuchBucket"):
        s3.get_bucket_tagging(Bucket="no-such-bucket-here")
