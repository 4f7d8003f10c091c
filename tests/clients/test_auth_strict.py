"""Authentication as strict and as complete as S3's: numbers in auth parse as plain
digits (a presigned X-Amz-Expires of "+5" is refused), and SigV2, which older tools
still send, works for bucket-level calls, accepts every RFC 7231 date form, and answers
a skewed clock with RequestTimeTooSkewed."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import uuid
from email.utils import formatdate

import pytest
import requests
from botocore.auth import S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from s3util import assert_raw_error

pytestmark = pytest.mark.above_transport


def _presigned_v4(server, path: str, expires: str) -> str:
    """A SigV4 presigned GET, validly signed over `expires` exactly as given."""
    request = AWSRequest(method="GET", url=f"{server.endpoint}{path}")
    credentials = Credentials(server.access_key, server.secret_key)
    S3SigV4QueryAuth(credentials, "s3", "us-east-1", expires=expires).add_auth(request)
    return request.url


def test_presigned_expires_must_be_plain_digits(server, s3, bucket):
    """X-Amz-Expires "+5" or " 5", signed or edited into a working URL, is 400
    AuthorizationQueryParametersError; "5" itself downloads the object."""
    s3.put_object(Bucket=bucket, Key="k", Body=b"body")
    session = server.session()
    good = _presigned_v4(server, f"/{bucket}/k", "5")
    assert session.get(good, timeout=10).content == b"body"
    edited = good.replace("X-Amz-Expires=5", "X-Amz-Expires=%2B5")
    assert edited != good
    for url in [_presigned_v4(server, f"/{bucket}/k", "+5"),
                _presigned_v4(server, f"/{bucket}/k", " 5"), edited]:
        assert_raw_error(session.get(url, timeout=10), 400, "AuthorizationQueryParametersError")


@pytest.fixture
def v2(server):
    """A boto3 client that signs with SigV2 (botocore's legacy HmacV1Auth)."""
    return server.client(Config(signature_version="s3", s3={"addressing_style": "path"}))


def test_sigv2_bucket_and_object_calls(v2):
    """With SigV2, every bucket-level call (create, head, list v1/v2, location, tagging,
    uploads, delete of many keys, delete) and object-level call (put, head, get with a
    response-* override, copy, multipart with uploadId/partNumber, delete) succeeds."""
    bucket = f"v2-{uuid.uuid4().hex[:16]}"
    v2.create_bucket(Bucket=bucket)
    v2.head_bucket(Bucket=bucket)
    v2.put_object(Bucket=bucket, Key="dir/a b", Body=b"hello")
    assert v2.head_object(Bucket=bucket, Key="dir/a b")["ContentLength"] == 5
    got = v2.get_object(Bucket=bucket, Key="dir/a b", ResponseContentType="text/x-test")
    assert got["ContentType"] == "text/x-test" and got["Body"].read() == b"hello"
    assert [o["Key"] for o in v2.list_objects_v2(Bucket=bucket)["Contents"]] == ["dir/a b"]
    assert v2.list_objects(Bucket=bucket, Delimiter="/")["CommonPrefixes"] == [{"Prefix": "dir/"}]
    v2.get_bucket_location(Bucket=bucket)
    v2.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": "k", "Value": "v"}]})
    assert v2.get_bucket_tagging(Bucket=bucket)["TagSet"] == [{"Key": "k", "Value": "v"}]
    v2.delete_bucket_tagging(Bucket=bucket)
    v2.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "dir/a b"})
    upload = v2.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    assert [u["Key"] for u in v2.list_multipart_uploads(Bucket=bucket)["Uploads"]] == ["mp"]
    etag = v2.upload_part(Bucket=bucket, Key="mp", UploadId=upload, PartNumber=1, Body=b"p")["ETag"]
    assert [p["PartNumber"] for p in v2.list_parts(Bucket=bucket, Key="mp", UploadId=upload)["Parts"]] == [1]
    v2.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload,
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
    assert v2.get_object(Bucket=bucket, Key="mp", PartNumber=1)["Body"].read() == b"p"
    v2.put_object_tagging(Bucket=bucket, Key="mp", Tagging={"TagSet": [{"Key": "t", "Value": "1"}]})
    assert v2.get_object_tagging(Bucket=bucket, Key="mp")["TagSet"] == [{"Key": "t", "Value": "1"}]
    deleted = v2.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "copy"}, {"Key": "mp"}]})
    assert sorted(d["Key"] for d in deleted["Deleted"]) == ["copy", "mp"]
    v2.delete_object(Bucket=bucket, Key="dir/a b")
    v2.delete_bucket(Bucket=bucket)


def _v2_get(server, path: str, resource: str, date: str) -> requests.Response:
    """A raw SigV2 GET whose Date header is `date`, signed over exactly that text."""
    string_to_sign = f"GET\n\n\n{date}\n{resource}"
    digest = hmac.new(server.secret_key.encode(), string_to_sign.encode(), hashlib.sha1).digest()
    signature = base64.b64encode(digest).decode()
    headers = {"Date": date, "Authorization": f"AWS {server.access_key}:{signature}"}
    return server.session().get(f"{server.endpoint}{path}", headers=headers, timeout=10)


def _date_forms(unix_secs: float) -> dict[str, str]:
    t = time.gmtime(unix_secs)
    return {
        "imf-fixdate": formatdate(unix_secs, usegmt=True),
        "minus-0000": formatdate(unix_secs),
        "rfc850": time.strftime("%A, %d-%b-%y %H:%M:%S GMT", t),
        "asctime": time.strftime("%a %b ", t) + f"{t.tm_mday:>2}" + time.strftime(" %H:%M:%S %Y", t),
    }


def test_sigv2_dates_in_every_form_and_skew(server, s3, bucket):
    """A SigV2 Date in IMF-fixdate, `-0000`, RFC 850 or asctime form is accepted on a
    bucket-level and an object-level GET; the same forms an hour off are 403
    RequestTimeTooSkewed."""
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    targets = [(f"/{bucket}", f"/{bucket}/"), (f"/{bucket}/k", f"/{bucket}/k")]
    for form, date in _date_forms(time.time()).items():
        for path, resource in targets:
            response = _v2_get(server, path, resource, date)
            assert response.status_code == 200, (form, date, path, response.content)
    for skew_secs in (3600, -3600):
        for form, date in _date_forms(time.time() + skew_secs).items():
            response = _v2_get(server, f"/{bucket}/k", f"/{bucket}/k", date)
            assert_raw_error(response, 403, "RequestTimeTooSkewed")
