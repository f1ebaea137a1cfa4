"""Agent phones: WebSocket clients that <Dial><Client> and calls to client:NAME ring.

A phone may send ``{"type": "register", "bot": {...}}`` to have the emulator act for it
(accept/reject/ignore after ``answer_delay``, say something, hang up after
``talk_seconds``) on the emulator's clock, so bots work under virtual time. A person's
phone registers with ``{"type": "register", "token": "<Access Token>"}`` instead: the
token is checked as Twilio checks a Voice SDK Device's (``tokens``), and a refused one
gets ``{"type": "error", "code": 20101|20103|20104}`` and the socket closed.

A person's phone sends ``accept``, ``reject``, ``hangup``, ``digits`` (DTMF), ``mute``
(muted in the call's conference, as the Voice SDK's microphone mute silences the agent)
and ``say`` (speech as the agent, for tests). It hears what others say in the call's
conference as ``{"type": "audio", "wav": <base64 WAV>, "text": ...}``. Its socket
dropping does not drop its calls at once: like the Voice SDK's reconnection, the phone
has ``RECONNECT_SECONDS`` to register again (a reloaded page), and is then told of each
call it is still on (``connected`` with ``"reconnected": true``); after that its calls
are hung up.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web
from pydub import AudioSegment

from .calls import Call, Event
from .tokens import TokenError, check_voice_token

if TYPE_CHECKING:
    from .engine import Engine

# How long a person's calls outlive their phone's socket, waiting for it to come back
# (Twilio's Voice SDK keeps a call through a signalling drop for up to 30 s).
RECONNECT_SECONDS = 30.0


@dataclass
class Phone:
    identity: str
    ws: web.WebSocketResponse
    bot: dict[str, Any] | None = None
    offers: dict[str, asyncio.Future[str]] = field(default_factory=dict)
    calls: dict[str, Call] = field(default_factory=dict)


class Phones:
    def __init__(self, engine: Engine, api_keys: dict[str, str] | None = None) -> None:
        self.engine = engine
        self.api_keys = api_keys if api_keys is not None else {}
        self.registered: dict[str, Phone] = {}
        # Calls of a person's phone whose socket dropped, by identity, until it registers
        # again or RECONNECT_SECONDS pass.
        self.orphaned: dict[str, dict[str, Call]] = {}

    async def send(self, phone: Phone, message: dict[str, Any]) -> None:
        with contextlib.suppress(ConnectionError, RuntimeError):
            await phone.ws.send_json(message)

    async def ring(self, call: Call, identity: str, ring_for: float) -> str:
        """Offer ``call`` to the phone; 'answer', 'busy' (rejected) or 'no-answer'."""
        engine = self.engine
        phone = self.registered.get(identity)
        if phone is None:
            engine.trace(call, "phone", identity=identity, result="not registered")
            return "no-answer"
        answer: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        phone.offers[call.sid] = answer
        await self.send(phone, {"type": "offer", "call_sid": call.sid, "from": call.from_,
                                "to": call.to, "params": dict(call.custom_params)})
        if phone.bot:
            engine.spawn(self._bot_answer(phone, call, answer))
        sleeper = asyncio.ensure_future(engine.clock.sleep(ring_for))
        try:
            await asyncio.wait({answer, sleeper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            phone.offers.pop(call.sid, None)
            if not answer.done():
                answer.cancel()
                await self.send(phone, {"type": "canceled", "call_sid": call.sid})
        if not answer.done() or answer.cancelled():
            return "no-answer"
        result = answer.result()
        if result == "answer":
            phone.calls[call.sid] = call
            await self.send(phone, {"type": "connected", "call_sid": call.sid})
            if phone.bot:
                engine.spawn(self._bot_talk(phone, call))
        return result

    async def _bot_answer(self, phone: Phone, call: Call, answer: asyncio.Future[str]) -> None:
        bot = phone.bot or {}
        mode = bot.get("mode", "accept")
        if mode == "ignore":
            return
        await self.engine.clock.sleep(float(bot.get("answer_delay") or 0))
        if not answer.done():
            answer.set_result("answer" if mode == "accept" else "busy")

    async def _bot_talk(self, phone: Phone, call: Call) -> None:
        bot = phone.bot or {}
        await call.answered_event.wait()
        if bot.get("say"):
            await self.engine.speak(call, str(bot["say"]))
        if bot.get("talk_seconds") is not None:
            left = call.answer_time + float(bot["talk_seconds"]) - self.engine.now()
            await self.engine.clock.sleep(max(0.0, left))
            if not call.done:
                await self.engine.remote_hangup(call)

    def overheard(self, speaker: Call, text: str, audio: AudioSegment) -> None:
        """Someone spoke in a conference: each person's phone in it hears them (WAV audio
        in an ``audio`` message, with the words, for the page to play), unless the speaker
        is muted or on hold, the listener is on hold, or it is a whisper to someone else."""
        spoke = self.engine.conferences.participant_of(speaker)
        if spoke is None or spoke.muted or spoke.hold:
            return
        room = spoke.conference.participants
        wav: str | None = None
        for phone in self.registered.values():
            if phone.bot is not None:
                continue
            for sid in phone.calls:
                hearer = room.get(sid)
                if sid == speaker.sid or hearer is None or hearer.hold:
                    continue
                if spoke.coaching and spoke.call_sid_to_coach != sid:
                    continue  # a whisper: only the coached agent hears it
                if wav is None:
                    out = io.BytesIO()
                    audio.export(out, format="wav")
                    wav = base64.b64encode(out.getvalue()).decode()
                self.engine.spawn(self.send(phone, {"type": "audio", "call_sid": sid,
                                                    "text": text, "wav": wav}))

    def call_ended(self, call: Call) -> None:
        for phone in self.registered.values():
            if phone.calls.pop(call.sid, None) is not None:
                self.engine.spawn(self.send(phone, {"type": "ended", "call_sid": call.sid}))
        for calls in self.orphaned.values():
            calls.pop(call.sid, None)

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        """WebSocket /_emulator/phones/{identity}."""
        identity = request.match_info["identity"]
        ws = web.WebSocketResponse(heartbeat=30)
        await ws.prepare(request)
        phone = Phone(identity, ws)
        self.registered[identity] = phone
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                self.engine.clock.touch()
                with contextlib.suppress(ValueError, KeyError, TypeError):
                    await self._on_message(phone, json.loads(msg.data))
        finally:
            if self.registered.get(identity) is phone:
                del self.registered[identity]
            for offer in phone.offers.values():
                if not offer.done():
                    offer.set_result("no-answer")
            live = {sid: call for sid, call in phone.calls.items() if not call.done}
            if phone.bot or not live:
                for call in live.values():
                    await self.engine.remote_hangup(call)
            else:
                self.orphaned.setdefault(identity, {}).update(live)
                self.engine.spawn(self._hang_up_orphans(identity, live))
        return ws

    async def _hang_up_orphans(self, identity: str, calls: dict[str, Call]) -> None:
        """A person's phone did not come back in time: their calls end."""
        await asyncio.sleep(RECONNECT_SECONDS)
        waiting = self.orphaned.get(identity, {})
        for sid, call in calls.items():
            if waiting.pop(sid, None) is not None and not call.done:
                await self.engine.remote_hangup(call)
        if not waiting:
            self.orphaned.pop(identity, None)

    async def _reconnect(self, phone: Phone) -> None:
        """A person's phone registered again: it is on the calls it left."""
        for sid, call in self.orphaned.pop(phone.identity, {}).items():
            if call.done:
                continue
            phone.calls[sid] = call
            await self.send(phone, {"type": "connected", "call_sid": sid, "from": call.from_,
                                    "to": call.to, "reconnected": True})

    async def _on_message(self, phone: Phone, msg: dict[str, Any]) -> None:
        kind = msg.get("type")
        sid = str(msg.get("call_sid", ""))
        if kind == "register":
            if not msg.get("bot"):
                # A person's phone (the page's Device), not one of the emulator's own bots:
                # it needs an Access Token for its identity, as Twilio's Device does.
                try:
                    check_voice_token(
                        str(msg.get("token", "")), account_sid=self.engine.account_sid,
                        api_keys=self.api_keys, identity=phone.identity,
                    )
                except TokenError as refused:
                    await self.send(phone, {"type": "error", "code": refused.code,
                                            "message": refused.message})
                    await phone.ws.close()
                    return
            phone.bot = msg.get("bot") or None
            await self.send(phone, {"type": "registered", "identity": phone.identity})
            if phone.bot is None:
                await self._reconnect(phone)
            return
        offer = phone.offers.get(sid)
        if kind in ("accept", "reject") and offer is not None and not offer.done():
            offer.set_result("answer" if kind == "accept" else "busy")
            return
        call = phone.calls.get(sid) or self.engine.calls.get(sid)
        if call is None or call.done:
            return
        if kind == "hangup":
            if offer is not None and not offer.done():
                offer.set_result("busy")
            else:
                await self.engine.remote_hangup(call)
        elif kind == "digits":
            self.engine.trace(call, "press", digits=str(msg.get("digits", "")))
            call.inbox.put_nowait(Event("digits", str(msg.get("digits", ""))))
        elif kind == "say":
            self.engine.spawn(self.engine.speak(call, str(msg.get("text", ""))))
        elif kind == "mute":
            self.engine.conferences.mute_call(call, bool(msg.get("muted")))
