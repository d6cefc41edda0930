from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class RotateTransformKeyRequest(_message.Message):
    __slots__ = ("collection", "revoke_old")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    REVOKE_OLD_FIELD_NUMBER: _ClassVar[int]
    collection: str
    revoke_old: bool
    def __init__(self, collection: _Optional[str] = ..., revoke_old: _Optional[bool] = ...) -> None: ...

class TransformKeyRotation(_message.Message):
    __slots__ = ("collection", "key_version", "revoked", "templates_by_key_version")
    class TemplatesByKeyVersionEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: int
        value: int
        def __init__(self, key: _Optional[int] = ..., value: _Optional[int] = ...) -> None: ...
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    KEY_VERSION_FIELD_NUMBER: _ClassVar[int]
    REVOKED_FIELD_NUMBER: _ClassVar[int]
    TEMPLATES_BY_KEY_VERSION_FIELD_NUMBER: _ClassVar[int]
    collection: str
    key_version: int
    revoked: int
    templates_by_key_version: _containers.ScalarMap[int, int]
    def __init__(self, collection: _Optional[str] = ..., key_version: _Optional[int] = ..., revoked: _Optional[int] = ..., templates_by_key_version: _Optional[_Mapping[int, int]] = ...) -> None: ...

class GetTransformKeyStatusRequest(_message.Message):
    __slots__ = ("collection",)
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    collection: str
    def __init__(self, collection: _Optional[str] = ...) -> None: ...

class TransformKeyStatus(_message.Message):
    __slots__ = ("collection", "templates_by_key_version")
    class TemplatesByKeyVersionEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: int
        value: int
        def __init__(self, key: _Optional[int] = ..., value: _Optional[int] = ...) -> None: ...
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    TEMPLATES_BY_KEY_VERSION_FIELD_NUMBER: _ClassVar[int]
    collection: str
    templates_by_key_version: _containers.ScalarMap[int, int]
    def __init__(self, collection: _Optional[str] = ..., templates_by_key_version: _Optional[_Mapping[int, int]] = ...) -> None: ...
