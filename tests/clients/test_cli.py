"""The AWS CLI (`aws`, awscli v1 from the venv) against Shoal: the high-level `s3`
commands a user types first, and the `s3api` calls scripts lean on. Multipart
transfers (above the CLI's 8 MiB threshold) are in test_multipart.py."""

from __future__ import annotations

import json
import os
import random
import subprocess
import uuid

import pytest


def run_aws(aws_cli, server, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID=server.access_key,
        AWS_SECRET_ACCESS_KEY=server.secret_key,
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_PAGER="",
    )
    if server.cert_path:
        env["AWS_CA_BUNDLE"] = server.cert_path
    result = subprocess.run(
        [aws_cli, "--endpoint-url", server.endpoint, "--output", "json", *args],
        env=env, capture_output=True, text=True, timeout=120)
    if check:
        assert result.returncode == 0, (
            f"aws {' '.join(args)} exited {result.returncode}\n"
            f"stdout: {result.stdout}\nstderr: {result.stderr}")
    return result


@pytest.fixture
def cli_bucket_name(s3):
    name = f"cli-{uuid.uuid4().hex[:16]}"
    yield name
    # Leave nothing behind whatever step failed.
    try:
        listed = s3.list_objects_v2(Bucket=name).get("Contents", [])
        if listed:
            s3.delete_objects(Bucket=name, Delete={"Objects": [{"Key": o["Key"]} for o in listed]})
        s3.delete_bucket(Bucket=name)
    except s3.exceptions.NoSuchBucket:
        pass


def test_cli_s3_commands(aws_cli, server, cli_bucket_name, tmp_path):
    """aws s3 mb, cp up and down, ls, rm and rb work and move bytes exactly."""
    name = cli_bucket_name
    data = random.Random(5).randbytes(3 * 1024 * 1024 + 17)
    up = tmp_path / "up.bin"
    up.write_bytes(data)

    assert f"make_bucket: {name}" in run_aws(aws_cli, server, "s3", "mb", f"s3://{name}").stdout
    run_aws(aws_cli, server, "s3", "cp", str(up), f"s3://{name}/dir/up.bin")
    assert name in run_aws(aws_cli, server, "s3", "ls").stdout
    top = run_aws(aws_cli, server, "s3", "ls", f"s3://{name}/").stdout
    assert "PRE dir/" in top, top

    down = tmp_path / "down.bin"
    run_aws(aws_cli, server, "s3", "cp", f"s3://{name}/dir/up.bin", str(down))
    assert down.read_bytes() == data

    removed = run_aws(aws_cli, server, "s3", "rm", f"s3://{name}/dir/up.bin").stdout
    assert f"delete: s3://{name}/dir/up.bin" in removed, removed
    assert f"remove_bucket: {name}" in run_aws(aws_cli, server, "s3", "rb", f"s3://{name}").stdout


def test_cli_s3api_calls(aws_cli, server, s3, bucket):
    """aws s3api head-object, list-objects-v2, get-object-attributes and delete-objects
    parse Shoal's answers into the expected JSON."""
    for key in ("a/1", "a/2", "b"):
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode() * 10, ContentType="text/plain",
                      Metadata={"who": "cli"})

    head = json.loads(run_aws(aws_cli, server, "s3api", "head-object",
                              "--bucket", bucket, "--key", "a/1").stdout)
    assert head["ContentLength"] == 30 and head["ContentType"] == "text/plain", head
    assert head["Metadata"] == {"who": "cli"}, head

    listed = json.loads(run_aws(aws_cli, server, "s3api", "list-objects-v2", "--no-paginate", "--bucket", bucket,
                                "--delimiter", "/").stdout)
    assert [o["Key"] for o in listed["Contents"]] == ["b"], listed
    assert [p["Prefix"] for p in listed["CommonPrefixes"]] == ["a/"], listed
    assert listed["KeyCount"] == 2

    attrs = json.loads(run_aws(aws_cli, server, "s3api", "get-object-attributes",
                               "--bucket", bucket, "--key", "a/2",
                               "--object-attributes", "ETag", "ObjectSize").stdout)
    assert attrs["ObjectSize"] == 30, attrs

    deleted = json.loads(run_aws(
        aws_cli, server, "s3api", "delete-objects", "--bucket", bucket,
        "--delete", json.dumps({"Objects": [{"Key": "a/1"}, {"Key": "a/2"}]})).stdout)
    assert sorted(d["Key"] for d in deleted["Deleted"]) == ["a/1", "a/2"], deleted
    left = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert left == ["b"]


def test_cli_reports_errors(aws_cli, server):
    """A CLI call on a missing key fails with the S3 error surfaced to the user."""
    result = run_aws(aws_cli, server, "s3api", "head-object", "--bucket", "no-such-bucket-cli",
                     "--key", "x", check=False)
    assert result.returncode != 0 and "404" in result.stderr, result.stderr
