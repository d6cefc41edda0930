"""`biovault serve` with AppRole under the least-privilege policy in docs/.

The operator steps of docs/operations.md on a real OpenBao: create the Transit
mount and a non-exportable KEK, load docs/biovault-policy.hcl, create an AppRole
with short-lived tokens. The service then logs in with a role id and a secret id
file, serves, survives the token's maximum TTL (renewal, then a new login), and
rotates its KEK including the trim - while the same credentials can neither
export the KEK nor make it exportable.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import hvac
import hvac.exceptions
import numpy as np
import pytest

from tests.support.openbao import DevServer
from tests.support.service import ServiceProcess, cli_json, run_cli
from tests.support.synthetic import identities
from vault.keys.hcvault import HcVaultKeyService

POLICY_FILE = Path(__file__).resolve().parents[2] / "docs" / "biovault-policy.hcl"
DIM = 32


def _operator_setup(openbao_dev: DevServer, kek: str) -> tuple[str, str, hvac.Client]:
    """Mount, KEK, policy and role as an operator would create them; returns
    (role id, secret id, root client)."""
    operator = HcVaultKeyService(addr=openbao_dev.addr, token=openbao_dev.token, kek_name=kek)
    operator.ensure_transit()  # non-exportable aes256-gcm96 KEK
    operator.close()
    root = hvac.Client(url=openbao_dev.addr, token=openbao_dev.token)
    policy = POLICY_FILE.read_text().replace("biovault-kek", kek)
    root.sys.create_or_update_policy(kek, policy)
    mount = f"approle-{kek}"
    root.sys.enable_auth_method("approle", path=mount)
    root.auth.approle.create_or_update_approle(
        "biovault",
        token_policies=[kek],
        token_ttl="3s",
        token_max_ttl="6s",
        mount_point=mount,
    )
    role_id = root.auth.approle.read_role_id("biovault", mount_point=mount)["data"]["role_id"]
    secret_id = root.auth.approle.generate_secret_id("biovault", mount_point=mount)["data"][
        "secret_id"
    ]
    return str(role_id), str(secret_id), root


def test_approle_service_under_the_documented_policy(
    tmp_path: Path, openbao_dev: DevServer
) -> None:
    """Serve, outlive the token's max TTL, rotate and trim the KEK; no export possible."""
    kek = f"ap-{uuid.uuid4().hex[:10]}"
    role_id, secret_id, root = _operator_setup(openbao_dev, kek)
    secret_file = tmp_path / "secret-id"
    secret_file.write_text(secret_id + "\n")
    secret_file.chmod(0o600)
    service = ServiceProcess(
        tmp_path / "data",
        tmp_path / "serve.log",
        vault_addr=openbao_dev.addr,
        token=None,
        extra_args=(
            "--kek-name", kek, "--vault-role-id", role_id,
            "--vault-secret-id-file", str(secret_file), "--vault-approle-mount", f"approle-{kek}",
        ),
    ).start()  # fmt: skip
    target = ("--target", service.target)
    templates = identities(8, DIM, np.random.default_rng(1)).astype(np.float32)
    np.save(tmp_path / "t.npy", templates)
    (tmp_path / "ids.txt").write_text("".join(f"a{i}\n" for i in range(8)))
    try:
        create = ("collection", "create", *target, "--mode", "ckks", "--dim", str(DIM),
                  "--allow-identification", "--purposes", "access")  # fmt: skip
        assert run_cli(*create, "--name", "first").returncode == 0
        enrolled = run_cli(
            "enroll", *target, "--collection", "first", "--templates", str(tmp_path / "t.npy"),
            "--ids", str(tmp_path / "ids.txt"), "--purpose", "access", "--consent-ref", "r",
            "--legal-basis", "consent",
        )  # fmt: skip
        assert enrolled.returncode == 0, enrolled.stderr
        assert cli_json("keys", "status", *target)["auth_method"] == "approle"

        time.sleep(7)  # past token_max_ttl: only renewal + a fresh login keep the service up
        assert run_cli("health", *target).returncode == 0
        made = run_cli(*create, "--name", "second")  # needs a live token (new DEK)
        assert made.returncode == 0, made.stderr
        rotated = cli_json("keys", "rotate", "kek", *target, "--trim-after", "0", "--quiet")
        assert rotated["key_version"] == 2 and rotated["remaining_old"] == 0
        deadline = time.monotonic() + 15
        while cli_json("keys", "status", *target)["min_available_version"] != 2:
            assert time.monotonic() < deadline, "old KEK versions were not trimmed"
            time.sleep(0.3)
        answers = cli_json(
            "identify", *target, "--collection", "first", "--templates", str(tmp_path / "t.npy"),
            "--top-k", "1", "--purpose", "access",
        )  # fmt: skip
        assert [r["matches"][0]["id"] for r in answers["results"]] == [f"a{i}" for i in range(8)]
    finally:
        assert service.stop() == 0

    # The same credentials cannot get the key out, or make it exportable or deletable.
    officer = hvac.Client(url=openbao_dev.addr)
    officer.auth.approle.login(role_id=role_id, secret_id=secret_id, mount_point=f"approle-{kek}")
    denied = [
        lambda: officer.secrets.transit.export_key(name=kek, key_type="encryption-key"),
        lambda: officer.secrets.transit.backup_key(name=kek),
        lambda: officer.adapter.post(f"/v1/transit/keys/{kek}/config", json={"exportable": True}),
        lambda: officer.adapter.post(
            f"/v1/transit/keys/{kek}/config", json={"deletion_allowed": True}
        ),
        lambda: officer.secrets.transit.delete_key(name=kek),
        lambda: officer.sys.list_mounted_secrets_engines(),
    ]
    for attempt in denied:
        with pytest.raises(hvac.exceptions.Forbidden):
            attempt()
    info = root.secrets.transit.read_key(name=kek)["data"]
    assert not info["exportable"] and not info["allow_plaintext_backup"]
    log = (tmp_path / "serve.log").read_text()
    assert secret_id not in log and role_id not in log
    assert log.count("logged in to the key service (approle)") >= 2  # a fresh login
