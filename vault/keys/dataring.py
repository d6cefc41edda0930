"""The data keys (DEKs) of one scope - normally one collection - by version.

A scope has one *current* DEK that seals new blobs and may keep older versions
while a DEK rotation re-encrypts the blobs still sealed under them. Versions are
small positive integers that every sealed blob names in its header, so opening a
blob never has to guess which key to try. Handles stay opaque
(:class:`~vault.keys.datakey.DataKey`); the ring only files them by version.
"""

from __future__ import annotations

import threading
from typing import NoReturn

from vault.errors import IntegrityError, InvalidArgument
from vault.keys.datakey import DataKey

__all__ = ["DataKeyRing"]


class DataKeyRing:
    """Thread-safe map from version to DEK handle; the highest version is current.

    Args:
        scope: What the keys protect, e.g. a collection name (used in messages).
    """

    __slots__ = ("_keys", "_lock", "scope")

    def __init__(self, scope: str) -> None:
        self.scope = scope
        self._keys: dict[int, DataKey] = {}
        self._lock = threading.Lock()

    def add(self, version: int, key: DataKey) -> None:
        """File ``key`` under ``version``; the highest version becomes current.

        Raises:
            InvalidArgument: ``version`` is not positive or already taken.
        """
        if version < 1:
            raise InvalidArgument("data key versions start at 1")
        with self._lock:
            if version in self._keys:
                raise InvalidArgument(f"data key version {version} of {self.scope!r} exists")
            self._keys[version] = key

    def current(self) -> tuple[int, DataKey]:
        """The version and handle that seal new blobs.

        Raises:
            IntegrityError: The ring is empty (no key was ever loaded).
        """
        with self._lock:
            if not self._keys:
                raise IntegrityError(f"no data key is loaded for {self.scope!r}")
            version = max(self._keys)
            return version, self._keys[version]

    @property
    def current_version(self) -> int:
        """Version of the current DEK (0 if none is loaded)."""
        with self._lock:
            return max(self._keys, default=0)

    def get(self, version: int) -> DataKey:
        """The DEK of ``version``.

        Raises:
            IntegrityError: No such version - the blob names a key this data
                directory does not hold (retired, or the header was altered).
        """
        with self._lock:
            key = self._keys.get(version)
        if key is None:
            raise IntegrityError(
                f"stored blob of {self.scope!r} names data key version {version}, "
                "which is not held (retired, or the header was altered)"
            )
        return key

    def versions(self) -> tuple[int, ...]:
        """Held versions, oldest first."""
        with self._lock:
            return tuple(sorted(self._keys))

    def discard(self, version: int) -> None:
        """Forget a retired version (the current one cannot be discarded).

        Raises:
            InvalidArgument: ``version`` is the current version.
        """
        with self._lock:
            if self._keys and version == max(self._keys):
                raise InvalidArgument("the current data key cannot be retired")
            self._keys.pop(version, None)

    def __repr__(self) -> str:
        return f"DataKeyRing(scope={self.scope!r}, versions={self.versions()})"

    def __reduce__(self) -> NoReturn:
        raise TypeError("DataKeyRing holds key handles and cannot be pickled")
