"""Fetching TwiML documents (with fallback) and executing the simple verbs.

A verb handler returns ``None`` to go on with the next verb, a :class:`Source` to
leave this document for another, or :data:`STOP` to end the call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

from .calls import Call, Event, Source
from .engine import APP_ERROR
from .twiml import Node, TwimlError, as_bool, as_number, parse
from .webhooks import WebhookResult

if TYPE_CHECKING:
    from .engine import Engine


class Stop:
    """Marker: the document ended the call (Hangup, Reject, app error)."""


STOP = Stop()
LEAVE = Stop()
"""Marker: <Leave> inside a queue's wait music."""
Outcome = Source | Stop | None
XML_TYPES = ("text/xml", "application/xml", "text/html")
"""Content-Types Twilio runs as TwiML ("Twilio Understands MIME Types"); parameters
such as ``charset`` are ignored, case does not matter."""
MAX_TWIML_BYTES = 64 * 1024
"""Twilio's 11750: a voice response body larger than 64 kB is refused."""
PLAY_SECONDS = 3.0
"""Assumed length of one <Play> of a URL (the media is not fetched)."""
FOREVER_LOOPS = 10_000
"""What loop="0" means: until something interrupts (the call cap ends it at last)."""


def say_seconds(text: str) -> float:
    return max(0.5, 0.4 * len(text.split()))


class Doc:
    """The document being executed: its URL (for relative URLs) and position."""

    def __init__(self, url: str | None, verbs: list[Node]) -> None:
        self.url = url
        self.verbs = verbs
        self.index = 0

    def resolve(self, target: str) -> str:
        return urljoin(self.url, target) if self.url else target


