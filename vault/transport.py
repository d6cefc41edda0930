"""Transport rules both ends share: ``HOST:PORT`` parsing, the development-mode
TLS rule and reading PEM files.

Without TLS options, plaintext gRPC is only allowed on loopback addresses, for the
server (``--listen``) and the client (``--target``) alike. Pure helpers (no grpc),
so the server (:mod:`vault.service`) and the SDK (:mod:`vault.client`) use one copy.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

from vault.errors import ConfigurationError

__all__ = [
    "ENROLL_ROWS_HEADER",
    "is_loopback_host", "read_pem", "require_plaintext_allowed", "split_host_port"]

#: Request header in which a client declares how many rows its whole Enroll stream
#: holds, so that a stream gRPC reports as ended (a cancel can look like that) but
#: that is short is refused instead of half-enrolled.
ENROLL_ROWS_HEADER = "biovault-enroll-rows"

_LOOPBACK_NAMES = frozenset({"localhost", "localhost.", "ip6-localhost"})


def split_host_port(address: str) -> tuple[str, int]:
    """Split ``HOST:PORT`` (or ``[IPv6]:PORT``) into its parts.

    Args:
        address: The address as typed by a user.

    Returns:
        The host without brackets and the port number (0 means "any free port").

    Raises:
        ConfigurationError: If the address is not of the form ``HOST:PORT``.
    """
    host, sep, port_text = address.strip().rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or (":" in host and not _is_ip(host)):
        raise ConfigurationError(f"address {address!r} is not of the form HOST:PORT")
    if not port_text.isdigit() or int(port_text) > 65535:
        raise ConfigurationError(f"address {address!r} has no valid port (0-65535)")
    return host, int(port_text)


def is_loopback_host(host: str) -> bool:
    """Tell whether ``host`` names this machine's loopback interface.

    Args:
        host: A host name or IP literal without brackets.

    Returns:
        True for ``localhost`` and loopback IPs (127.0.0.0/8, ::1).
    """
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def require_plaintext_allowed(address: str, *, role: str) -> tuple[str, int]:
    """Refuse plaintext gRPC on anything but loopback.

    Args:
        address: ``HOST:PORT`` to listen on or connect to.
        role: What the caller does with it, for the message ("listen on", "connect to").

    Returns:
        The parsed host and port.

    Raises:
        ConfigurationError: If the address is malformed or not a loopback address.
    """
    host, port = split_host_port(address)
    if not is_loopback_host(host):
        raise ConfigurationError(
            f"refusing to {role} {address} without TLS: only loopback addresses "
            "(127.0.0.1, ::1, localhost) may be used in plaintext development mode"
        )
    return host, port


def read_pem(path: Path, what: str) -> bytes:
    """Read a PEM file (certificate, key or CA bundle) for TLS.

    Args:
        path: The file (``~`` is expanded).
        what: What it is, for the message ("TLS key", "CA file").

    Returns:
        The file's bytes.

    Raises:
        ConfigurationError: If the file cannot be read or holds no PEM block.
    """
    try:
        data = Path(path).expanduser().read_bytes()
    except OSError as error:
        raise ConfigurationError(f"cannot read {what} {path}: {error.strerror or error}") from None
    if b"-----BEGIN" not in data:
        raise ConfigurationError(f"{what} {path} is not a PEM file")
    return data


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
