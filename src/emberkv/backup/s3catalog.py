"""The S3 catalog: backups under ``s3://bucket/prefix``, in any S3-compatible store (AWS, MinIO, ...).

Endpoint, credentials and region come from boto3's usual sources (``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_DEFAULT_REGION``, ``AWS_ENDPOINT_URL``, profiles) or from the
``--s3-endpoint``/``--s3-region``/``--s3-profile`` flags. With an explicit endpoint, path-style addressing
is used, which is what MinIO and most self-hosted stores expect.

Publishing uploads the object first (large ones as a multipart upload, which only becomes an object when
it completes; a failed one is aborted) and the manifest last, so listing never shows a backup whose
data is not all there. Deleting removes the manifest first for the same reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO

from emberkv.backup.catalog import Catalog, Staging, local_staging
from emberkv.backup.errors import EXIT_NOT_FOUND, EXIT_STORAGE, BackupError
from emberkv.backup.manifest import MANIFEST_NAME, Manifest

PART_SIZE = 16 << 20


class S3Catalog(Catalog):
    def __init__(self, location: str, endpoint: str | None = None, region: str | None = None,
                 profile: str | None = None, tmp_dir: str | None = None) -> None:
        import boto3
        from botocore.config import Config

        rest = location[len("s3://"):]
        self.bucket, _, prefix = rest.partition("/")
        if not self.bucket:
            raise BackupError(f"bad catalog {location!r}: use s3://bucket[/prefix]", 2)
        self.prefix = prefix.strip("/")
        self.location = location.rstrip("/")
        self.tmp_dir = tmp_dir
        config = Config(s3={"addressing_style": "path"} if endpoint else {},
                        retries={"max_attempts": 3, "mode": "standard"})
        with self._errors("cannot set up the S3 client"):
            session = boto3.session.Session(profile_name=profile) if profile else boto3.session.Session()
            self.s3 = session.client("s3", endpoint_url=endpoint, region_name=region, config=config)

    def _key(self, *parts: str) -> str:
        return "/".join(([self.prefix] if self.prefix else []) + list(parts))

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        """botocore's exceptions as one-line BackupErrors."""
        from boto3.exceptions import S3UploadFailedError
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

        try:
            yield
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code, message = str(error.get("Code", "")), error.get("Message", "")
            if code == "NoSuchBucket" or (code == "404" and "Bucket" in str(exc.operation_name)):
                raise BackupError(f"{doing}: bucket {self.bucket!r} does not exist", EXIT_STORAGE) from None
            if code in ("NoSuchKey", "404"):
                raise BackupError(f"{doing}: not found in {self.location}", EXIT_NOT_FOUND) from None
            if code in ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403"):
                raise BackupError(f"{doing}: access denied to {self.location} ({code})", EXIT_STORAGE) from None
            raise BackupError(f"{doing}: {code} {message}".rstrip(), EXIT_STORAGE) from None
        except S3UploadFailedError as exc:
            text = str(exc)
            if "NoSuchBucket" in text:
                raise BackupError(f"{doing}: bucket {self.bucket!r} does not exist", EXIT_STORAGE) from None
            raise BackupError(f"{doing}: {text}", EXIT_STORAGE) from None
        except NoCredentialsError:
            raise BackupError(f"{doing}: no AWS credentials (set AWS_ACCESS_KEY_ID and "
                              "AWS_SECRET_ACCESS_KEY, or use --s3-profile)", EXIT_STORAGE) from None
        except BotoCoreError as exc:
            raise BackupError(f"{doing}: {exc}", EXIT_STORAGE) from None

    # -- Catalog ---------------------------------------------------------------------------------

    def manifests(self) -> tuple[list[Manifest], list[str]]:
        found: list[Manifest] = []
        problems: list[str] = []
        base = self._key("") if self.prefix else ""
        with self._errors(f"cannot list {self.location}"):
            pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=base)
            keys = [obj["Key"] for page in pages for obj in page.get("Contents", [])]
        for key in keys:
            rest = key[len(base):]
            if rest.count("/") != 1 or not rest.endswith("/" + MANIFEST_NAME):
                continue
            with self._errors(f"cannot read {key}"):
                data = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
            try:
                found.append(Manifest.from_json(data, f"s3://{self.bucket}/{key}"))
            except BackupError as exc:
                problems.append(exc.message)
        found.sort(key=lambda m: (m.created, m.id))
        return found, problems

    def staging(self, backup_id: str) -> Staging:
        with self._errors(f"cannot use {self.location}"):
            self.s3.head_bucket(Bucket=self.bucket)
        return local_staging(self.tmp_dir, backup_id)

    def publish(self, staging: Staging, manifest: Manifest, progress=None) -> None:
        from boto3.s3.transfer import TransferConfig

        sent = 0

        def callback(n: int) -> None:
            nonlocal sent
            sent += n
            if progress is not None:
                progress(sent, manifest.stored_size)

        config = TransferConfig(multipart_threshold=PART_SIZE, multipart_chunksize=PART_SIZE, max_concurrency=4)
        with self._errors(f"cannot upload backup {manifest.id}"):
            self.s3.upload_file(staging.path(manifest.object), self.bucket, self._key(manifest.id, manifest.object),
                                Config=config, Callback=callback)
            self.s3.put_object(Bucket=self.bucket, Key=self._key(manifest.id, MANIFEST_NAME),
                               Body=manifest.to_json(), ContentType="application/json")
        staging.discard()

    def open_object(self, manifest: Manifest) -> BinaryIO:
        with self._errors(f"cannot read backup {manifest.id}"):
            return self.s3.get_object(Bucket=self.bucket, Key=self._key(manifest.id, manifest.object))["Body"]

    def fetch_local(self, manifest: Manifest, tmp_dir: str | None, progress=None) -> tuple[str, Staging | None]:
        staging = local_staging(tmp_dir or self.tmp_dir, manifest.id)
        path = staging.path(manifest.object)
        done = 0

        def callback(n: int) -> None:
            nonlocal done
            done += n
            if progress is not None:
                progress(done, manifest.stored_size)

        try:
            with self._errors(f"cannot download backup {manifest.id}"):
                self.s3.download_file(self.bucket, self._key(manifest.id, manifest.object), path, Callback=callback)
        except BaseException:
            staging.discard()
            raise
        return path, staging

    def delete(self, manifest: Manifest) -> None:
        with self._errors(f"cannot delete backup {manifest.id}"):
            self.s3.delete_object(Bucket=self.bucket, Key=self._key(manifest.id, MANIFEST_NAME))
            self.s3.delete_object(Bucket=self.bucket, Key=self._key(manifest.id, manifest.object))
