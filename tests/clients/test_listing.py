"""Listing with boto3 against a model of S3's answer: ListObjectsV2 and ListObjects v1
page by page (MaxKeys=7, so ~250 keys take dozens of pages), with prefixes, delimiters,
StartAfter, continuation tokens and markers, and url encoding of keys that XML or URLs
find awkward. Every page is compared exactly, not just the concatenation."""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote, unquote_plus

import pytest

from s3util import S3_NS, md5_b64, model_listing, page_entries, raw

pytestmark = pytest.mark.above_transport

PAGE = 7


def listing_keys() -> list[str]:
    """~250 keys in a small tree, with neighbours of "/" in sort order ("-" and ".")
    so prefix roll-up and ordering are both exercised."""
    keys = []
    for i in range(240):
        if i % 24 == 0:
            keys.append(f"top{i:03d}")
        elif i % 5 == 0:
            keys.append(f"d{i % 3}/f{i:03d}")
        else:
            keys.append(f"d{i % 3}/s{i % 4}/k{i:03d}")
    keys += ["d1-side/a", "d1-side/b", "d1.dot", "d1", "d2/s1", "d2/s1/", "d2//double",
             "e/", "e/x", "zz/last/one", "~tilde"]
    return keys


def fill(s3, bucket: str, keys: list[str]) -> None:
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda k: s3.put_object(Bucket=bucket, Key=k, Body=k.encode()), keys))


@pytest.fixture(scope="module")
def tree(server, s3):
    """A bucket holding listing_keys(), shared by this module's tests of one mode."""
    name = f"list-{uuid.uuid4().hex[:16]}"
    s3.create_bucket(Bucket=name)
    keys = listing_keys()
    fill(s3, name, keys)
    # Not emptied afterwards: deleting 250 objects costs seconds per mode, and the
    # server and its drives are thrown away at the end of the session anyway.
    yield name, keys


CASES = [
    pytest.param("", None, "", id="all"),
    pytest.param("", "/", "", id="root-delim"),
    pytest.param("d1/", "/", "", id="d1-delim"),
    pytest.param("d2/s", "/", "", id="partial-prefix-delim"),
    pytest.param("d0/", None, "", id="d0-flat"),
    pytest.param("", "/", "d1/", id="start-after-a-common-prefix"),
    pytest.param("", "/", "d1.dot", id="start-after-a-key-between-prefixes"),
    pytest.param("d1/", "/", "d1/s1/", id="start-after-nested-prefix"),
    pytest.param("", None, "d2/s3/k200", id="start-after-flat"),
    pytest.param("d", "s", "", id="letter-delim"),
    pytest.param("nothing/", "/", "", id="empty-result"),
]


@pytest.mark.parametrize("prefix,delimiter,start_after", CASES)
def test_list_v2_pages(s3, tree, prefix, delimiter, start_after):
    """Each ListObjectsV2 page with MaxKeys=7 holds exactly the next 7 entries S3 would
    give, with KeyCount, IsTruncated and NextContinuationToken consistent."""
    bucket, keys = tree
    expected = model_listing(keys, prefix, delimiter, start_after)
    params = {"Bucket": bucket, "MaxKeys": PAGE, "Prefix": prefix}
    if delimiter:
        params["Delimiter"] = delimiter
    if start_after:
        params["StartAfter"] = start_after
    token, position, pages = None, 0, 0
    while True:
        page = s3.list_objects_v2(**params, **({"ContinuationToken": token} if token else {}))
        pages += 1
        want = expected[position:position + PAGE]
        got = page_entries(page)
        assert got == want, f"page {pages} (after {position} entries): {got} != {want}"
        assert page["KeyCount"] == len(want), page
        assert page["MaxKeys"] == PAGE
        assert page.get("Prefix", "") == prefix
        assert page.get("Delimiter") == delimiter
        if start_after:
            assert page.get("StartAfter") == start_after, page
        if token:
            assert page.get("ContinuationToken") == token, page
        position += len(want)
        more = position < len(expected)
        assert page["IsTruncated"] is more, f"page {pages}: IsTruncated wrong, {page}"
        if not more:
            assert "NextContinuationToken" not in page, page
            break
        token = page["NextContinuationToken"]
        assert token, page
        assert pages < 100, "pagination does not end"
    assert position == len(expected)


