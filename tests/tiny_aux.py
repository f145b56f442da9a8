"""The small aux training run the tests share: 12-bit char hashing, one regularisation value
per head, small chunks."""

from __future__ import annotations

from dataclasses import replace

from training.aux.fit import TRAINING_FEATURES, AuxConfig

__all__ = ["TINY_AUX"]

TINY_AUX = AuxConfig(
    vocab_min_df=2,
    features=replace(TRAINING_FEATURES, char_bits=12),
    c_grid=(4.0,),
    alpha_grid=(1.0,),
    chunk=512,
)
