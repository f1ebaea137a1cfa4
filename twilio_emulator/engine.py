"""The call engine: call lifecycle, status callbacks and the per-call TwiML supervisor.

Every call with TwiML runs under a supervisor task that executes one document at a
time. Anything that takes the call elsewhere (a REST redirect, a dequeue, hang-up)
cancels the running document; the supervisor then picks the next source or stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from .calls import Call, Event, Source
from .clock import Clock, rfc2822
from .sids import new_sid
from .webhooks import WebhookSender

if TYPE_CHECKING:
    from .audio import Speech
    from .conferences import Conferences
    from .dial import Dialer
    from .interpreter import Interpreter
    from .messages import Messages
    from .numbers import Numbers
    from .phones import Phones
    from .queues import Queues
    from .recordings import Recordings

log = logging.getLogger("twilio_emulator")

MAX_CALL_SECONDS = 4 * 3600
"""Hard cap on any call's life (clock seconds), so every call ends eventually."""
MAX_DOCUMENTS = 500
"""Hard cap on TwiML documents fetched for one call (Redirect / wait-loop iterations)."""
APP_ERROR = "We are sorry, an application error has occurred. Goodbye."
EVENT_FOR_STATUS = {"initiated": "initiated", "ringing": "ringing", "in-progress": "answered"}


