"""SMS: REST-created messages (with delivery callbacks) and inbound SMS webhooks."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .interpreter import XML_TYPES, media_type
from .sids import new_sid
from .twiml import TwimlError, document_root

if TYPE_CHECKING:
    from .engine import Engine

MAX_BODY = 1600
# Twilio's default opt-out handling on long codes: these whole-message keywords (any case)
# opt the sender out of texts from that number, back in, or ask for help; Twilio answers
# each itself and still posts the webhook, with OptOutType.
OPT_OUT = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}
OPT_IN = {"START", "YES", "UNSTOP"}
HELP = {"HELP", "INFO"}
REPLIES = {
    "STOP": "You have successfully been unsubscribed. You will not receive any more messages "
            "from this number. Reply START to resubscribe.",
    "START": "You have successfully been re-subscribed to messages from this number. Reply "
             "HELP for help. Reply STOP to unsubscribe. Msg&Data Rates May Apply.",
    "HELP": "Reply STOP to unsubscribe. Msg&Data Rates May Apply.",
}


class OptedOut(Exception):
    """Twilio's 21610: the recipient replied STOP to this number."""


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
        self.opted_out: set[tuple[str, str]] = set()  # (their number, our number)

    def _new(self, from_: str, to: str, body: str, direction: str, status: str,
             **kw: str | None) -> Message:
        now = self.engine.now()
        msg = Message(new_sid("SM"), from_, to, body, direction, status, now, now, **kw)
        self.by_sid[msg.sid] = msg
        return msg

    def send(self, from_: str, to: str, body: str, messaging_service_sid: str | None,
             status_callback: str | None) -> Message:
        """REST create: ``queued`` (``accepted`` with a Messaging Service), then ``sent``
        and ``delivered`` shortly after. As Twilio documents, no status callback is sent
        for the initial status; with a Messaging Service ``queued`` gets one."""
        if (to, from_) in self.opted_out:
            raise OptedOut(to)
        initial = "accepted" if messaging_service_sid else "queued"
        msg = self._new(from_ or "", to, body, "outbound-api", initial,
                        messaging_service_sid=messaging_service_sid,
                        status_callback=status_callback)
        self.engine.spawn(self._deliver(msg))
        return msg

    async def _deliver(self, msg: Message) -> None:
        steps = (["queued"] if msg.status == "accepted" else []) + ["sent", "delivered"]
        for status in steps:
            await self.engine.clock.sleep(0.5 if status != "queued" else 0.1)
            msg.status, msg.updated = status, self.engine.now()
            if status == "sent":
                msg.sent = msg.updated
            if msg.status_callback:
                params = [("AccountSid", self.engine.account_sid), ("ApiVersion", "2010-04-01"),
                          ("MessageSid", msg.sid), ("SmsSid", msg.sid),
                          ("MessageStatus", status), ("SmsStatus", status),
                          ("From", msg.from_), ("To", msg.to)]
                if msg.messaging_service_sid:
                    params.append(("MessagingServiceSid", msg.messaging_service_sid))
                self.engine.callback(None, msg.status_callback, "POST", params, key=msg.sid)

    async def receive(self, from_: str, to: str, body: str) -> Message:
        """An SMS arrives at one of the provisioned numbers: POST its SmsUrl."""
        engine = self.engine
        msg = self._new(from_, to, body, "inbound", "received")
        opt_out = self._keyword(msg)
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
        if opt_out:
            params.append(("OptOutType", opt_out))
        body_xml, code = await self._fetch(number.sms_url, number.sms_method, params)
        if body_xml is None and number.sms_fallback_url:
            extra = [("ErrorCode", str(code)), ("ErrorUrl", number.sms_url)]
            body_xml, _ = await self._fetch(number.sms_fallback_url,
                                            number.sms_fallback_method, params + extra)
        if body_xml is None:
            return msg
        for el in body_xml:
            if el.tag != "Message":
                continue
            body_el = el.find("Body")
            text = (body_el.text or "") if body_el is not None else (el.text or "")
            reply = self._new(el.get("from") or to, el.get("to") or from_, text.strip(),
                              "outbound-reply", "sent")
            reply.sent = reply.created
        return msg

    def _keyword(self, msg: Message) -> str | None:
        """Twilio's own handling of STOP, START and HELP: the opt-out recorded and the
        standard reply sent. The OptOutType the webhook then carries, if any."""
        word = msg.body.strip().upper()
        kind = ("STOP" if word in OPT_OUT else "START" if word in OPT_IN
                else "HELP" if word in HELP else None)
        if kind == "STOP":
            self.opted_out.add((msg.from_, msg.to))
        elif kind == "START":
            self.opted_out.discard((msg.from_, msg.to))
        if kind is not None:
            reply = self._new(msg.to, msg.from_, REPLIES[kind], "outbound-reply", "sent")
            reply.sent = reply.created
        return kind

    async def _fetch(self, url: str, method: str,
                     params: list[tuple[str, str]]) -> tuple[ET.Element | None, int]:
        """POST (or GET) an SMS webhook: the parsed <Response>, or None and the error code
        (logged). An empty answer (204, or a body of nothing but whitespace) sends no
        reply; ``text/plain`` is sent back as one message (Twilio's messaging MIME types);
        TwiML is parsed as strictly as for voice (12100), any other Content-Type is
        12300."""
        engine = self.engine
        result = await engine.webhooks.send(url, params, method)
        if result.error:
            engine.log_error(result.error, f"SMS webhook failed: {result.message}", None, url)
            return None, result.error
        if result.status >= 400:
            engine.log_error(11217, f"SMS webhook answered HTTP {result.status}", None, url,
                             http_status=result.status)
            return None, 11217
        if result.status == 204 or not result.body.strip():
            return ET.Element("Response"), 0
        ctype = media_type(result)
        if ctype == "text/plain":
            root = ET.Element("Response")
            ET.SubElement(root, "Message").text = result.body
            return root, 0
        if ctype not in XML_TYPES:
            engine.log_error(12300, f"SMS reply: Invalid Content-Type {result.content_type!r}",
                             None, url)
            return None, 12300
        try:
            return document_root(result.body), 0
        except TwimlError as exc:
            engine.log_error(exc.code, f"SMS reply: {exc}", None, url)
            return None, exc.code
