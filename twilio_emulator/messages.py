"""SMS: REST-created messages (with delivery callbacks) and inbound SMS webhooks."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .sids import new_sid

if TYPE_CHECKING:
    from .engine import Engine

MAX_BODY = 1600


@dataclass
class Message:
    sid: str
    from_: str
    to: str
    body: str
    direction: str
    status: str
    created: float
    updated: float
    messaging_service_sid: str | None = None
    status_callback: str | None = None
    sent: float | None = None

    @property
    def segments(self) -> int:
        return max(1, -(-len(self.body) // 153)) if len(self.body) > 160 else 1


class Messages:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.by_sid: dict[str, Message] = {}

    def _new(self, from_: str, to: str, body: str, direction: str, status: str,
             **kw: str | None) -> Message:
        now = self.engine.now()
        msg = Message(new_sid("SM"), from_, to, body, direction, status, now, now, **kw)
        self.by_sid[msg.sid] = msg
        return msg

    def send(self, from_: str, to: str, body: str, messaging_service_sid: str | None,
             status_callback: str | None) -> Message:
        """REST create: queued now; sent and delivered shortly after, with callbacks."""
        msg = self._new(from_ or "", to, body, "outbound-api", "queued",
                        messaging_service_sid=messaging_service_sid,
                        status_callback=status_callback)
        self.engine.spawn(self._deliver(msg))
        return msg

    async def _deliver(self, msg: Message) -> None:
        for status in ("sent", "delivered"):
            await self.engine.clock.sleep(0.5)
            msg.status, msg.updated = status, self.engine.now()
            if status == "sent":
                msg.sent = msg.updated
            if msg.status_callback:
                params = [("AccountSid", self.engine.account_sid), ("ApiVersion", "2010-04-01"),
                          ("MessageSid", msg.sid), ("SmsSid", msg.sid),
                          ("MessageStatus", status), ("SmsStatus", status),
                          ("From", msg.from_), ("To", msg.to)]
                self.engine.callback(None, msg.status_callback, "POST", params, key=msg.sid)

    async def receive(self, from_: str, to: str, body: str) -> Message:
        """An SMS arrives at one of the provisioned numbers: POST its SmsUrl."""
        engine = self.engine
        msg = self._new(from_, to, body, "inbound", "received")
        number = engine.numbers.by_number(to)
        if number is None or not number.sms_url:
            return msg
        country = "US" if from_.startswith("+1") else ""
        params = [("ToCountry", "US" if to.startswith("+1") else ""), ("ToState", ""),
                  ("SmsMessageSid", msg.sid), ("NumMedia", "0"), ("ToCity", ""),
                  ("FromZip", ""), ("SmsSid", msg.sid), ("FromState", ""),
                  ("SmsStatus", "received"), ("FromCity", ""), ("Body", body),
                  ("FromCountry", country), ("To", to), ("ToZip", ""), ("NumSegments", "1"),
                  ("MessageSid", msg.sid), ("AccountSid", engine.account_sid),
                  ("From", from_), ("ApiVersion", "2010-04-01")]
        result = await engine.webhooks.send(number.sms_url, params, number.sms_method)
        if result.error or result.status >= 400:
            detail = result.message or f"HTTP {result.status}"
            engine.log_error(result.error or 11200, f"SMS webhook failed: {detail}", None,
                             number.sms_url)
            return msg
        try:
            root = ET.fromstring(result.body.strip().encode()) if result.body.strip() else None
        except ET.ParseError:
            engine.log_error(12100, "SMS reply is not valid TwiML", None, number.sms_url)
            return msg
        for el in root if root is not None else []:
            if el.tag == "Message":
                text = el.findtext("Body") or "".join(el.itertext()).strip()
                reply = self._new(to, from_, text, "outbound-reply", "sent")
                reply.sent = reply.created
        return msg
