"""Named CKKS parameter presets and the arithmetic budget they imply.

Templates are *coefficient-packed*: coordinate j of S = N templates is one
ciphertext whose plaintext polynomial has template t's value in coefficient t.
Scoring a probe q is then sum_j q_j * ct_j with integer q_j, computed on raw
ciphertext residues with float64 BLAS. Three budgets fix the numbers:

* **Exactness.** A float64 sum of products is exact while it stays below 2^53.
  Centred residues are below p/2, so we need (p/2) * ||q~||_1 < 2^53 where
  q~ = round(q * 2^s) is the integer probe; for a unit probe
  ||q~||_1 <= 2^s * sqrt(d) + d/2.
* **Headroom.** Decryption is correct while |score| * Delta * 2^s < p/2.
* **Precision.** Error ~ probe rounding (2^-(s+1) per coordinate) plus
  encryption noise (sigma ~ 3.2 per coefficient, divided by Delta).

Preset 1 (N = 4096, data prime 36 bits, special prime 36 bits, Delta = 2^20) gives
s = 13 at d = 512 and score errors around 1e-4. Total modulus 72 bits is far below
the 109 bits that the Homomorphic Encryption Standard (Albrecht et al. 2018, table
for N = 4096, ternary secret, 128-bit classical security) allows; SEAL checks this
itself when the context is built. There are no multiplications between ciphertexts,
so one data prime suffices; the special prime exists only because SEAL needs one to
create a context (it never appears in stored ciphertexts).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from vault.errors import ConfigurationError, InvalidArgument

__all__ = [
    "DEFAULT_PARAMS_ID",
    "PRESETS",
    "CkksParams",
    "exact_l1_budget",
    "get_params",
    "probe_bits",
]

_EXACT_BITS = 53


@dataclass(frozen=True)
class CkksParams:
    """A named CKKS parameter set."""

    params_id: int
    poly_modulus_degree: int
    coeff_mod_bit_sizes: tuple[int, ...]
    scale_bits: int
    # A block accepts at most this many summed encryptions: each enrolment batch
    # adds one fresh encryption's noise to every coefficient of the block, so the
    # score noise grows like sqrt(n) (sigma 3.2 * sqrt(n) / 2^scale_bits per score).
    max_block_encryptions: int

    @property
    def slots(self) -> int:
        """Templates per block (one per polynomial coefficient)."""
        return self.poly_modulus_degree


PRESETS: dict[int, CkksParams] = {
    1: CkksParams(
        params_id=1,
        poly_modulus_degree=4096,
        coeff_mod_bit_sizes=(36, 36),
        scale_bits=20,
        # Measured (4,096 templates x 64 probes): score error std 3.6e-5 / 4.4e-5 /
        # 6.1e-5 / 1.05e-4 and max 1.4e-4 / 1.9e-4 / 3.1e-4 / 5.4e-4 after 1 / 64 /
        # 256 / 1,024 summed encryptions. 1,024 keeps the 1e-3 bound with ~2x margin
        # (about 5.3 sigma over millions of scores) and lets one-at-a-time enrolment
        # fill a block with 1,024 templates instead of 64.
        max_block_encryptions=1024,
    ),
}
DEFAULT_PARAMS_ID = 1


def get_params(params_id: int) -> CkksParams:
    """Look up a preset by id."""
    try:
        return PRESETS[params_id]
    except KeyError as e:
        raise ConfigurationError(f"unknown CKKS parameter set {params_id}") from e


def exact_l1_budget(prime: int) -> float:
    """Largest L1 norm of an integer probe whose product with centred residues
    (|c| < 2^(bits(p) - 1)) is exact in float64: every partial sum stays <= 2^53."""
    return 2.0 ** (_EXACT_BITS - (prime.bit_length() - 1))


def probe_bits(params: CkksParams, prime: int, dim: int) -> int:
    """Largest probe precision s that keeps scoring exact and decryptable."""
    # Exactness: a unit probe has ||q||_1 <= sqrt(d); rounding adds at most d/2.
    room = exact_l1_budget(prime) - dim / 2
    if room <= 1:
        raise InvalidArgument(
            f"dimension {dim} is too large for CKKS parameter set {params.params_id}"
        )
    s_exact = math.floor(math.log2(room / math.sqrt(dim)))
    # Headroom: |score| up to 2 must survive; Delta * 2^s * 2 < p / 2.
    s_head = math.floor(math.log2(prime) - 2 - params.scale_bits)
    s = min(s_exact, s_head)
    if s < 8:
        raise InvalidArgument(
            f"dimension {dim} leaves too little precision for parameter set {params.params_id}"
        )
    return s