def test_list_v2_paginator(s3, tree):
    """boto3's own paginator (PageSize 7, delimiter) walks the whole tree exactly once."""
    bucket, keys = tree
    entries = []
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Delimiter="/", Prefix="d0/",
                                   PaginationConfig={"PageSize": PAGE}):
        entries += page_entries(page)
    assert entries == model_listing(keys, "d0/", "/")


def test_list_v2_max_keys_default_and_large(s3, tree):
    """Without MaxKeys the whole ~250-key tree comes back in one page (default 1000)."""
    bucket, keys = tree
    page = s3.list_objects_v2(Bucket=bucket)
    assert page["MaxKeys"] == 1000 and page["IsTruncated"] is False
    assert [o["Key"] for o in page["Contents"]] == sorted(keys, key=str.encode)
    assert page["KeyCount"] == len(keys)
    sizes = {o["Key"]: o["Size"] for o in page["Contents"]}
    assert all(sizes[k] == len(k.encode()) for k in keys)


def test_list_v2_fetch_owner(s3, tree):
    """FetchOwner=true adds an Owner to every entry; without it there is none."""
    bucket, _ = tree
    with_owner = s3.list_objects_v2(Bucket=bucket, MaxKeys=3, FetchOwner=True)
    assert all(o.get("Owner", {}).get("ID") for o in with_owner["Contents"]), with_owner
    without = s3.list_objects_v2(Bucket=bucket, MaxKeys=3)
    assert all("Owner" not in o for o in without["Contents"]), without


@pytest.mark.parametrize("prefix,delimiter", [("", "/"), ("", None), ("d2/", "/")],
                         ids=["root-delim", "flat", "d2-delim"])
def test_list_v1_markers(s3, tree, prefix, delimiter):
    """ListObjects v1 pages with MaxKeys=7 follow Marker; with a delimiter NextMarker is
    the last entry of the page, without one the client continues from the last key."""
    bucket, keys = tree
    expected = model_listing(keys, prefix, delimiter)
    marker, position = "", 0
    params = {"Bucket": bucket, "MaxKeys": PAGE, "Prefix": prefix}
    if delimiter:
        params["Delimiter"] = delimiter
    for _ in range(100):
        page = s3.list_objects(**params, Marker=marker)
        want = expected[position:position + PAGE]
        assert page_entries(page) == want, f"marker {marker!r}"
        assert page.get("Marker", "") == marker
        position += len(want)
        more = position < len(expected)
        assert page["IsTruncated"] is more, page
        if not more:
            break
        if delimiter:
            assert page.get("NextMarker") == want[-1][0], page
            marker = page["NextMarker"]
        else:
            marker = page.get("NextMarker") or page["Contents"][-1]["Key"]
    assert position == len(expected)


# ---- awkward keys -----------------------------------------------------------------------

ODD_KEYS = [
    "a b", "a+b", "a%20b", "100%", "ü/é", "ü/ä", "tab\tkey", "new\nline", "cr\rkey",
    "ctrl\x01\x1f", "amp&lt<gt>", "quote\"'apos", "emoji-🐟", "sp/ace /x", "q?x=1#frag",
    "semi;colon", "eq=ual", "tilde~", "dot.s/.hidden", "...", "a..b/c",
]


@pytest.fixture(scope="module")
def odd(server, s3):
    """A bucket holding ODD_KEYS, shared by this module's tests of one mode."""
    name = f"odd-{uuid.uuid4().hex[:16]}"
    s3.create_bucket(Bucket=name)
    fill(s3, name, ODD_KEYS)
    # Not emptied afterwards, as for `tree`. (Nor could boto3's DeleteObjects do it: see
    # test_delete_objects_control_characters.)
    yield name


