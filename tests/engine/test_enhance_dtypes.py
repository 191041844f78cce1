"""``engine.enhance`` refuses array types the pipeline cannot carry with advice for NumPy users."""

from __future__ import annotations

import numpy as np
import pytest

import engine
from engine.errors import ParameterError


@pytest.mark.parametrize("dtype", ["int64", "uint64", "complex64"])
def test_unsupported_dtypes_get_advice_that_fits_the_python_api(dtype):
    array = (np.arange(12 * 14).reshape(12, 14) % 50).astype(dtype)
    with pytest.raises(ParameterError) as info:
        engine.enhance(array, 2, model="lmlte-default", device="cpu")
    message = str(info.value)
    assert f"dtype {dtype}" in message and "convert the array to float32 or int32" in message
    assert "gdal_translate" not in message and "raster" not in message


def test_the_advised_conversion_works():
    array = (np.arange(12 * 14).reshape(12, 14) % 50).astype("int64")
    out = engine.enhance(array.astype(np.int32), 2, model="lmlte-default", device="cpu")
    assert out.shape == (24, 28) and out.dtype == np.int32
