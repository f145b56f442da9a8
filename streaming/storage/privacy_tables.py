"""The tables behind deletion sync and retention: what was erased and when each stored
item was last re-checked on Reddit (``docs``: README, "Data handling")."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from streaming.storage.tables import Base

__all__ = ["ErasureRow", "RecheckRow"]


class ErasureRow(Base):
    """One stored item whose text and author were erased, why (``deleted``, ``removed``,
    ``account_deleted``, ``retention``) and when (service clock). Holds no text, no author."""

    __tablename__ = "erasures"
    __table_args__ = (Index("ix_erasures_reason_at", "reason", "erased_utc"),)
    name: Mapped[str] = mapped_column(String(16), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    reason: Mapped[str] = mapped_column(String(16))
    via: Mapped[str] = mapped_column(String(16))
    erased_utc: Mapped[int] = mapped_column(BigInteger)


class RecheckRow(Base):
    """When a stored item was last looked up on Reddit, and whether its final check ran."""

    __tablename__ = "rechecks"
    name: Mapped[str] = mapped_column(String(16), primary_key=True)
    checked_utc: Mapped[int] = mapped_column(BigInteger, index=True)
    checks: Mapped[int] = mapped_column(Integer, default=0)
    final: Mapped[bool] = mapped_column(Boolean, default=False)
