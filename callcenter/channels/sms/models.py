"""Numbers that texted STOP to us: Twilio refuses our texts to them (21610) until they
text START, so the ticket page offers no text reply to them meanwhile."""

from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from callcenter.db import Base, CreatedAtMixin


class SmsOptOut(CreatedAtMixin, Base):
    __tablename__ = "sms_opt_out"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)  # E.164
    keyword: Mapped[str] = mapped_column(String(20))  # what they texted: STOP, QUIT...
