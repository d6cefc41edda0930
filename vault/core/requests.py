"""Checks on request fields (names, ids, top-k, purposes) before any work starts."""

from __future__ import annotations

import re
from collections.abc import Sequence

from vault.errors import FailedPrecondition, InvalidArgument
from vault.types import RequestContext

__all__ = [
    "MAX_TOP_K",
    "check_collection_name",
    "check_consent",
    "check_purpose",
    "check_purposes",
    "check_subject_ids",
    "check_top_k",
]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")
_MAX_ID_LENGTH = 256
_LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:/\-]{0,63}")
_MAX_REFERENCE = 128
_MAX_PURPOSES = 32
MAX_TOP_K = 1000


def check_collection_name(name: str) -> None:
    if not _NAME.match(name or ""):
        raise InvalidArgument(
            "collection name must be 1-128 characters of letters, digits, '_', '.', '-'"
        )


def check_subject_ids(subject_ids: Sequence[str], expected: int) -> None:
    if len(subject_ids) != expected:
        raise InvalidArgument(f"got {len(subject_ids)} subject ids for {expected} templates")
    for subject_id in subject_ids:
        if not subject_id or len(subject_id) > _MAX_ID_LENGTH or not subject_id.isprintable():
            raise InvalidArgument(f"subject ids must be 1-{_MAX_ID_LENGTH} printable characters")
    if len(set(subject_ids)) != len(subject_ids):
        raise InvalidArgument("subject ids repeat within the batch")


def check_top_k(top_k: int) -> None:
    """One rule (docs/security.md): top_k >= 1; anything above the collection's
    ``max_top_k`` (itself at most :data:`MAX_TOP_K`) is capped, never refused."""
    if top_k < 1:
        raise InvalidArgument("top_k must be at least 1")


def check_purposes(purposes: Sequence[str]) -> None:
    """A collection must declare the purposes it is processed for (GDPR Art. 5(1)(b))."""
    if not purposes:
        raise InvalidArgument("a collection must declare at least one processing purpose")
    if len(purposes) > _MAX_PURPOSES or len(set(purposes)) != len(purposes):
        raise InvalidArgument(f"purposes must be distinct, at most {_MAX_PURPOSES}")
    for purpose in purposes:
        if not _LABEL.fullmatch(purpose):
            raise InvalidArgument(
                "a purpose is 1-64 letters, digits, '_', '.', ':', '/', '-' (starting "
                "with a letter or digit)"
            )


def check_purpose(purpose: str, allowed: Sequence[str]) -> None:
    """Every request states its purpose, and it must be one the collection declared.

    Collections created before purposes were required declare none; they accept any
    stated purpose.
    """
    if not purpose:
        raise FailedPrecondition("the request must state its processing purpose")
    if allowed and purpose not in allowed:
        raise FailedPrecondition(
            f"purpose '{purpose[:64]}' is not one this collection was created for"
        )


def check_consent(ctx: RequestContext) -> None:
    """Enrolment needs a consent reference and a legal basis (GDPR Art. 9(2)(a),
    BIPA 740 ILCS 14/15(b), PIPA Art. 23)."""
    for name, value in (("consent reference", ctx.consent_ref), ("legal basis", ctx.legal_basis)):
        if not value:
            raise FailedPrecondition(f"enrolment requires a {name}")
        if len(value) > _MAX_REFERENCE or not value.isprintable():
            raise InvalidArgument(f"the {name} must be 1-{_MAX_REFERENCE} printable characters")
