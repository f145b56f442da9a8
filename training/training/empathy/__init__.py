"""Training the empathy-direction classifier on iEmpathize (paper protocol, baselines, report)."""

from __future__ import annotations

__all__: list[str] = []
