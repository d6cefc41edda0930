"""The CKKS key set: the only object that can encrypt templates or decrypt scores.

The secret key lives inside this handle for the whole life of the process: in its
TenSEAL context and, as a polynomial for the numpy engine, in a private slot. It
leaves the handle in exactly one way - :meth:`CkksKeySet.unsafe_serialize`, whose
output the caller must envelope-encrypt at once. Handles (and the polynomial)
cannot be pickled, so a key set cannot leak through multiprocessing or caching by
accident.

Encryption is symmetric (secret-key) CKKS: the vault is the only party that ever
encrypts, and a fresh symmetric ciphertext carries roughly sqrt(N) times less
noise than a public-key one, which is what lets us use a 36-bit data prime.

Ciphertexts are handled in coefficient form. SEAL holds and serialises the secret
key; at start-up the handle reads the secret polynomial back once (SEAL decrypts
the ciphertext (0, 1), whose message is s itself) into a
:class:`~vault.he.secret.SecretPolynomial` in a private slot, which encrypts and
decrypts whole blocks as vectorised numpy (see vault.he.secret for the forms and
vault.he.ring for the arithmetic). SEAL's own encryption and decryption stay
available for interoperability checks and to read blocks SEAL wrote (NTT form).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import struct
import tempfile
import threading
import weakref
from pathlib import Path

import numpy as np
import tenseal as ts
import tenseal.sealapi as sealapi

from vault.errors import IntegrityError
from vault.he.embedding import CoefficientEmbedding
from vault.he.modmath import center
from vault.he.params import CkksParams
from vault.he.ring import NegacyclicFFT, sample_uniform_mod
from vault.he.sealformat import (
    CiphertextLayout,
    parse_ciphertext,
    parse_plaintext,
    write_ciphertext,
)
from vault.he.secret import SecretPolynomial
from vault.he.workers import HeWorkers, PoolState

__all__ = ["CkksKeySet"]

_CREATION_TOKEN = object()
# Below this many ciphertexts the round trip to a worker costs more than it saves.
_PARALLEL_MIN_ROWS = 16
_DECODE_BATCH = 8


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def _tenseal_vector_message(ciphertext: bytes, slots: int, scale: float) -> bytes:
    """Wrap SEAL bytes in TenSEAL's CKKSVectorProto (sizes=1, ciphertexts=2, scale=3),
    so TenSEAL loads the ciphertext from memory instead of from a file."""
    sizes = _varint(slots)
    return b"".join(
        (
            b"\x0a",
            _varint(len(sizes)),
            sizes,
            b"\x12",
            _varint(len(ciphertext)),
            ciphertext,
            b"\x19",
            struct.pack("<d", scale),
        )
    )


def _scratch_dir() -> Path:
    # SEAL's Python binding saves only to a path. The files hold fresh ciphertexts
    # (never keys or plaintext); prefer RAM-backed /dev/shm and a private 0700 dir.
    base = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    return Path(tempfile.mkdtemp(prefix="biovault-", dir=base))


class CkksKeySet:
    """Opaque handle on a CKKS context holding the secret key."""

    __slots__ = (
        "__weakref__",
        "_ctx",
        "_decryptor",
        "_encoder",
        "_encryptor",
        "_evaluator",
        "_layout",
        "_lock",
        "_scratch",
        "_secret",
        "_workers",
        "embedding",
        "params",
        "prime",
    )

    def __init__(self, token: object, params: CkksParams, context: ts.Context) -> None:
        if token is not _CREATION_TOKEN:
            raise TypeError("use CkksKeySet.generate() or CkksKeySet.unsafe_from_serialized()")
        if not context.is_private():
            raise IntegrityError("the CKKS key set carries no secret key")
        self.params = params
        self._ctx = context
        seal_context = context.seal_context().data
        secret = context.secret_key().data
        self._encryptor = sealapi.Encryptor(seal_context, secret)
        self._decryptor = sealapi.Decryptor(seal_context, secret)
        self._encoder = sealapi.CKKSEncoder(seal_context)
        data_level = seal_context.first_context_data()
        moduli = data_level.parms().coeff_modulus()
        if len(moduli) != 1:
            raise IntegrityError("CKKS parameter set must have exactly one data prime")
        self.prime = int(moduli[0].value())
        self.embedding = CoefficientEmbedding(params.poly_modulus_degree)
        self._lock = threading.Lock()
        self._scratch = _scratch_dir()
        # Remove the scratch directory with the handle, or at interpreter exit.
        weakref.finalize(self, shutil.rmtree, self._scratch, True)
        self._layout = self._probe_layout(seal_context)
        self._evaluator = sealapi.Evaluator(seal_context)
        self._workers: HeWorkers | None = None
        # NTT(1) is all ones, so (0, NTT(1)) decrypts to s: SEAL hands us the secret
        # polynomial through its own decryption, and it never leaves this handle.
        unit = np.zeros((1, 2, params.poly_modulus_degree), dtype=np.uint64)
        unit[0, 1] = 1
        secret = np.rint(self.decrypt_ntt_with_seal(unit, 1.0)[0])
        self._secret = SecretPolynomial(secret.astype(np.int64), self.prime)

    # --- construction ---------------------------------------------------------
    @classmethod
    def generate(cls, params: CkksParams) -> CkksKeySet:
        """Create a fresh key set (SEAL rejects parameters below 128-bit security)."""
        context = ts.context(
            ts.SCHEME_TYPE.CKKS,
            poly_modulus_degree=params.poly_modulus_degree,
            coeff_mod_bit_sizes=list(params.coeff_mod_bit_sizes),
            encryption_type=ts.ENCRYPTION_TYPE.SYMMETRIC,
        )
        return cls(_CREATION_TOKEN, params, context)

    @classmethod
    def unsafe_from_serialized(cls, params: CkksParams, serialized: bytes) -> CkksKeySet:
        """Rebuild from :meth:`unsafe_serialize` output (after envelope decryption)."""
        try:
            context = ts.context_from(serialized)
        except Exception as e:  # TenSEAL raises bare exceptions for malformed input
            raise IntegrityError("stored CKKS key set could not be loaded") from e
        if context.seal_context().data.first_context_data().parms().poly_modulus_degree() != (
            params.poly_modulus_degree
        ):
            raise IntegrityError("stored CKKS key set does not match its parameter set")
        return cls(_CREATION_TOKEN, params, context)

    def unsafe_serialize(self) -> bytes:
        """Serialise including the secret key. Envelope-encrypt the result at once."""
        return self._ctx.serialize(
            save_public_key=False,
            save_secret_key=True,
            save_galois_keys=False,
            save_relin_keys=False,
        )

    def __reduce__(self) -> str:
        raise TypeError("CKKS key sets cannot be pickled")

    def __repr__(self) -> str:
        return f"CkksKeySet(params_id={self.params.params_id}, secret=<hidden>)"

    # --- worker processes -----------------------------------------------------
    def start_workers(self, processes: int) -> None:
        """Fork ``processes`` workers that inherit this key set (call before threads start)."""
        if processes > 1 and self._workers is None:
            self._workers = HeWorkers(self, processes)

    @property
    def workers(self) -> HeWorkers | None:
        """The worker pool, if :meth:`start_workers` started one."""
        return self._workers

    def workers_ready(self) -> bool:
        """False while the worker pool is broken, being replaced or lost."""
        return self._workers is None or self._workers.state is PoolState.READY

    def stop_workers(self) -> None:
        if self._workers is not None:
            self._workers.close()
            self._workers = None

    # --- encryption -----------------------------------------------------------
    def encrypt_coefficients(self, values: np.ndarray, scale: float) -> np.ndarray:
        """Encrypt rows of coefficients, spread over the worker processes if any.

        See :meth:`encrypt_coefficients_here` for the arguments and result.
        """
        if self._workers is not None and len(values) >= _PARALLEL_MIN_ROWS:
            return self._workers.encrypt(np.asarray(values, dtype=np.float64), scale)
        return self.encrypt_coefficients_here(values, scale)

    def decrypt_coefficients(self, residues: np.ndarray, scale: float) -> np.ndarray:
        """Decrypt pair-form ciphertexts in this process (vectorised numpy; shipping
        them to workers would cost more than it spreads).
        See :meth:`decrypt_coefficients_here`."""
        return self.decrypt_coefficients_here(residues, scale)

    def encrypt_coefficients_here(self, values: np.ndarray, scale: float) -> np.ndarray:
        """Encrypt rows of polynomial coefficients as pair-form ciphertexts.

        Args:
            values: (k, N) float64 coefficients in message units.
            scale: CKKS scale; coefficient t of row r encodes round(values[r, t] * scale).

        Returns:
            (k, 2, N) uint64 residues (c0, c1) of k fresh ciphertexts in coefficient form.
        """
        return self._secret.encrypt_pairs(values, scale)

    def encrypt_block(self, values: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
        """Encrypt a block's (dim, N) coordinates in the shared form: ((dim, N) c0, (N,) a).

        With workers, the block's uniform ``a`` is drawn here and its coordinates are
        split over the worker processes (each holds the same inherited secret).
        """
        if self._workers is not None and len(values) >= _PARALLEL_MIN_ROWS:
            a = sample_uniform_mod(self.prime, self.params.poly_modulus_degree)
            return self._workers.encrypt(np.asarray(values, dtype=np.float64), scale, a=a), a
        return self._secret.encrypt_shared(values, scale)

    def encrypt_block_rows_here(
        self, values: np.ndarray, scale: float, a: np.ndarray, *, first: int, dim: int
    ) -> np.ndarray:
        """Coordinates ``first`` .. of a ``dim``-coordinate block under its shared ``a``
        (the part of :meth:`encrypt_block` one worker computes): (k, N) uint64 c0."""
        return self._secret.encrypt_shared_rows(values, scale, a, first=first, dim=dim)

    def encrypt_ntt_with_seal(self, values: np.ndarray, scale: float) -> np.ndarray:
        """SEAL's own encryption (encoder + symmetric encryptor), in SEAL's NTT form.

        What blocks held before the engine encrypted in numpy; kept to check
        interoperability and to write blocks in the old format.
        """
        values = np.asarray(values, dtype=np.float64)
        slots = self.embedding.to_slots(values)
        parms_id = self._layout.parms_id
        out = np.empty((len(values), 2, self.params.poly_modulus_degree), dtype=np.uint64)
        path = str(self._scratch / f"enc-{os.getpid()}-{threading.get_ident()}.bin")
        try:
            for row, slot_values in enumerate(slots):
                plain = sealapi.Plaintext()
                self._encoder.encode(slot_values.tolist(), list(parms_id), scale, plain)
                cipher = sealapi.Ciphertext()
                self._encryptor.encrypt_symmetric(plain, cipher)
                cipher.save(path)
                _, _, residues = parse_ciphertext(Path(path).read_bytes())
                out[row] = residues[:, 0, :]
        finally:
            if os.path.exists(path):
                os.unlink(path)
        return out

    # --- decryption of score vectors -----------------------------------------
    def decrypt_coefficients_here(self, residues: np.ndarray, scale: float) -> np.ndarray:
        """Decrypt k pair-form ciphertexts given as (k, 2, N) uint64 coefficient residues."""
        c0 = center(residues[:, 0], self.prime)
        c1 = center(residues[:, 1], self.prime)
        return self._secret.decrypt_pairs(c0, c1, scale)

    def decrypt_pair_products(self, c0: np.ndarray, c1: np.ndarray, scale: float) -> np.ndarray:
        """Messages of pair-form score ciphertexts given as exact float64 products (..., N)."""
        return self._secret.decrypt_pairs(c0, c1, scale)

    def probe_secrets(self, probes: np.ndarray, dim: int) -> np.ndarray:
        """Opaque per-probe decryption aid for shared-form blocks (spectra of sum_j q_j s_j).

        It is a secret-dependent value: callers inside vault.he pass it straight back to
        :meth:`decrypt_shared_products`.
        """
        return self._secret.probe_secrets(probes, dim)

    def decrypt_shared_products(
        self,
        c0: np.ndarray,
        a_spectra: np.ndarray,
        probe_secrets: np.ndarray,
        scale: float,
        out: np.ndarray | None = None,
    ) -> np.ndarray:
        """Messages of shared-form score ciphertexts (see SecretPolynomial.decrypt_shared)."""
        return self._secret.decrypt_shared(c0, a_spectra, probe_secrets, scale, out)

    def fft(self) -> NegacyclicFFT:
        """The ring's FFT (public arithmetic; no key inside)."""
        return self._secret.fft

    def ntt_to_coefficients(self, residues: np.ndarray) -> np.ndarray:
        """SEAL's inverse NTT of (k, 2, N) ciphertext residues (blocks SEAL wrote)."""
        return self._transform(residues, to_ntt=False)

    def coefficients_to_ntt(self, residues: np.ndarray) -> np.ndarray:
        """SEAL's NTT of (k, 2, N) coefficient-form ciphertext residues."""
        return self._transform(residues, to_ntt=True)

    def _transform(self, residues: np.ndarray, *, to_ntt: bool) -> np.ndarray:
        degree = self.params.poly_modulus_degree
        layout = dataclasses.replace(self._layout, is_ntt_form=not to_ntt)
        out = np.empty_like(residues, dtype=np.uint64)
        path = self._scratch / f"ntt-{os.getpid()}-{threading.get_ident()}.bin"
        try:
            for row, cipher_residues in enumerate(residues):
                serialized = write_ciphertext(layout, 1.0, cipher_residues[:, None, :])
                vector = ts._ts_cpp.CKKSVector(
                    self._ctx.data, _tenseal_vector_message(serialized, degree // 2, 1.0)
                )
                cipher = vector.ciphertext()[0]
                if to_ntt:
                    self._evaluator.transform_to_ntt_inplace(cipher)
                else:
                    self._evaluator.transform_from_ntt_inplace(cipher)
                cipher.save(str(path))
                _, _, parsed = parse_ciphertext(path.read_bytes())
                out[row] = parsed[:, 0, :]
        finally:
            path.unlink(missing_ok=True)
        return out

    def decrypt_ntt_with_seal(self, residues: np.ndarray, scale: float) -> np.ndarray:
        """SEAL's decryption of k NTT-form ciphertexts (k, 2, N) uint64: SEAL loads,
        decrypts and decodes each; we invert the slot embedding."""
        degree = self.params.poly_modulus_degree
        out = np.empty((len(residues), degree))
        slots = np.empty((_DECODE_BATCH, degree // 2), dtype=np.complex128)
        plain = sealapi.Plaintext()
        # Decode in small batches so the FFT's working set stays in cache.
        for first in range(0, len(residues), _DECODE_BATCH):
            batch = residues[first : first + _DECODE_BATCH]
            for row, cipher_residues in enumerate(batch):
                serialized = write_ciphertext(self._layout, scale, cipher_residues[:, None, :])
                vector = ts._ts_cpp.CKKSVector(
                    self._ctx.data, _tenseal_vector_message(serialized, degree // 2, scale)
                )
                self._decryptor.decrypt(vector.ciphertext()[0], plain)
                slots[row] = self._encoder.decode_complex(plain)
            out[first : first + len(batch)] = self.embedding.from_slots(slots[: len(batch)])
        return out

    def monomial_ntt(self, position: int) -> np.ndarray:
        """SEAL's NTT-form residues of the plaintext polynomial X^position.

        Adding u * NTT(X^t) to c0 adds u to message coefficient t and to nothing
        else; erasure uses it to overwrite one template's coefficient with a
        uniformly random pad without touching its neighbours.
        """
        unit = np.zeros((1, self.params.poly_modulus_degree))
        unit[0, position] = 1.0
        plain = sealapi.Plaintext()
        self._encoder.encode(
            self.embedding.to_slots(unit)[0].tolist(), list(self._layout.parms_id), 1.0, plain
        )
        path = self._scratch / f"plain-{os.getpid()}-{threading.get_ident()}.bin"
        try:
            plain.save(str(path))
            _, data = parse_plaintext(path.read_bytes())
        finally:
            path.unlink(missing_ok=True)
        return data.copy()

    # --- helpers --------------------------------------------------------------
    def _probe_layout(self, seal_context: object) -> CiphertextLayout:
        """Learn SEAL's exact ciphertext layout (parms_id, version) once."""
        plain = sealapi.Plaintext()
        self._encoder.encode(0.0, seal_context.first_parms_id(), 1.0, plain)  # type: ignore[attr-defined]
        cipher = sealapi.Ciphertext()
        self._encryptor.encrypt_symmetric(plain, cipher)
        path = self._scratch / "layout.bin"
        cipher.save(str(path))
        layout, _, _ = parse_ciphertext(path.read_bytes())
        path.unlink()
        return layout
