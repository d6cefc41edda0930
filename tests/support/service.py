"""Run the real `biovault serve` as a child process and drive it through the real CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from tests.support.openbao import free_loopback_port
from vault.client import ClientError, ClientTls, VaultClient


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess:
    """Run `python -m vault ARGS` and capture its output."""
    return subprocess.run(
        [sys.executable, "-m", "vault", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )


def cli_json(*args: str) -> object:
    """Run a CLI command with `--json -` and parse what it printed."""
    done = run_cli(*args, "--json", "-")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


class ServiceProcess:
    """`biovault serve` in a child process; its stdout+stderr go to ``log_path``."""

    def __init__(
        self,
        data_dir: Path,
        log_path: Path,
        *,
        vault_addr: str | None,
        token: str | None,
        extra_args: Sequence[str] = (),
        tls: ClientTls | None = None,
        own_process_group: bool = False,
    ) -> None:
        self.tls = tls  # what the readiness poll connects with (serve's TLS flags go in extra_args)
        self.data_dir = data_dir
        # Like a systemd unit or a shell job: signals can then go to the whole group.
        self.own_process_group = own_process_group
        self.extra_args = tuple(extra_args)
        self.log_path = log_path
        self.port = free_loopback_port()
        self.target = f"127.0.0.1:{self.port}"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
        if vault_addr:
            self.env.update(VAULT_ADDR=vault_addr, VAULT_TOKEN=token or "")
        self.process: subprocess.Popen | None = None

    def start(self, *, timeout: float = 120.0) -> ServiceProcess:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "vault",
                "serve",
                "--data-dir",
                str(self.data_dir),
                "--listen",
                self.target,
                "--log-level",
                "INFO",
                *self.extra_args,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self.env,
            process_group=0 if self.own_process_group else None,
        )
        log.close()
        deadline = time.monotonic() + timeout
        with VaultClient(self.target, timeout=5, tls=self.tls) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"serve exited early:\n{self.log_path.read_text()[-3000:]}")
                try:
                    if client.health_check(timeout=1) == "SERVING":
                        return self
                except ClientError:
                    pass
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"serve did not become healthy:\n{self.log_path.read_text()[-3000:]}")

    def stop(self, *, timeout: float = 60.0) -> int:
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else 0
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


def dev_tls(pki: Path, who: str) -> ClientTls:
    """Client TLS for certificate ``who`` of a ``biovault certs dev`` directory."""
    return ClientTls(pki / "ca.pem", pki / f"{who}.pem", pki / f"{who}.key")


def mtls_service(
    root: Path, pki: Path, *, vault_addr: str | None, token: str | None, workers: int
) -> ServiceProcess:
    """A (not yet started) mutual-TLS ``serve`` on the ``certs dev`` PKI under ``pki``,
    with ``workers`` RPC threads; its readiness poll uses the health-check certificate."""
    return ServiceProcess(
        root / "data",
        root / "serve.log",
        vault_addr=vault_addr,
        token=token,
        extra_args=(
            "--tls-cert",
            str(pki / "server.pem"),
            "--tls-key",
            str(pki / "server.key"),
            "--client-ca",
            str(pki / "ca.pem"),
            "--workers",
            str(workers),
        ),
        tls=dev_tls(pki, "healthcheck"),
    )
