from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RotationKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ROTATION_KIND_UNSPECIFIED: _ClassVar[RotationKind]
    ROTATION_KIND_KEK: _ClassVar[RotationKind]
    ROTATION_KIND_DEK: _ClassVar[RotationKind]
ROTATION_KIND_UNSPECIFIED: RotationKind
ROTATION_KIND_KEK: RotationKind
ROTATION_KIND_DEK: RotationKind

class GetKeyStatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CollectionKeys(_message.Message):
    __slots__ = ("name", "dek_version", "dek_versions", "blocks", "blocks_by_dek_version")
    class BlocksByDekVersionEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: int
        value: int
        def __init__(self, key: _Optional[int] = ..., value: _Optional[int] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    DEK_VERSION_FIELD_NUMBER: _ClassVar[int]
    DEK_VERSIONS_FIELD_NUMBER: _ClassVar[int]
    BLOCKS_FIELD_NUMBER: _ClassVar[int]
    BLOCKS_BY_DEK_VERSION_FIELD_NUMBER: _ClassVar[int]
    name: str
    dek_version: int
    dek_versions: _containers.RepeatedScalarFieldContainer[int]
    blocks: int
    blocks_by_dek_version: _containers.ScalarMap[int, int]
    def __init__(self, name: _Optional[str] = ..., dek_version: _Optional[int] = ..., dek_versions: _Optional[_Iterable[int]] = ..., blocks: _Optional[int] = ..., blocks_by_dek_version: _Optional[_Mapping[int, int]] = ...) -> None: ...

class RotationState(_message.Message):
    __slots__ = ("kind", "state", "from_version", "to_version", "started_at", "finished_at", "trim_at", "trimmed")
    KIND_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    FROM_VERSION_FIELD_NUMBER: _ClassVar[int]
    TO_VERSION_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    TRIM_AT_FIELD_NUMBER: _ClassVar[int]
    TRIMMED_FIELD_NUMBER: _ClassVar[int]
    kind: RotationKind
    state: str
    from_version: int
    to_version: int
    started_at: float
    finished_at: float
    trim_at: float
    trimmed: bool
    def __init__(self, kind: _Optional[_Union[RotationKind, str]] = ..., state: _Optional[str] = ..., from_version: _Optional[int] = ..., to_version: _Optional[int] = ..., started_at: _Optional[float] = ..., finished_at: _Optional[float] = ..., trim_at: _Optional[float] = ..., trimmed: _Optional[bool] = ...) -> None: ...

class KeyStatus(_message.Message):
    __slots__ = ("kek_name", "kek_version", "min_decryption_version", "min_available_version", "blobs_by_kek_version", "wrapped_keys_by_kek_version", "collections", "rotations", "running", "auth_method", "secrets")
    class BlobsByKekVersionEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: int
        value: int
        def __init__(self, key: _Optional[int] = ..., value: _Optional[int] = ...) -> None: ...
    class WrappedKeysByKekVersionEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: int
        value: int
        def __init__(self, key: _Optional[int] = ..., value: _Optional[int] = ...) -> None: ...
    KEK_NAME_FIELD_NUMBER: _ClassVar[int]
    KEK_VERSION_FIELD_NUMBER: _ClassVar[int]
    MIN_DECRYPTION_VERSION_FIELD_NUMBER: _ClassVar[int]
    MIN_AVAILABLE_VERSION_FIELD_NUMBER: _ClassVar[int]
    BLOBS_BY_KEK_VERSION_FIELD_NUMBER: _ClassVar[int]
    WRAPPED_KEYS_BY_KEK_VERSION_FIELD_NUMBER: _ClassVar[int]
    COLLECTIONS_FIELD_NUMBER: _ClassVar[int]
    ROTATIONS_FIELD_NUMBER: _ClassVar[int]
    RUNNING_FIELD_NUMBER: _ClassVar[int]
    AUTH_METHOD_FIELD_NUMBER: _ClassVar[int]
    SECRETS_FIELD_NUMBER: _ClassVar[int]
    kek_name: str
    kek_version: int
    min_decryption_version: int
    min_available_version: int
    blobs_by_kek_version: _containers.ScalarMap[int, int]
    wrapped_keys_by_kek_version: _containers.ScalarMap[int, int]
    collections: _containers.RepeatedCompositeFieldContainer[CollectionKeys]
    rotations: _containers.RepeatedCompositeFieldContainer[RotationState]
    running: str
    auth_method: str
    secrets: _containers.RepeatedCompositeFieldContainer[SecretStatus]
    def __init__(self, kek_name: _Optional[str] = ..., kek_version: _Optional[int] = ..., min_decryption_version: _Optional[int] = ..., min_available_version: _Optional[int] = ..., blobs_by_kek_version: _Optional[_Mapping[int, int]] = ..., wrapped_keys_by_kek_version: _Optional[_Mapping[int, int]] = ..., collections: _Optional[_Iterable[_Union[CollectionKeys, _Mapping]]] = ..., rotations: _Optional[_Iterable[_Union[RotationState, _Mapping]]] = ..., running: _Optional[str] = ..., auth_method: _Optional[str] = ..., secrets: _Optional[_Iterable[_Union[SecretStatus, _Mapping]]] = ...) -> None: ...

class SecretStatus(_message.Message):
    __slots__ = ("kind", "owner", "version", "kek_version")
    KIND_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    KEK_VERSION_FIELD_NUMBER: _ClassVar[int]
    kind: str
    owner: str
    version: int
    kek_version: int
    def __init__(self, kind: _Optional[str] = ..., owner: _Optional[str] = ..., version: _Optional[int] = ..., kek_version: _Optional[int] = ...) -> None: ...

class RotateKeysRequest(_message.Message):
    __slots__ = ("kind", "resume_only", "collections", "batch_size", "throttle_seconds", "trim_after_seconds")
    KIND_FIELD_NUMBER: _ClassVar[int]
    RESUME_ONLY_FIELD_NUMBER: _ClassVar[int]
    COLLECTIONS_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    THROTTLE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    TRIM_AFTER_SECONDS_FIELD_NUMBER: _ClassVar[int]
    kind: RotationKind
    resume_only: bool
    collections: _containers.RepeatedScalarFieldContainer[str]
    batch_size: int
    throttle_seconds: float
    trim_after_seconds: float
    def __init__(self, kind: _Optional[_Union[RotationKind, str]] = ..., resume_only: _Optional[bool] = ..., collections: _Optional[_Iterable[str]] = ..., batch_size: _Optional[int] = ..., throttle_seconds: _Optional[float] = ..., trim_after_seconds: _Optional[float] = ...) -> None: ...

class RotationProgress(_message.Message):
    __slots__ = ("phase", "done", "total", "detail")
    PHASE_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    phase: str
    done: int
    total: int
    detail: str
    def __init__(self, phase: _Optional[str] = ..., done: _Optional[int] = ..., total: _Optional[int] = ..., detail: _Optional[str] = ...) -> None: ...

class RotationSummary(_message.Message):
    __slots__ = ("kind", "key_version", "from_version", "rewrapped", "remaining_old", "resumed", "noop", "resealed", "collections", "keyset_resealed", "trim_at", "started_at", "finished_at")
    class CollectionsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    KIND_FIELD_NUMBER: _ClassVar[int]
    KEY_VERSION_FIELD_NUMBER: _ClassVar[int]
    FROM_VERSION_FIELD_NUMBER: _ClassVar[int]
    REWRAPPED_FIELD_NUMBER: _ClassVar[int]
    REMAINING_OLD_FIELD_NUMBER: _ClassVar[int]
    RESUMED_FIELD_NUMBER: _ClassVar[int]
    NOOP_FIELD_NUMBER: _ClassVar[int]
    RESEALED_FIELD_NUMBER: _ClassVar[int]
    COLLECTIONS_FIELD_NUMBER: _ClassVar[int]
    KEYSET_RESEALED_FIELD_NUMBER: _ClassVar[int]
    TRIM_AT_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    kind: RotationKind
    key_version: int
    from_version: int
    rewrapped: int
    remaining_old: int
    resumed: bool
    noop: bool
    resealed: int
    collections: _containers.ScalarMap[str, int]
    keyset_resealed: bool
    trim_at: float
    started_at: float
    finished_at: float
    def __init__(self, kind: _Optional[_Union[RotationKind, str]] = ..., key_version: _Optional[int] = ..., from_version: _Optional[int] = ..., rewrapped: _Optional[int] = ..., remaining_old: _Optional[int] = ..., resumed: _Optional[bool] = ..., noop: _Optional[bool] = ..., resealed: _Optional[int] = ..., collections: _Optional[_Mapping[str, int]] = ..., keyset_resealed: _Optional[bool] = ..., trim_at: _Optional[float] = ..., started_at: _Optional[float] = ..., finished_at: _Optional[float] = ...) -> None: ...

class RotationEvent(_message.Message):
    __slots__ = ("progress", "summary")
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    progress: RotationProgress
    summary: RotationSummary
    def __init__(self, progress: _Optional[_Union[RotationProgress, _Mapping]] = ..., summary: _Optional[_Union[RotationSummary, _Mapping]] = ...) -> None: ...
