"""A real CKKS key set shared by the HE tests (generation is cheap, but not free)."""

import pytest

from vault.he.keyset import CkksKeySet
from vault.he.params import DEFAULT_PARAMS_ID, get_params


@pytest.fixture(scope="session")
def keyset() -> CkksKeySet:
    return CkksKeySet.generate(get_params(DEFAULT_PARAMS_ID))