class Engine:
    """Owns every resource and the background tasks that move calls along."""

    def __init__(self, account_sid: str, auth_token: str, clock: Clock) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.clock = clock
        self.base_url = ""
        self.log: list[dict[str, Any]] = []
        self.webhooks = WebhookSender(auth_token, clock)
        self.calls: dict[str, Call] = {}
        self.callees: dict[str, list[dict[str, Any]]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._chains: dict[object, asyncio.Task[Any]] = {}
        # wired by the Emulator
        self.interpreter: Interpreter
        self.dialer: Dialer
        self.numbers: Numbers
        self.queues: Queues
        self.conferences: Conferences
        self.recordings: Recordings
        self.messages: Messages
        self.phones: Phones
        self.speech: Speech

    # ---- housekeeping -------------------------------------------------------------
    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run a background task that is kept alive and cancelled on stop()."""
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("emulator task failed", exc_info=task.exception())
            self.log.append({"code": 0, "message": f"internal error: {task.exception()!r}"})

    async def shutdown(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task
        await self.webhooks.close()

    def now(self) -> float:
        return self.clock.now()

    def trace(self, call: Call, event: str, **data: Any) -> None:
        call.trace.append({"t": round(self.now(), 3), "event": event, **data})

    def log_error(self, code: int, message: str, call: Call | None = None,
                  url: str | None = None, **extra: Any) -> None:
        entry: dict[str, Any] = {"code": code, "message": message, "url": url,
                                 "call_sid": call.sid if call else None,
                                 "t": round(self.now(), 3), **extra}
        self.log.append(entry)
        if call is not None:
            call.errors.append(code)
            self.trace(call, "error", code=code, message=message, url=url)

    def note(self, message: str) -> None:
        """An informational line in emu.log (code 0)."""
        self.log.append({"code": 0, "message": message, "t": round(self.now(), 3)})

    # ---- webhook parameters -------------------------------------------------------
    def voice_params(self, call: Call) -> list[tuple[str, str]]:
        """Twilio's standard voice request parameters for ``call``."""
        params = [
            ("AccountSid", call.account_sid), ("ApiVersion", "2010-04-01"),
            ("CallSid", call.sid), ("CallStatus", call.status),
            ("Direction", call.direction), ("From", call.from_), ("To", call.to),
            ("Caller", call.from_), ("Called", call.to),
        ]
        for prefix, number in (("From", call.from_), ("To", call.to),
                               ("Caller", call.from_), ("Called", call.to)):
            country = "US" if number.startswith("+1") else ""
            params += [(f"{prefix}City", ""), (f"{prefix}State", ""),
                       (f"{prefix}Zip", ""), (f"{prefix}Country", country)]
        if call.parent_sid:
            params.append(("ParentCallSid", call.parent_sid))
        if call.caller_name:
            params.append(("CallerName", call.caller_name))
        params += [(k, v) for k, v in call.custom_params.items()]
        return params

    # ---- status callbacks ------------------------------------------------------------
    def set_status(self, call: Call, status: str) -> None:
        call.status = status
        self.trace(call, "status", status=status)
        call.changed()
        event = EVENT_FOR_STATUS.get(status, "completed" if call.done else None)
        if event and call.status_callback and event in call.status_events:
            params = self.voice_params(call)
            if call.done:
                params.append(("CallDuration", str(call.duration(self.now()))))
                params.append(("Duration", str(max(1, (call.duration(self.now()) + 59) // 60))
                               if call.answered else "0"))
            params += [("Timestamp", rfc2822(self.clock.datetime())),
                       ("CallbackSource", "call-progress-events"),
                       ("SequenceNumber", str(next(call.sequence)))]
            self.callback(call, call.status_callback, call.status_callback_method, params)

    def callback(self, call: Call | None, url: str, method: str,
                 params: list[tuple[str, str]], key: object = None) -> None:
        """Send a status-style callback in the background, in order per ``key``."""
        chain_key = key if key is not None else (call.sid if call else url)
        prev = self._chains.get(chain_key)

        async def deliver() -> None:
            if prev is not None:
                await asyncio.wait({prev})
            result = await self.webhooks.send(url, params, method)
            if call is not None:
                self.trace(call, "callback", url=url, status=result.status,
                           params=dict(params))
            if result.error or result.status >= 400:
                self.log_error(15003, f"status callback failed: HTTP {result.status} "
                               f"{result.message}", call, url)

        self._chains[chain_key] = self.spawn(deliver())

    # ---- creating calls ---------------------------------------------------------------
    def new_call(self, from_: str, to: str, direction: str, **kw: Any) -> Call:
        call = Call(sid=new_sid("CA"), account_sid=self.account_sid, from_=from_, to=to,
                    direction=direction, created=self.now(), **kw)
        self.calls[call.sid] = call
        self.spawn(self._watchdog(call))
        return call

    async def _watchdog(self, call: Call) -> None:
        ended = asyncio.ensure_future(call.ended.wait())
        cap = asyncio.ensure_future(self.clock.sleep(MAX_CALL_SECONDS))
        try:
            await asyncio.wait({ended, cap}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            ended.cancel()
            cap.cancel()
        if not call.done:
            self.log_error(0, f"call cap of {MAX_CALL_SECONDS} s reached; hanging up", call)
            await self.end_call(call, "completed")

    def start_inbound(self, from_: str, to: str, script: list[dict[str, Any]],
                      hangup_after: float | None = None) -> Call:
        """A caller dials one of the provisioned numbers."""
        number = self.numbers.by_number(to)
        if number is None:
            raise LookupError(f"{to} is not a provisioned number")
        call = self.new_call(from_, to, "inbound", phone_number_sid=number.sid,
                             status_callback=number.status_callback,
                             status_callback_method=number.status_callback_method)
        call.start_time = self.now()
        from .party import ScriptParty

        party = ScriptParty(self, call, script, hangup_after)
        self.spawn(self._inbound(call, number.source(), party))
        return call

    async def _inbound(self, call: Call, source: Source, party: Any) -> None:
        self.set_status(call, "ringing")
        self.spawn(self._after_answer(call, party.run()))
        await self.run_twiml(call, source)

    async def _after_answer(self, call: Call, coro: Coroutine[Any, Any, Any]) -> None:
        """Start the remote party's script once the call is answered."""
        waiter = asyncio.ensure_future(call.answered_event.wait())
        ended = asyncio.ensure_future(call.ended.wait())
        await asyncio.wait({waiter, ended}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        ended.cancel()
        if call.answered and not call.done:
            await coro
        else:
            coro.close()

    def start_outbound(self, from_: str, to: str, source: Source, *, timeout: float = 60,
                       status_callback: str | None = None, status_method: str = "POST",
                       events: frozenset[str] = frozenset({"completed"}),
                       record: bool = False, recording_kw: dict[str, Any] | None = None
                       ) -> Call:
        """A REST-created call (outbound-api): ring ``to``, then run TwiML if answered."""
        call = self.new_call(from_, to, "outbound-api", status_callback=status_callback,
                             status_callback_method=status_method, status_events=events)
        self.spawn(self._outbound(call, source, timeout, record, recording_kw or {}))
        return call

    async def _outbound(self, call: Call, source: Source, ring_for: float, record: bool,
                        recording_kw: dict[str, Any]) -> None:
        await self.clock.sleep(0)
        if call.done:
            return
        outcome = await self.ring(call, ring_for)
        if outcome != "answer":
            await self.end_call(call, outcome)
            return
        self.answer(call)
        if record:
            self.recordings.start_call_recording(call, "OutboundAPI", **recording_kw)
        await self.run_twiml(call, source)

    def start_child(self, parent: Call, to: str, from_: str, **kw: Any) -> Call:
        """A Dial leg (outbound-dial) that exists only to be bridged to ``parent``."""
        call = self.new_call(from_, to, "outbound-dial", parent_sid=parent.sid, **kw)
        call.has_twiml = False
        return call

    async def ring(self, call: Call, ring_for: float) -> str:
        """Ring the far end of an outgoing leg; 'answer' or a final status."""
        call.start_time = self.now()
        self.set_status(call, "initiated")
        self.set_status(call, "ringing")
        if call.to.startswith("client:"):
            attempt = self.phones.ring(call, call.to[len("client:"):], ring_for)
        else:
            from .party import ScriptParty

            party = ScriptParty(self, call, self.callees.get(call.to, []))
            attempt = party.ring(ring_for)
            self.spawn(self._after_answer(call, party.run()))
        ring_task = asyncio.ensure_future(attempt)
        ended = asyncio.ensure_future(call.ended.wait())
        await asyncio.wait({ring_task, ended}, return_when=asyncio.FIRST_COMPLETED)
        ended.cancel()
        if not ring_task.done():
            ring_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ring_task
            return call.status
        return ring_task.result()

    def answer(self, call: Call) -> None:
        if call.answered or call.done:
            return
        call.answered = True
        call.answer_time = self.now()
        self.set_status(call, "in-progress")
        call.answered_event.set()

    async def end_call(self, call: Call, status: str) -> None:
        """Finish ``call`` with a final status; idempotent."""
        if call.done:
            return
        if status == "completed" and not call.answered:
            status = "canceled" if call.direction != "inbound" else "completed"
        call.end_time = self.now()
        call.set_listening(None)
        task = call.exec_task
        if task is not None and task is not asyncio.current_task():
            task.cancel()
        if call.bridge is not None:
            call.bridge.close()
        self.set_status(call, status)
        call.ended.set()
        self.phones.call_ended(call)

    async def remote_hangup(self, call: Call) -> None:
        """The far party hung up."""
        self.trace(call, "hangup", by="party")
        await self.end_call(call, "completed" if call.answered else "canceled")

    def redirect(self, call: Call, source: Source) -> None:
        """REST: run new TwiML on ``call`` now, leaving whatever it was doing."""
        self.trace(call, "redirect", url=source.url, twiml=source.twiml)
        if not call.has_twiml:
            call.has_twiml = True
            if call.bridge is not None:
                call.bridge.close()
            self.spawn(self.run_twiml(call, source))
            return
        call.redirect = source
        if call.exec_task is not None:
            call.exec_task.cancel()

    async def run_twiml(self, call: Call, source: Source | None) -> None:
        """Supervisor: execute documents until the call ends or TwiML runs out."""
        fetched = 0
        while not call.done:
            if call.redirect is not None:  # redirected before it was answered
                source, call.redirect = call.redirect, None
            if source is None:
                break
            fetched += 1
            if fetched > MAX_DOCUMENTS:
                self.log_error(0, f"more than {MAX_DOCUMENTS} documents; hanging up", call)
                break
            task = asyncio.create_task(self.interpreter.run_document(call, source))
            call.exec_task = task
            await asyncio.wait({task})
            call.exec_task = None
            if call.done:
                return
            if task.cancelled():
                source = None
                continue
            exc = task.exception()
            if exc is not None:
                log.error("TwiML execution failed", exc_info=exc)
                self.log_error(0, f"internal error: {exc!r}", call)
                break
            source = task.result()
        if not call.done:
            await self.end_call(call, call.pending_status or "completed")

    # ---- the remote party's voice ---------------------------------------------------
    async def speak(self, call: Call, text: str, lang: str = "en") -> None:
        """The far party says ``text``: into recordings, a speech Gather or a Record."""
        audio = await self.speech.render(text, lang)
        seconds = len(audio) / 1000
        self.trace(call, "speech", text=text, language=lang, seconds=round(seconds, 2))
        at = self.now()
        for rec, channel in list(call.taps):
            rec.add(channel, at, audio)
        self.phones.overheard(call, text, audio)
        if call.listening:
            call.inbox.put_nowait(Event("speech_start", text, seconds))
        await self.clock.sleep(seconds)
        if call.listening:
            call.inbox.put_nowait(Event("speech", text, seconds))
