"""The tickets API's bodies."""

from __future__ import annotations

from pydantic import BaseModel


class CallOut(BaseModel):
    """Your softphone rings first; when you answer, `number` is dialled."""

    number: str
    message: str
