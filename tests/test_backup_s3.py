"""The S3 catalog against a local S3-compatible server (moto's standalone server, started here).

The same operations as the directory catalog (create, list, verify, restore offline and online, prune),
plus what only S3 has: a missing bucket, an unreachable endpoint, missing credentials, and an upload
that fails between the data and the manifest, which must leave nothing listed.
"""

from __future__ import annotations

import json

import pytest

from emberkv.backup import errors as E
from emberkv.backup.cli import main
from tests.backup_support import cli_env, digest, populate, run_cli
from tests.servers import free_port, start_emberkv

moto_server = pytest.importorskip("moto.server", reason="moto[server] is needed for the S3 tests "
                                  "(pip install -e '.[test]' installs it)")
boto3 = pytest.importorskip("boto3")

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture(scope="module")
def s3_endpoint():
    port = free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3(s3_endpoint, monkeypatch):
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    bucket = f"backups-{free_port()}"
    client.create_bucket(Bucket=bucket)
    return client, bucket, s3_endpoint


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    server = start_emberkv(tmp_path_factory.mktemp("src"))
    populate(server.client())
    yield server
    server.stop()


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_s3_catalog_round_trip(s3, source, capsys, tmp_path):
    client, bucket, endpoint = s3
    catalog = f"s3://{bucket}/nightly/db1"
    common = ["--catalog", catalog, "--s3-endpoint", endpoint]
    code, out, err = run(capsys, "create", "--from", f"redis://127.0.0.1:{source.port}", *common)
    assert code == E.EXIT_OK, err
    first = out.strip()
    keys = sorted(o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"])
    assert keys == [f"nightly/db1/{first}/dump.rdb.zst", f"nightly/db1/{first}/manifest.json"]

    [entry] = json.loads(run(capsys, "list", "--json", *common)[1])
    assert entry["id"] == first and entry["digest"] == digest(source.client()).decode()
    code, out, _ = run(capsys, "verify", "--all", *common)
    assert code == E.EXIT_OK and out.startswith(f"OK {first}")

    data = tmp_path / "data"
    assert run(capsys, "restore", first, "--data-dir", str(data), *common)[0] == E.EXIT_OK
    loaded = start_emberkv(data)
    try:
        assert digest(loaded.client()) == digest(source.client())
        loaded.client().flushall()
        code, _, err = run(capsys, "restore", first, "--into", f"redis://127.0.0.1:{loaded.port}",
                           "--tmp-dir", str(tmp_path), *common)
        assert code == E.EXIT_OK, err
        assert digest(loaded.client()) == digest(source.client())
    finally:
        loaded.stop()
    assert [p.name for p in tmp_path.iterdir()] == ["data"]  # the download was cleaned up

    second = run(capsys, "create", "--from", f"redis://127.0.0.1:{source.port}", "--no-compress", *common)[1].strip()
    code, out, _ = run(capsys, "prune", "--keep-last", "1", *common)
    assert code == E.EXIT_OK and f"delete {first}" in out and "dry run" in out
    assert len(json.loads(run(capsys, "list", "--json", *common)[1])) == 2
    code, out, _ = run(capsys, "prune", "--keep-last", "1", "--yes", *common)
    assert code == E.EXIT_OK and f"keep   {second}" in out
    assert [m["id"] for m in json.loads(run(capsys, "list", "--json", *common)[1])] == [second]
    keys = sorted(o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"])
    assert keys == [f"nightly/db1/{second}/dump.rdb", f"nightly/db1/{second}/manifest.json"]


def test_endpoint_from_the_environment_and_a_bucket_without_prefix(s3, source):
    _, bucket, endpoint = s3
    env = cli_env(**CREDENTIALS, AWS_ENDPOINT_URL=endpoint)
    proc = run_cli("create", "--from", f"redis://127.0.0.1:{source.port}", "--catalog", f"s3://{bucket}", "-q",
                   env=env)
    assert proc.returncode == E.EXIT_OK, proc.stderr
    listing = run_cli("list", "--catalog", f"s3://{bucket}", env=env)
    assert proc.stdout.strip() in listing.stdout


def test_missing_bucket(s3, source, tmp_path):
    _, _, endpoint = s3
    env = cli_env(**CREDENTIALS)
    proc = run_cli("create", "--from", f"redis://127.0.0.1:{source.port}", "--catalog", "s3://no-such-bucket/x",
                   "--s3-endpoint", endpoint, "--tmp-dir", str(tmp_path), env=env)
    assert proc.returncode == E.EXIT_STORAGE
    assert proc.stderr.splitlines()[-1].endswith("bucket 'no-such-bucket' does not exist")
    assert "Traceback" not in proc.stderr and list(tmp_path.iterdir()) == []
    proc = run_cli("list", "--catalog", "s3://no-such-bucket", "--s3-endpoint", endpoint, env=env)
    assert proc.returncode == E.EXIT_STORAGE and "does not exist" in proc.stderr


def test_unreachable_endpoint_and_missing_credentials(source, tmp_path):
    env = cli_env(**CREDENTIALS)
    dead = f"http://127.0.0.1:{free_port()}"
    proc = run_cli("list", "--catalog", "s3://bucket", "--s3-endpoint", dead, env=env, timeout=120)
    assert proc.returncode == E.EXIT_STORAGE
    assert "Could not connect to the endpoint URL" in proc.stderr.splitlines()[-1]
    env = cli_env(AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"), AWS_CONFIG_FILE=str(tmp_path / "none"))
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        env.pop(name, None)
    proc = run_cli("list", "--catalog", "s3://bucket", "--s3-endpoint", dead, "--s3-region", "us-east-1", env=env)
    assert proc.returncode == E.EXIT_STORAGE and "no AWS credentials" in proc.stderr


def test_objects_without_a_manifest_are_not_listed(s3, source, capsys):
    client, bucket, endpoint = s3
    client.put_object(Bucket=bucket, Key="p/20990101T000000Z-abcdef/dump.rdb.zst", Body=b"half an upload")
    client.put_object(Bucket=bucket, Key="p/notes.txt", Body=b"unrelated")
    code, out, _ = run(capsys, "list", "--json", "--catalog", f"s3://{bucket}/p", "--s3-endpoint", endpoint)
    assert code == E.EXIT_OK and json.loads(out) == []


def test_failed_upload_leaves_nothing_listed(s3, source, capsys, monkeypatch, tmp_path):
    from emberkv.backup.s3catalog import S3Catalog

    client, bucket, endpoint = s3
    real_publish = S3Catalog.publish

    def publish_then_fail(self, staging, manifest, progress=None):
        put = self.s3.put_object

        def failing_put(**kwargs):
            if kwargs["Key"].endswith("manifest.json"):
                from botocore.exceptions import EndpointConnectionError

                raise EndpointConnectionError(endpoint_url=endpoint)
            return put(**kwargs)

        self.s3.put_object = failing_put
        return real_publish(self, staging, manifest, progress)

    monkeypatch.setattr(S3Catalog, "publish", publish_then_fail)
    code, out, err = run(capsys, "create", "--from", f"redis://127.0.0.1:{source.port}", "--catalog",
                         f"s3://{bucket}", "--s3-endpoint", endpoint, "--tmp-dir", str(tmp_path))
    assert code == E.EXIT_STORAGE and out == ""
    assert "cannot upload backup" in err.splitlines()[-1]
    monkeypatch.setattr(S3Catalog, "publish", real_publish)
    assert json.loads(run(capsys, "list", "--json", "--catalog", f"s3://{bucket}", "--s3-endpoint", endpoint)[1]) == []
    assert list(tmp_path.iterdir()) == []  # local staging removed too


def test_corrupt_object_in_s3_fails_verify_and_restore(s3, source, capsys, tmp_path):
    client, bucket, endpoint = s3
    common = ["--catalog", f"s3://{bucket}", "--s3-endpoint", endpoint]
    backup_id = run(capsys, "create", "--from", f"redis://127.0.0.1:{source.port}", *common)[1].strip()
    key = f"{backup_id}/dump.rdb.zst"
    body = bytearray(client.get_object(Bucket=bucket, Key=key)["Body"].read())
    body[len(body) // 2] ^= 1
    client.put_object(Bucket=bucket, Key=key, Body=bytes(body))
    code, out, _ = run(capsys, "verify", backup_id, *common)
    assert code == E.EXIT_CORRUPT and f"FAILED {backup_id}" in out
    code, _, err = run(capsys, "restore", backup_id, "--data-dir", str(tmp_path / "d"), *common)
    assert code == E.EXIT_CORRUPT and "nothing was restored" in err
    assert list((tmp_path / "d").iterdir()) == []
    target = start_emberkv(tmp_path / "target")
    try:
        code, _, err = run(capsys, "restore", backup_id, "--into", f"redis://127.0.0.1:{target.port}", *common)
        assert code == E.EXIT_CORRUPT and target.client().dbsize() == 0
    finally:
        target.stop()
