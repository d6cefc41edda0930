"""Files the embedded development key server keeps under ``<data_dir>/openbao``.

``ports.json`` pins the loopback ports (raft remembers its node address, so they must
not change between restarts); ``init.json`` holds the unseal key and root token
(mode 0600, written atomically); ``config.hcl`` is regenerated on every start.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vault.errors import ConfigurationError

__all__ = [
    "DevPorts",
    "InitSecrets",
    "free_loopback_ports",
    "port_is_free",
    "render_config",
    "write_private_file",
]

LOOPBACK = "127.0.0.1"


def write_private_file(path: Path, data: bytes) -> None:
    """Atomically replace ``path`` with ``data``, readable by the owner only.

    The temporary file is created 0600 and then chmod-ed explicitly, so neither a
    lax nor an odd umask changes the result; readers never see a partial file.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    os.close(fd)
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ConfigurationError(f"cannot read {path}: {type(e).__name__}") from None
    if not isinstance(value, dict):
        raise ConfigurationError(f"{path} does not hold a JSON object")
    return value


def free_loopback_ports(count: int) -> list[int]:
    """``count`` distinct loopback ports that are free right now."""
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind((LOOPBACK, 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def port_is_free(port: int) -> bool:
    """True if nothing is bound to ``127.0.0.1:port``.

    SO_REUSEADDR makes connections left in TIME_WAIT by a previous run count as
    free, as they do for the server itself.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            return False
    return True


@dataclass(frozen=True)
class DevPorts:
    """The API and raft cluster ports of the embedded server."""

    api: int
    cluster: int

    @classmethod
    def load(cls, path: Path) -> DevPorts:
        """Read ports persisted by :meth:`save`."""
        raw = _read_json(path)
        try:
            ports = cls(api=int(raw["api_port"]), cluster=int(raw["cluster_port"]))
        except (KeyError, TypeError, ValueError):
            raise ConfigurationError(f"{path} does not name api_port and cluster_port") from None
        if not all(0 < p < 65536 for p in (ports.api, ports.cluster)):
            raise ConfigurationError(f"{path} names a port outside 1-65535")
        return ports

    @classmethod
    def load_or_choose(cls, path: Path, *, has_data: bool) -> DevPorts:
        """Reuse the ports recorded at ``path``, or choose and record free ones.

        Raises:
            ConfigurationError: A recorded port is busy, or storage exists without
                recorded ports (raft remembers its node address, so they matter).
        """
        if not path.exists():
            if has_data:
                raise ConfigurationError(
                    f"embedded OpenBao storage exists but {path} is missing; raft "
                    "remembers its node address, so restore ports.json"
                )
            ports = cls(*free_loopback_ports(2))
            ports.save(path)
            return ports
        ports = cls.load(path)
        busy = [p for p in (ports.api, ports.cluster) if not port_is_free(p)]
        if busy:
            raise ConfigurationError(
                f"embedded OpenBao needs loopback port(s) {', '.join(map(str, busy))} "
                f"(recorded in {path}) but they are in use; is another service running "
                f"on this data directory? Stop it or free the port(s)"
            )
        return ports

    def save(self, path: Path) -> None:
        """Persist atomically."""
        body = {"api_port": self.api, "cluster_port": self.cluster}
        write_private_file(path, json.dumps(body, indent=2).encode() + b"\n")


@dataclass(frozen=True)
class InitSecrets:
    """Unseal key and root token of the embedded server (development only)."""

    unseal_key: str = field(repr=False)
    root_token: str = field(repr=False)

    @classmethod
    def load(cls, path: Path) -> InitSecrets:
        """Read secrets persisted by :meth:`save`."""
        raw = _read_json(path)
        unseal_key, root_token = raw.get("unseal_key_b64"), raw.get("root_token")
        if not isinstance(unseal_key, str) or not isinstance(root_token, str):
            raise ConfigurationError(f"{path} does not hold unseal_key_b64 and root_token")
        return cls(unseal_key=unseal_key, root_token=root_token)

    def save(self, path: Path) -> None:
        """Persist atomically with mode 0600."""
        body = {
            "warning": "development only: this key unseals the embedded OpenBao next to it",
            "unseal_key_b64": self.unseal_key,
            "root_token": self.root_token,
        }
        write_private_file(path, json.dumps(body, indent=2).encode() + b"\n")


def render_config(*, raft_dir: Path, ports: DevPorts, node_id: str) -> str:
    """OpenBao server configuration (HCL) for a single loopback raft node."""
    api_addr = f"http://{LOOPBACK}:{ports.api}"
    cluster_addr = f"http://{LOOPBACK}:{ports.cluster}"
    # json.dumps gives correctly escaped, double-quoted strings, which HCL accepts.
    return f"""# Generated by biovault on every start; edits are overwritten.
# Development only: TLS is off and the unseal key lives next to the data.
storage "raft" {{
  path    = {json.dumps(str(raft_dir))}
  node_id = {json.dumps(node_id)}
  # Fastest raft timings: a single local node then elects itself in about a second.
  performance_multiplier = 1
}}

listener "tcp" {{
  address         = "{LOOPBACK}:{ports.api}"
  cluster_address = "{LOOPBACK}:{ports.cluster}"
  tls_disable     = true
}}

api_addr      = "{api_addr}"
cluster_addr  = "{cluster_addr}"
disable_mlock = true
ui            = false
"""
