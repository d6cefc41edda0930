"""Roles, the one roles x RPC table, and how a client certificate names its roles.

Every RPC the server registers is in :data:`RPC_ROLES`; a test checks the table
against the service descriptors, so a new RPC cannot be served unguarded.
:data:`OPEN` marks the RPCs any caller may use (health, reflection).

A certificate's roles come from, in this order of convenience:

* the default rule: every subject ``OU`` (or the ``CN``) of the form
  ``role:<name>`` grants ``<name>`` (what ``biovault certs dev`` issues);
* a role-map file (``serve --role-map FILE``): JSON
  ``{"identities": {"CN=node-7.example": ["matcher"], "DNS:enrol.example":
  ["enroller"], "URI:spiffe://corp/ns/x": ["auditor"]}, "role_attributes": true}``
  mapping subject common names and SAN entries to roles; ``role_attributes: false``
  turns the default rule off so only the file decides.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from vault.errors import ConfigurationError

__all__ = [
    "OPEN",
    "RPC_ROLES",
    "CertIdentity",
    "Role",
    "RoleMap",
    "allowed_roles",
]


class Role(enum.Enum):
    """What a caller may do; ``admin`` may do everything."""

    ENROLLER = "enroller"
    MATCHER = "matcher"
    AUDITOR = "auditor"
    KEY_OFFICER = "key-officer"
    ADMIN = "admin"


#: Marks RPCs open to every caller, with or without a certificate.
OPEN: Final = frozenset(Role)

_E, _M, _A, _K, _ADM = (
    Role.ENROLLER,
    Role.MATCHER,
    Role.AUDITOR,
    Role.KEY_OFFICER,
    Role.ADMIN,
)
_V = "/biovault.v1.TemplateVault/"
_KA = "/biovault.v1.KeyAdmin/"
_TK = "/biovault.v1.TransformKeyAdmin/"
_AL = "/biovault.v1.AuditLog/"
_CO = "/biovault.v1.Compliance/"
_CL = "/biovault.v1.ClusterAdmin/"

#: Who may call what. Health and reflection are open (they reveal no data; the
#: API schema is public); everything else names its roles, admin always among them.
RPC_ROLES: Final[Mapping[str, frozenset[Role]]] = {
    _V + "CreateCollection": frozenset({_ADM}),
    _V + "GetCollection": frozenset({_E, _M, _A, _ADM}),
    _V + "Enroll": frozenset({_E, _ADM}),
    _V + "Verify": frozenset({_M, _ADM}),
    _V + "Identify": frozenset({_M, _ADM}),
    _V + "Delete": frozenset({_E, _ADM}),
    _V + "DeleteMany": frozenset({_E, _ADM}),
    _KA + "GetKeyStatus": frozenset({_K, _A, _ADM}),
    _KA + "RotateKeys": frozenset({_K, _ADM}),
    _TK + "RotateTransformKey": frozenset({_K, _ADM}),
    _TK + "GetTransformKeyStatus": frozenset({_K, _A, _ADM}),
    _AL + "GetPublicKey": frozenset({_A, _ADM}),
    _AL + "GetCheckpoint": frozenset({_A, _ADM}),
    _AL + "Export": frozenset({_A, _ADM}),
    _CO + "EnforceRetention": frozenset({_ADM}),
    _CO + "WithdrawConsent": frozenset({_E, _ADM}),
    _CL + "GetClusterStatus": frozenset({_K, _A, _ADM}),
    "/grpc.health.v1.Health/Check": OPEN,
    "/grpc.health.v1.Health/Watch": OPEN,
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo": OPEN,
    "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo": OPEN,
}


def allowed_roles(method: str) -> frozenset[Role]:
    """Roles that may call ``method`` (full gRPC name); empty for unknown methods."""
    return RPC_ROLES.get(method, frozenset())


@dataclass(frozen=True)
class CertIdentity:
    """What a verified client certificate says about its holder.

    Attributes:
        common_name: Subject CN ("" if absent).
        units: Subject OU values.
        sans: SAN entries as ``DNS:x``, ``URI:x``, ``IP:x``, ``EMAIL:x``.
    """

    common_name: str
    units: tuple[str, ...] = ()
    sans: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """A short, stable label for audit entries."""
        return f"CN={self.common_name}" if self.common_name else (self.sans or ("?",))[0]


@dataclass(frozen=True)
class RoleMap:
    """Maps certificate identities to roles (see the module docstring)."""

    identities: Mapping[str, frozenset[Role]] = field(default_factory=dict)
    role_attributes: bool = True

    @classmethod
    def load(cls, path: Path) -> RoleMap:
        """Read a role-map JSON file.

        Raises:
            ConfigurationError: If the file is unreadable, not JSON of the
                documented shape, or names an unknown role.
        """
        try:
            document = json.loads(path.expanduser().read_text(encoding="utf-8"))
        except OSError as error:
            raise ConfigurationError(f"cannot read {path}: {error.strerror or error}") from None
        except ValueError:
            raise ConfigurationError(f"{path} is not JSON") from None
        if not isinstance(document, dict) or not isinstance(document.get("identities", {}), dict):
            raise ConfigurationError(f'{path}: expected {{"identities": {{IDENTITY: [ROLE]}}}}')
        identities = {
            str(key): _roles(value, path) for key, value in document.get("identities", {}).items()
        }
        return cls(identities, role_attributes=bool(document.get("role_attributes", True)))

    def roles_of(self, identity: CertIdentity) -> frozenset[Role]:
        """All roles ``identity`` holds under this map."""
        granted: set[Role] = set()
        if self.role_attributes:
            for value in (*identity.units, identity.common_name):
                if value.startswith("role:"):
                    granted.update(_known(value[len("role:") :]))
        for key in (f"CN={identity.common_name}", *identity.sans):
            granted.update(self.identities.get(key, ()))
        return frozenset(granted)


def _known(name: str) -> Iterable[Role]:
    try:
        yield Role(name)
    except ValueError:
        return


def _roles(value: object, path: Path) -> frozenset[Role]:
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ConfigurationError(f"{path}: roles must be a list of role names")
    try:
        return frozenset(Role(n) for n in names)
    except ValueError:
        known = ", ".join(r.value for r in Role)
        raise ConfigurationError(f"{path}: unknown role in {names} (known: {known})") from None