class Interpreter:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.handlers: dict[str, Callable[[Call, Node, Doc], Awaitable[Outcome]]] = {
            "Say": self.say, "Play": self.play, "Pause": self.pause, "Gather": self.gather,
            "Redirect": self.redirect, "Hangup": self.hangup, "Reject": self.reject,
            "Leave": self.leave,
        }

    # ---- documents -----------------------------------------------------------------
    async def run_document(self, call: Call, source: Source) -> Source | None:
        """Fetch and execute one document; returns the next source, if any."""
        doc = await self.load(call, source)
        if doc is None:
            await self.app_error(call)
            return None
        outcome = await self.execute(call, doc)
        if isinstance(outcome, Source):
            return outcome
        return None

    async def execute(self, call: Call, doc: Doc,
                      allowed: frozenset[str] | None = None) -> Outcome:
        """Run the verbs of ``doc`` in order."""
        engine = self.engine
        while doc.index < len(doc.verbs) and not call.done:
            node = doc.verbs[doc.index]
            first = doc.index == 0
            doc.index += 1
            engine.trace(call, "verb", **node.describe())
            if allowed is not None and node.tag not in allowed:
                engine.log_error(12200, f"<{node.tag}> is not allowed here; ignored", call,
                                 doc.url)
                continue
            if not call.answered and not (node.tag == "Reject" and first) and not (
                    node.tag == "Dial" and as_bool(node.get("answerOnBridge"), False)):
                engine.answer(call)
            handler = self.handlers.get(node.tag) or self.extra_handler(node.tag)
            if handler is None:
                engine.trace(call, "unsupported", verb=node.tag)
                continue
            outcome = await handler(call, node, doc)
            if outcome is not None:
                return outcome
        return None

    def extra_handler(self, tag: str) -> Callable[[Call, Node, Doc], Awaitable[Outcome]] | None:
        engine = self.engine
        table: dict[str, Callable[[Call, Node, Doc], Awaitable[Outcome]]] = {
            "Enqueue": engine.queues.enqueue_verb,
            "Dial": engine.dialer.dial_verb,
            "Record": engine.recordings.record_verb,
        }
        return table.get(tag)

    async def load(self, call: Call, source: Source) -> Doc | None:
        """Fetch, check and parse a document; on failure try the fallback URL."""
        if source.twiml is not None:
            self.engine.trace(call, "twiml", body=source.twiml)
            try:
                return self._parse(call, source.twiml, None)
            except TwimlError as exc:
                self.engine.log_error(exc.code, str(exc), call, None)
                return None
        assert source.url is not None
        params = self.engine.voice_params(call) + source.params
        doc, code = await self._fetch(call, source.url, source.method, params)
        if doc is not None:
            return doc
        if source.fallback_url:
            extra = [("ErrorCode", str(code)), ("ErrorUrl", source.url)]
            doc, _ = await self._fetch(call, source.fallback_url, source.fallback_method,
                                       params + extra)
        return doc

    async def _fetch(self, call: Call, url: str, method: str,
                     params: list[tuple[str, str]]) -> tuple[Doc | None, int]:
        engine = self.engine
        result = await engine.webhooks.send(url, params, method)
        engine.trace(call, "webhook", url=result.url, method=method.upper(),
                     status=result.status, params=dict(params), body=result.body[:4000])
        code, message = classify(result)
        if code is None:
            ctype = media_type(result)
            if ctype == "text/plain":
                body = f"<Response><Say>{_escape(result.body)}</Say></Response>"
            elif ctype.startswith("audio/"):
                body = f"<Response><Play>{_escape(result.url)}</Play></Response>"
            else:
                body = result.body
            try:
                return self._parse(call, body, result.url), 0
            except TwimlError as exc:
                code, message = exc.code, str(exc)
        engine.log_error(code, message, call, result.url, http_status=result.status)
        return None, code

    def _parse(self, call: Call, body: str, url: str | None) -> Doc:
        verbs, warnings = parse(body)
        for warning in warnings:
            self.engine.log_error(12200, warning, call, url)
        return Doc(url, verbs)

    async def app_error(self, call: Call) -> None:
        """No usable TwiML: the caller hears Twilio's message and the call ends."""
        self.engine.answer(call)
        call.heard.append({"verb": "Say", "text": APP_ERROR, "language": "en-US"})
        await self.engine.clock.sleep(say_seconds(APP_ERROR))

    # ---- helpers ------------------------------------------------------------------------
    async def next_event(self, call: Call, seconds: float) -> Event | None:
        """The next input from the far party, or None after ``seconds`` clock seconds."""
        getter = asyncio.ensure_future(call.inbox.get())
        sleeper = asyncio.ensure_future(self.engine.clock.sleep(seconds))
        try:
            await asyncio.wait({getter, sleeper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            if not getter.done():
                getter.cancel()
        if getter.done() and not getter.cancelled():
            call.changed()
            return getter.result()
        return None

    def action_source(self, doc: Doc, node: Node, params: list[tuple[str, str]],
                      default_current: bool = False) -> Source | None:
        action = node.get("action")
        if action:
            url = doc.resolve(action)
        elif default_current and doc.url:
            url = doc.url
        else:
            return None
        return Source(url=url, method=node.get("method", "POST") or "POST", params=params)

    # ---- verbs --------------------------------------------------------------------------
    async def say(self, call: Call, node: Node, doc: Doc) -> Outcome:
        loops = _loops(node)
        language = node.get("language", "en-US")
        for _ in range(loops):
            entry: dict[str, Any] = {"verb": "Say", "text": node.text, "language": language}
            if node.get("voice"):
                entry["voice"] = node.get("voice")
            call.heard.append(entry)
            await self.engine.clock.sleep(say_seconds(node.text))
        return None

    async def play(self, call: Call, node: Node, doc: Doc) -> Outcome:
        if node.get("digits"):
            call.heard.append({"verb": "Play", "digits": node.get("digits")})
            await self.engine.clock.sleep(0.5 * len(node.get("digits")))
            return None
        for _ in range(_loops(node)):
            call.heard.append({"verb": "Play", "url": doc.resolve(node.text)})
            await self.engine.clock.sleep(PLAY_SECONDS)
        return None

    async def pause(self, call: Call, node: Node, doc: Doc) -> Outcome:
        await self.engine.clock.sleep(as_number(node.get("length"), 1))
        return None

    async def redirect(self, call: Call, node: Node, doc: Doc) -> Outcome:
        return Source(url=doc.resolve(node.text), method=node.get("method", "POST") or "POST")

    async def hangup(self, call: Call, node: Node, doc: Doc) -> Outcome:
        return STOP

    async def reject(self, call: Call, node: Node, doc: Doc) -> Outcome:
        if not call.answered:
            reason = node.get("reason", "rejected")
            call.pending_status = "busy" if reason == "busy" else "no-answer"
        return STOP

    async def leave(self, call: Call, node: Node, doc: Doc) -> Outcome:
        """Leaves the queue when run from wait music; elsewhere it does nothing."""
        return LEAVE if call.queue_member is not None else None

    async def gather(self, call: Call, node: Node, doc: Doc) -> Outcome:
        inputs = set((node.get("input") or "dtmf").split())
        mode = " ".join(m for m in ("dtmf", "speech") if m in inputs) or "dtmf"
        timeout = as_number(node.get("timeout"), 5)
        finish = node.get("finishOnKey", "#")
        num_digits = int(as_number(node.get("numDigits"), 0)) or None
        speech_timeout = node.get("speechTimeout", "auto")
        wait_after_speech = timeout if speech_timeout in ("", "auto") else as_number(
            speech_timeout, timeout)
        call.drain_inbox()
        call.set_listening(mode)
        prompts = asyncio.ensure_future(self.execute(call, Doc(doc.url, node.children)))
        digits, speech, finished = "", None, False
        try:
            while not finished:
                if not prompts.done():
                    getter = asyncio.ensure_future(call.inbox.get())
                    await asyncio.wait({prompts, getter}, return_when=asyncio.FIRST_COMPLETED)
                    if not getter.done():
                        getter.cancel()
                        continue
                    event: Event | None = getter.result()
                    call.changed()
                    prompts.cancel()
                else:
                    event = await self.next_event(call, timeout)
                if event is None:
                    break
                if event.kind == "digits" and "dtmf" in inputs:
                    for key in event.value:
                        if key in finish:
                            finished = True
                            break
                        digits += key
                        if num_digits and len(digits) >= num_digits:
                            finished = True
                            break
                elif event.kind == "speech_start" and "speech" in inputs:
                    event2 = await self.next_event(call, event.duration + wait_after_speech)
                    if event2 is not None and event2.kind == "speech":
                        speech, finished = event2.value, True
                elif event.kind == "speech" and "speech" in inputs:
                    speech, finished = event.value, True
        finally:
            call.set_listening(None)
            prompts.cancel()
        if speech is not None:
            params = [("SpeechResult", speech), ("Confidence", "0.9")]
        elif digits:
            params = [("Digits", digits)]
        elif as_bool(node.get("actionOnEmptyResult"), False):
            params = [("Digits", "")] if "dtmf" in inputs else []
        else:
            return None
        return self.action_source(doc, node, params, default_current=True)


def media_type(result: WebhookResult) -> str:
    """The response's media type, lower case, without parameters ("" if none)."""
    return result.content_type.split(";")[0].strip().lower()


def classify(result: WebhookResult) -> tuple[int | None, str]:
    """The Twilio error code for a failed document fetch, or None if it looks usable
    (the body itself is checked by the TwiML parser: 12100/12200)."""
    if result.error is not None:
        return result.error, result.message
    if result.status >= 400:
        return 11217, f"HTTP error response code: status {result.status}"
    if result.size > MAX_TWIML_BYTES:
        return 11750, (f"TwiML response body too large: {result.size} bytes "
                       f"(at most {MAX_TWIML_BYTES})")
    ctype = media_type(result)
    if ctype not in XML_TYPES and ctype != "text/plain" and not ctype.startswith("audio/"):
        return 12300, (f"Invalid Content-Type: {result.content_type!r}" if ctype else
                       "Invalid Content-Type: the response has no Content-Type")
    return None, ""


def _loops(node: Node) -> int:
    loops = int(as_number(node.get("loop"), 1))
    return FOREVER_LOOPS if loops <= 0 else loops


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
