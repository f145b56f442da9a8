"""Fixtures for the models tests: hand-built conversations and the test-only fake aux."""

from __future__ import annotations

import pytest

from models.metrics.accommodation import Markers
from tests.models.fakes import FakeAux


@pytest.fixture()
def fake_aux() -> FakeAux:
    return FakeAux()


@pytest.fixture(scope="session")
def builtin_markers() -> Markers:
    return Markers.builtin()
