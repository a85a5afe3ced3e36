"""Fixed-window counters shared by every web process (login and API rate limits).

`next_at` and `delay` serve the growing delays of the login ceiling: once an account is over
its ceiling, an attempt is let through only after `next_at` (epoch seconds), and each one
doubles `delay`."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from ..timeutil import UTCDateTime


class RateCounter(db.Model):
    __tablename__ = "rate_counters"
    __table_args__ = (sa.UniqueConstraint("key", "window_start"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(200))
    window_start: Mapped[datetime] = mapped_column(UTCDateTime)
    count: Mapped[int] = mapped_column(default=0)
    next_at: Mapped[int | None] = mapped_column(sa.BigInteger)
    delay: Mapped[int] = mapped_column(default=0, server_default="0")
