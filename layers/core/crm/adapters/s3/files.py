"""Files in an S3 bucket (imports' CSVs, large exports): upload and download links, streamed
reads. Locally the bucket lives in embedded moto (AWS_ENDPOINT_URL)."""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from typing import Any

from botocore.exceptions import ClientError

READ_CHUNK = 1 << 20


class S3Files:
    def __init__(self, client: Any, bucket: str) -> None:
        self._client = client
        self._bucket = bucket

    def put(self, key: str, body: bytes, content_type: str = "text/csv") -> None:
        self._client.put_object(Bucket=self._bucket, Key=key, Body=body, ContentType=content_type)

    def exists(self, key: str) -> bool:
        try:
            self._client.head_object(Bucket=self._bucket, Key=key)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def read_bytes(self, key: str) -> bytes:
        body: bytes = self._client.get_object(Bucket=self._bucket, Key=key)["Body"].read()
        return body

    def delete(self, key: str) -> None:
        self._client.delete_object(Bucket=self._bucket, Key=key)  # no error for a missing key

    def delete_prefix(self, prefix: str) -> int:
        """Delete every object whose key starts with `prefix`; returns how many."""
        deleted = 0
        for page in self._client.get_paginator("list_objects_v2").paginate(
            Bucket=self._bucket, Prefix=prefix
        ):
            keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if not keys:
                continue
            answer = self._client.delete_objects(  # a listing page holds at most 1,000 keys
                Bucket=self._bucket, Delete={"Objects": keys, "Quiet": True}
            )
            if answer.get("Errors"):
                raise RuntimeError(f"S3 could not delete {len(answer['Errors'])} objects")
            deleted += len(keys)
        return deleted

    def read_text(self, key: str) -> Iterator[str]:
        """The object's text, decoded as UTF-8 (a BOM is dropped) in chunks as it streams."""
        body = self._client.get_object(Bucket=self._bucket, Key=key)["Body"]
        decoder = codecs.getincrementaldecoder("utf-8-sig")(errors="strict")
        for chunk in iter(lambda: body.read(READ_CHUNK), b""):
            yield decoder.decode(chunk)
        yield decoder.decode(b"", final=True)

    def upload_url(self, key: str, expires_in: int) -> str:
        url: str = self._client.generate_presigned_url(
            "put_object",
            Params={"Bucket": self._bucket, "Key": key, "ContentType": "text/csv"},
            ExpiresIn=expires_in,
        )
        return url

    def download_url(self, key: str, expires_in: int, file_name: str) -> str:
        url: str = self._client.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self._bucket,
                "Key": key,
                "ResponseContentDisposition": f'attachment; filename="{file_name}"',
            },
            ExpiresIn=expires_in,
        )
        return url
