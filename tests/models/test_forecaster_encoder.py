"""The MiniLM encoder: int8 fast path agrees with fp32; post encodings are cached."""

from __future__ import annotations

import numpy as np
import pytest

from models.forecaster.encoder import MiniLMEncoder

pytestmark = pytest.mark.slow


def test_int8_encodings_agree_with_fp32_and_cache_hits():
    texts = [
        "Thank you so much, this helped a lot!",
        "What GPA do I need for grad school?",
        "",
        "lol same",
    ]
    fast, ref = MiniLMEncoder(fast=True), MiniLMEncoder(fast=False)
    a, b = fast.encode(texts), ref.encode(texts)
    assert a.shape == (4, 384)
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, rtol=1e-4)
    sim = a @ b.T
    # int8 dynamic quantisation is lossy (measured cos 0.8-0.95 to fp32) but each text stays
    # closest to its own fp32 encoding
    assert np.diag(sim).min() > 0.75
    assert np.all(np.argmax(sim, axis=1) == np.arange(4))
    first = fast.encode_cached("t3_x", texts[0])
    assert fast.encode_cached("t3_x", "ignored: cached by key") is first