def test_odd_keys_round_trip(s3, odd):
    """Every awkward key can be read back by name and holds its own bytes."""
    for key in ODD_KEYS:
        got = s3.get_object(Bucket=odd, Key=key)["Body"].read()
        assert got == key.encode(), key


def test_odd_keys_listed_with_url_encoding(s3, odd):
    """boto3 lists with encoding-type=url and decodes: keys, prefixes and StartAfter
    come back exactly, control characters included."""
    listed = s3.list_objects_v2(Bucket=odd)
    assert [o["Key"] for o in listed["Contents"]] == sorted(ODD_KEYS, key=str.encode)
    rolled = s3.list_objects_v2(Bucket=odd, Delimiter="/", Prefix="ü/", StartAfter="ü/ä")
    assert page_entries(rolled) == [("ü/é", False)], rolled
    assert rolled["Prefix"] == "ü/" and rolled["StartAfter"] == "ü/ä"
    spaced = s3.list_objects_v2(Bucket=odd, Delimiter=" ")
    assert page_entries(spaced) == model_listing(ODD_KEYS, "", " "), spaced
    v1 = s3.list_objects(Bucket=odd, Delimiter="/", MaxKeys=4)
    assert page_entries(v1) == model_listing(ODD_KEYS, "", "/")[:4]
    assert v1["NextMarker"] == model_listing(ODD_KEYS, "", "/")[3][0]


def _raw_list(server, bucket: str, query: dict) -> ET.Element:
    encoded = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}"
                       for k, v in sorted(query.items()))
    response = raw(server, "GET", f"/{bucket}", encoded)
    assert response.status_code == 200, response.content
    return ET.fromstring(response.content)


def test_url_encoding_on_the_wire(server, odd):
    """With encoding-type=url the XML holds only printable ASCII, and unquote_plus (what
    botocore applies) restores every key, prefix and the delimiter."""
    root = _raw_list(server, odd, {"list-type": "2", "encoding-type": "url", "delimiter": " "})
    assert root.findtext(f"{S3_NS}EncodingType") == "url"
    names = [e.text for e in root.iter(f"{S3_NS}Key")]
    names += [e.text for e in root.iter(f"{S3_NS}Prefix") if e.text]
    names.append(root.findtext(f"{S3_NS}Delimiter"))
    for name in names:
        assert all(33 <= ord(c) < 127 for c in name), f"not url-encoded: {name!r}"
    decoded = sorted(unquote_plus(n) for n in names)
    want = sorted([e[0] for e in model_listing(ODD_KEYS, "", " ")] + [" "])
    assert decoded == want


def test_xml_escaping_without_encoding_type(server, odd):
    """Without encoding-type, XML-special characters in keys are escaped, not mangled."""
    root = _raw_list(server, odd, {"list-type": "2", "prefix": "a"})
    keys = [e.text for e in root.iter(f"{S3_NS}Key")]
    assert keys == sorted([k for k in ODD_KEYS if k.startswith("a")], key=str.encode)
    assert root.findtext(f"{S3_NS}Prefix") == "a"


def test_delete_objects_control_characters(server, s3, bucket):
    """DeleteObjects accepts a key with control characters (sent raw, as botocore
    serializes it) and deletes it. Not through boto3: the answer echoes the key as a
    character reference (&#1;) that XML 1.0 forbids, as AWS's does, and botocore's parser
    turns that 200 into a retried 500."""
    key = "ctrl\x01\x1f"
    s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    body = f"<Delete><Object><Key>{key}</Key></Object></Delete>".encode()
    response = raw(server, "POST", f"/{bucket}", "delete=", body=body,
                   headers={"Content-MD5": md5_b64(body)})
    assert response.status_code == 200 and b"<Deleted>" in response.content, response.content
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0
