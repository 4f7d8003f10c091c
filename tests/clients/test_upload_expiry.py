"""Abandoned multipart uploads are removed in the background after
`--multipart-expiry`, parts and all; completed objects and young uploads stay."""

from __future__ import annotations

import time
from pathlib import Path

from conftest import start_server
from s3util import client_error


def upload_folders(tmp: Path) -> list[Path]:
    return sorted(tmp.glob("drive*/.shoal/multipart/*/*"))


def test_abandoned_uploads_expire(tmp_path):
    srv = start_server(tmp_path, "http", ("--multipart-expiry", "3s"))
    try:
        assert "multipart uploads abandoned for 3s are removed" in srv.process.stdout
        s3 = srv.client()
        s3.create_bucket(Bucket="exp")
        old = s3.create_multipart_upload(Bucket="exp", Key="old")["UploadId"]
        s3.upload_part(Bucket="exp", Key="old", UploadId=old, PartNumber=1, Body=b"a" * 1000)
        done = s3.create_multipart_upload(Bucket="exp", Key="done")["UploadId"]
        part = s3.upload_part(Bucket="exp", Key="done", UploadId=done, PartNumber=1, Body=b"kept")
        s3.complete_multipart_upload(Bucket="exp", Key="done", UploadId=done, MultipartUpload={
            "Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
        assert len(upload_folders(tmp_path)) == 4, "one upload folder per drive"
        deadline = time.monotonic() + 15
        while upload_folders(tmp_path) and time.monotonic() < deadline:
            time.sleep(0.25)
        assert upload_folders(tmp_path) == [], "the abandoned upload was not removed"
        with client_error(404, "NoSuchUpload"):
            s3.list_parts(Bucket="exp", Key="old", UploadId=old)
        assert s3.list_multipart_uploads(Bucket="exp").get("Uploads", []) == []
        assert s3.get_object(Bucket="exp", Key="done")["Body"].read() == b"kept"
        young = s3.create_multipart_upload(Bucket="exp", Key="young")["UploadId"]
        s3.list_parts(Bucket="exp", Key="young", UploadId=young)
        assert "multipart: removed 4 upload folder(s)" in srv.process.stderr
    finally:
        assert srv.process.stop() == 0
