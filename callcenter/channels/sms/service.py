"""Opt-out keywords as Twilio reads them (a message that is only the word, any case), and
the numbers opted out."""

from __future__ import annotations

import enum

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.channels.sms.models import SmsOptOut
from callcenter.upsert import insert_ignoring_conflicts

# Twilio's default keywords on a long code (it answers each itself).
OPT_OUT = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE",
                     "OPTOUT"})
OPT_IN = frozenset({"START", "YES", "UNSTOP"})
HELP = frozenset({"HELP", "INFO"})


class Keyword(enum.StrEnum):
    stop = "STOP"
    start = "START"
    help = "HELP"


def keyword(body: str, opt_out_type: str = "") -> Keyword | None:
    """The keyword a text is, as Twilio's OptOutType says or (without one) as its words do."""
    if opt_out_type.upper() in Keyword.__members__.values():
        return Keyword(opt_out_type.upper())
    word = body.strip().upper()
    if word in OPT_OUT:
        return Keyword.stop
    if word in OPT_IN:
        return Keyword.start
    if word in HELP:
        return Keyword.help
    return None


async def opt_out(session: AsyncSession, *, number: str, word: str) -> None:
    await session.execute(insert_ignoring_conflicts(
        session, SmsOptOut, number=number, keyword=word.strip().upper()[:20] or "STOP",
    ))


async def opt_in(session: AsyncSession, *, number: str) -> None:
    await session.execute(delete(SmsOptOut).where(SmsOptOut.number == number))


async def opted_out(session: AsyncSession, *, numbers: list[str]) -> set[str]:
    """Which of these numbers texted STOP (and not START since)."""
    if not numbers:
        return set()
    rows = await session.scalars(select(SmsOptOut.number).where(SmsOptOut.number.in_(numbers)))
    return set(rows)
