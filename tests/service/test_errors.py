"""The single mapping from vault.errors classes to gRPC status codes."""

from __future__ import annotations

import logging

import grpc
import pytest

from vault import errors
from vault.service.errors import INTERNAL_DETAILS, status_code_for, to_rpc_status

EXPECTED = {
    errors.InvalidArgument: grpc.StatusCode.INVALID_ARGUMENT,
    errors.TemplateError: grpc.StatusCode.INVALID_ARGUMENT,
    errors.NotFound: grpc.StatusCode.NOT_FOUND,
    errors.AlreadyExists: grpc.StatusCode.ALREADY_EXISTS,
    errors.FailedPrecondition: grpc.StatusCode.FAILED_PRECONDITION,
    errors.PermissionDenied: grpc.StatusCode.PERMISSION_DENIED,
    errors.Unauthenticated: grpc.StatusCode.UNAUTHENTICATED,
    errors.ResourceExhausted: grpc.StatusCode.RESOURCE_EXHAUSTED,
    errors.DeadlineExceeded: grpc.StatusCode.DEADLINE_EXCEEDED,
    errors.KeyServiceError: grpc.StatusCode.UNAVAILABLE,
    errors.KeyServiceUnavailable: grpc.StatusCode.UNAVAILABLE,
    errors.WrappedKeyRejected: grpc.StatusCode.DATA_LOSS,
    errors.IntegrityError: grpc.StatusCode.DATA_LOSS,
    errors.StorageError: grpc.StatusCode.UNAVAILABLE,
    errors.StorageUnavailable: grpc.StatusCode.UNAVAILABLE,
    errors.EncryptionUnavailable: grpc.StatusCode.UNAVAILABLE,
    errors.ShardUnavailable: grpc.StatusCode.UNAVAILABLE,
    errors.ConfigurationError: grpc.StatusCode.INTERNAL,
    errors.VaultError: grpc.StatusCode.INTERNAL,
}


def test_every_error_class_has_an_expectation() -> None:
    """A new class in vault.errors must be added to this table (and maybe the mapping)."""
    declared = {getattr(errors, name) for name in errors.__all__}
    assert declared == set(EXPECTED)


@pytest.mark.parametrize(
    ("error_class", "code"), EXPECTED.items(), ids=lambda v: getattr(v, "__name__", str(v))
)
def test_each_error_class_maps_to_its_code(
    error_class: type[Exception], code: grpc.StatusCode
) -> None:
    """Every vault error class maps to exactly the documented status code."""
    assert status_code_for(error_class("x")) is code


def test_mapped_errors_keep_their_message_on_one_line() -> None:
    """A mapped error's message reaches the caller, whitespace collapsed."""
    status = to_rpc_status(errors.NotFound("collection\n 'x' does not exist"), method="Get")
    assert status.details == "collection 'x' does not exist"


def test_unexpected_errors_become_internal_without_their_message(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An unexpected exception gives INTERNAL with a generic message, and the log names
    its type but not its message (which could quote request data)."""
    secret = "probe=[0.1234, 0.5678]"
    try:
        raise ValueError(secret)
    except ValueError as error:
        with caplog.at_level(logging.ERROR):
            status = to_rpc_status(error, method="Verify")
    assert status.code is grpc.StatusCode.INTERNAL
    assert status.details == INTERNAL_DETAILS
    assert "ValueError" in caplog.text and "Verify" in caplog.text
    assert secret not in caplog.text


def test_no_error_maps_to_unknown() -> None:
    """UNKNOWN is never produced, whatever the exception."""
    for error in [*(cls("x") for cls in EXPECTED), RuntimeError("x"), KeyError("x")]:
        assert status_code_for(error) is not grpc.StatusCode.UNKNOWN
