"""The emulator's faster S3 ListObjectVersions (moto_fixes.py) answers as moto's own: every page,
marker and truncation flag the same, for a versioned bucket with overwritten and deleted keys,
whatever the page size and prefix.

Run by scripts/test: .venv/bin/python -m unittest discover -s tests/emulator -p 'test_*.py'
"""
import unittest

import boto3
from moto import mock_aws
from moto.s3.models import S3Backend

from ragstack_emulator import moto_fixes


def listing(s3, **kw):
    """Every page of ListObjectVersions: (keys and version ids, delete markers, truncated)."""
    pages, marker = [], {}
    while True:
        out = s3.list_object_versions(Bucket="listing-test", **kw, **marker)
        pages.append((
            [(v["Key"], v["VersionId"], v["IsLatest"]) for v in out.get("Versions", [])],
            [(m["Key"], m["VersionId"]) for m in out.get("DeleteMarkers", [])],
            out["IsTruncated"],
        ))
        if not out["IsTruncated"]:
            return pages
        marker = {"KeyMarker": out["NextKeyMarker"], "VersionIdMarker": out["NextVersionIdMarker"]}


def setUpModule():
    if moto_fixes.ORIGINAL_LIST_OBJECT_VERSIONS is None:
        moto_fixes.apply()


class ListObjectVersions(unittest.TestCase):
    def test_pages_match_moto(self):
        fixed = S3Backend.list_object_versions
        with mock_aws():
            s3 = boto3.client("s3", region_name="us-east-1")
            s3.create_bucket(Bucket="listing-test")
            s3.put_bucket_versioning(Bucket="listing-test", VersioningConfiguration={"Status": "Enabled"})
            for n in range(25):
                s3.put_object(Bucket="listing-test", Key=f"docs/{n:03d}.md", Body=b"x")
            for n in range(0, 25, 4):
                s3.put_object(Bucket="listing-test", Key=f"docs/{n:03d}.md", Body=b"y")
            for n in range(1, 25, 6):
                s3.delete_object(Bucket="listing-test", Key=f"docs/{n:03d}.md")
            s3.put_object(Bucket="listing-test", Key="other/x.md", Body=b"z")
            cases = [{"Prefix": "docs/", "MaxKeys": 1}, {"Prefix": "docs/", "MaxKeys": 4}, {"MaxKeys": 7}, {"Prefix": "docs/"}]
            S3Backend.list_object_versions = moto_fixes.ORIGINAL_LIST_OBJECT_VERSIONS
            try:
                expected = [listing(s3, **kw) for kw in cases]
            finally:
                S3Backend.list_object_versions = fixed
            for kw, want in zip(cases, expected):
                self.assertEqual(listing(s3, **kw), want, kw)
            self.assertGreater(len(expected[0]), 25)


if __name__ == "__main__":
    unittest.main()
