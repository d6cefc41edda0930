"""A development PKI: one CA, a loopback server certificate, one client certificate per role.

For laptops, tests and the container's first start - never for production, where
certificates come from the organisation's CA. Each client certificate carries its
role the way the default identity rule reads it (``OU=role:<name>``, see
:mod:`vault.service.authz`). Keys are ECDSA P-256; private keys are written 0600,
so a service running under another uid (the container's 10001) can read them only
if they are handed to it: ``owner`` chowns everything written.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from vault.errors import ConfigurationError

__all__ = ["DEFAULT_SERVER_NAMES", "DevPki", "write_dev_pki"]

DEFAULT_SERVER_NAMES: Final = ("localhost", "127.0.0.1", "::1")
_VALIDITY: Final = datetime.timedelta(days=365)


@dataclass(frozen=True)
class DevPki:
    """Paths written by :func:`write_dev_pki`."""

    ca_cert: Path
    server_cert: Path
    server_key: Path
    clients: dict[str, tuple[Path, Path]]  # role -> (cert, key)


def _name(common_name: str, unit: str | None = None) -> x509.Name:
    parts = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "biovault development")]
    if unit:
        parts.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit))
    parts.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(parts)


def _san(names: tuple[str, ...]) -> x509.SubjectAlternativeName:
    entries: list[x509.GeneralName] = []
    for name in names:
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            entries.append(x509.DNSName(name))
    return x509.SubjectAlternativeName(entries)


def _issue(
    subject: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None,
    *,
    ca: bool,
    usage: x509.ObjectIdentifier | None = None,
    san: tuple[str, ...] = (),
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    issuer_name, issuer_key = issuer if issuer else (subject, key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca else None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=not ca,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=not ca,
                key_cert_sign=ca,
                crl_sign=ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    )
    if usage is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if san:
        builder = builder.add_extension(_san(san), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _write(path: Path, data: bytes, *, private: bool, owner: tuple[int, int] | None) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    fd = os.open(path, flags, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as handle:
        if owner is not None:  # before the key is written: never readable by the wrong uid
            os.fchown(handle.fileno(), *owner)
        handle.write(data)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def write_dev_pki(
    out: Path,
    roles: tuple[str, ...],
    *,
    server_names: tuple[str, ...] = DEFAULT_SERVER_NAMES,
    overwrite: bool = False,
    nameless: bool = False,
    owner: tuple[int, int] | None = None,
) -> DevPki:
    """Create a CA, a server certificate and one client certificate per role in ``out``.

    Files: ``ca.pem`` (the CA certificate; its key is not kept, so nobody can
    issue more certificates from it), ``server.pem``/``server.key``, and
    ``<role>.pem``/``<role>.key`` with ``CN=biovault-<role>, OU=role:<role>``, and
    ``healthcheck.pem``/``healthcheck.key`` with no role (it can only ask health).

    Args:
        out: Directory to write to (created 0700).
        roles: Role names to issue client certificates for.
        server_names: DNS names and IPs of the server certificate.
        overwrite: Replace existing files instead of refusing.
        nameless: Also write ``nameless.pem``/``.key``, valid but with an empty
            subject and no SAN (for tests of the UNAUTHENTICATED path).
        owner: ``(uid, gid)`` to give ``out`` and every file written (-1 keeps
            that part), e.g. the container's ``(10001, 10001)``; None keeps the caller's.

    Returns:
        Where everything was written.

    Raises:
        ConfigurationError: If ``out`` already holds a CA and ``overwrite`` is off,
            or the files cannot be given to ``owner`` (chown needs root for other uids).
    """
    out = out.expanduser()
    out.mkdir(parents=True, exist_ok=True, mode=0o700)
    if (out / "ca.pem").exists() and not overwrite:
        raise ConfigurationError(f"{out} already holds a development CA; pass --force to replace")
    if owner is not None:
        try:
            os.chown(out, *owner)
        except PermissionError:
            raise ConfigurationError(
                f"cannot give {out} to uid:gid {owner[0]}:{owner[1]}: changing the owner "
                "to another user needs root (e.g. sudo)"
            ) from None
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("biovault development CA")
    ca_cert = _issue(ca_name, ca_key, None, ca=True)
    _write(out / "ca.pem", _cert_pem(ca_cert), private=False, owner=owner)

    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = _issue(
        _name(server_names[0] if server_names else "biovault"),
        server_key,
        (ca_name, ca_key),
        ca=False,
        usage=ExtendedKeyUsageOID.SERVER_AUTH,
        san=server_names,
    )
    _write(out / "server.pem", _cert_pem(server_cert), private=False, owner=owner)
    _write(out / "server.key", _key_pem(server_key), private=True, owner=owner)

    subjects = {role: _name(f"biovault-{role}", f"role:{role}") for role in roles}
    subjects["healthcheck"] = _name("biovault-healthcheck")
    if nameless:
        subjects["nameless"] = x509.Name([])
    clients: dict[str, tuple[Path, Path]] = {}
    for role, subject in subjects.items():
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _issue(
            subject,
            key,
            (ca_name, ca_key),
            ca=False,
            usage=ExtendedKeyUsageOID.CLIENT_AUTH,
        )
        cert_path, key_path = out / f"{role}.pem", out / f"{role}.key"
        _write(cert_path, _cert_pem(cert), private=False, owner=owner)
        _write(key_path, _key_pem(key), private=True, owner=owner)
        clients[role] = (cert_path, key_path)
    return DevPki(out / "ca.pem", out / "server.pem", out / "server.key", clients)
