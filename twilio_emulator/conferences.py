"""Conferences and their participants (<Dial><Conference> and the REST resources)."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .calls import Call, Source
from .clock import rfc2822
from .interpreter import Doc
from .sids import new_sid
from .twiml import Node, as_bool

if TYPE_CHECKING:
    from .engine import Engine

MUSIC_VERBS = frozenset({"Play", "Say", "Pause", "Redirect"})
DEFAULT_WAIT_MUSIC = "http://twimlets.com/holdmusic?Bucket=com.twilio.music.classical"
EVENT_NAMES = {"conference-start": "start", "conference-end": "end",
               "participant-join": "join", "participant-leave": "leave",
               "participant-mute": "mute", "participant-unmute": "mute",
               "participant-hold": "hold", "participant-unhold": "hold",
               "participant-modify": "modify"}


@dataclass
class Participant:
    call: Call
    conference: Conference
    created: float
    muted: bool = False
    hold: bool = False
    coaching: bool = False
    call_sid_to_coach: str | None = None
    start_on_enter: bool = True
    end_on_exit: bool = False
    beep: bool = True
    label: str | None = None
    status: str = "queued"
    hold_url: str | None = None
    hold_method: str = "GET"
    wait_url: str | None = None
    wait_method: str = "POST"
    updated: float = 0.0
    left: asyncio.Event = field(default_factory=asyncio.Event)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    def changed(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()


@dataclass
class Conference:
    sid: str
    friendly_name: str
    created: float
    updated: float
    status: str = "init"
    participants: dict[str, Participant] = field(default_factory=dict)
    status_callback: str | None = None
    status_method: str = "POST"
    events: frozenset[str] = frozenset({"start", "end"})
    sequence: itertools.count[int] = field(default_factory=itertools.count)
    reason_ended: str | None = None
    call_sid_ending: str | None = None


class Conferences:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.by_sid: dict[str, Conference] = {}

    def active(self, name: str) -> Conference | None:
        return next((c for c in self.by_sid.values()
                     if c.friendly_name == name and c.status != "completed"), None)

    def get_or_create(self, name: str) -> Conference:
        conf = self.active(name)
        if conf is None:
            now = self.engine.now()
            conf = Conference(new_sid("CF"), name, now, now)
            self.by_sid[conf.sid] = conf
        return conf

    def prepare(self, conf: Conference, call: Call, **attrs: Any) -> Participant:
        """A participant being added by REST, before its call has joined."""
        p = Participant(call, conf, self.engine.now(), **attrs)
        p.updated = p.created
        conf.participants[call.sid] = p
        return p

    # ---- joining and staying --------------------------------------------------------
    async def join(self, call: Call, noun: Node, doc: Doc) -> None:
        engine = self.engine
        conf = self.get_or_create(noun.text)
        p = conf.participants.get(call.sid) or self.prepare(conf, call)
        p.muted = as_bool(noun.get("muted"), p.muted)
        p.beep = noun.get("beep", "true") != "false"
        p.start_on_enter = as_bool(noun.get("startConferenceOnEnter"), p.start_on_enter)
        p.end_on_exit = as_bool(noun.get("endConferenceOnExit"), p.end_on_exit)
        if noun.get("coach"):
            p.coaching, p.call_sid_to_coach = True, noun.get("coach")
        if noun.get("participantLabel"):
            p.label = noun.get("participantLabel")
        if noun.get("waitUrl"):
            p.wait_url = doc.resolve(noun.get("waitUrl"))
            p.wait_method = noun.get("waitMethod") or "POST"
        if conf.status_callback is None and noun.get("statusCallback"):
            conf.status_callback = doc.resolve(noun.get("statusCallback"))
            conf.status_method = noun.get("statusCallbackMethod") or "POST"
            conf.events = frozenset((noun.get("statusCallbackEvent") or "start end").split())
        p.status = "connected"
        p.updated = engine.now()
        call.in_conference = True
        call.changed()
        engine.trace(call, "conference-join", conference_sid=conf.sid, name=conf.friendly_name)
        self.event(conf, "participant-join", p)
        if p.start_on_enter and conf.status == "init":
            conf.status = "in-progress"
            conf.updated = engine.now()
            self.event(conf, "conference-start")
            for other in conf.participants.values():
                other.changed()
        try:
            await self._stay(p)
        finally:
            self._leave(p)

    async def _stay(self, p: Participant) -> None:
        """Wait (with wait or hold music) until the participant leaves."""
        conf = p.conference
        while not p.left.is_set() and not p.call.done:
            change = asyncio.ensure_future(p._changed.wait())
            music: asyncio.Future[Any] | None = None
            if p.hold:
                url = p.hold_url
                music = asyncio.ensure_future(self._music(p.call, url, p.hold_method))
            elif conf.status == "init":
                music = asyncio.ensure_future(self._music(p.call, p.wait_url, p.wait_method))
            waiters: set[asyncio.Future[Any]] = {change}
            if music is not None:
                waiters.add(music)
            try:
                await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            finally:
                change.cancel()
                if music is not None:
                    music.cancel()

    async def _music(self, call: Call, url: str | None, method: str) -> None:
        """Loop a wait/hold document (or default music) until cancelled."""
        engine = self.engine
        if not url:
            while True:
                call.heard.append({"verb": "Play", "url": DEFAULT_WAIT_MUSIC})
                await engine.clock.sleep(60)
        for _ in range(1000):
            doc = await engine.interpreter.load(call, Source(url=url, method=method))
            if doc is None:
                break
            await engine.interpreter.execute(call, doc, allowed=MUSIC_VERBS)
            await engine.clock.sleep(0.1)
        await asyncio.Event().wait()

    def _leave(self, p: Participant) -> None:
        conf, call = p.conference, p.call
        call.in_conference = False
        call.changed()
        if conf.participants.pop(call.sid, None) is None:
            return
        p.status = "complete"
        self.engine.trace(call, "conference-leave", conference_sid=conf.sid)
        self.event(conf, "participant-leave", p)
        if conf.status == "completed":
            return
        if p.end_on_exit:
            self.end(conf, "participant-with-end-conference-on-exit-left", call.sid)
        elif not conf.participants:
            self.end(conf, "last-participant-left", call.sid)

    def kick(self, p: Participant) -> None:
        p.left.set()
        p.changed()

    def end(self, conf: Conference, reason: str, ending_sid: str | None = None) -> None:
        if conf.status == "completed":
            return
        conf.status = "completed"
        conf.updated = self.engine.now()
        conf.reason_ended, conf.call_sid_ending = reason, ending_sid
        for p in list(conf.participants.values()):
            self.kick(p)
        self.event(conf, "conference-end")

    def set_hold(self, p: Participant, hold: bool) -> None:
        if p.hold != hold:
            p.hold = hold
            self.event(p.conference, "participant-hold" if hold else "participant-unhold", p)
        p.changed()

    def set_coaching(self, p: Participant, coaching: bool, call_sid: str | None) -> None:
        """Start, retarget or stop coaching; a change sends ``participant-modify``."""
        if (p.coaching, p.call_sid_to_coach) != (coaching, call_sid):
            p.coaching, p.call_sid_to_coach = coaching, call_sid
            if p.status == "connected":
                self.event(p.conference, "participant-modify", p)

    def participant_of(self, call: Call) -> Participant | None:
        """The call's place in a conference it is in, if any."""
        return next((conf.participants[call.sid] for conf in self.by_sid.values()
                     if conf.status != "completed" and call.sid in conf.participants), None)

    def mute_call(self, call: Call, muted: bool) -> None:
        """The call's own phone muted or unmuted its microphone (the Voice SDK's mute)."""
        p = self.participant_of(call)
        if p is not None:
            self.set_muted(p, muted)

    def set_muted(self, p: Participant, muted: bool) -> None:
        if p.muted != muted:
            p.muted = muted
            self.event(p.conference, "participant-mute" if muted else "participant-unmute", p)

    def event(self, conf: Conference, name: str, p: Participant | None = None) -> None:
        engine = self.engine
        if conf.status_callback is None or EVENT_NAMES[name] not in conf.events:
            return
        params = [("AccountSid", engine.account_sid), ("ConferenceSid", conf.sid),
                  ("FriendlyName", conf.friendly_name), ("StatusCallbackEvent", name),
                  ("Timestamp", rfc2822(engine.clock.datetime())),
                  ("SequenceNumber", str(next(conf.sequence)))]
        if p is not None:
            params += [("CallSid", p.call.sid), ("Muted", str(p.muted).lower()),
                       ("Hold", str(p.hold).lower()), ("Coaching", str(p.coaching).lower()),
                       *([("CallSidToCoach", p.call_sid_to_coach)] if p.call_sid_to_coach
                         else []),
                       ("EndConferenceOnExit", str(p.end_on_exit).lower()),
                       ("StartConferenceOnEnter", str(p.start_on_enter).lower())]
            if p.label:
                params.append(("ParticipantLabel", p.label))
        if name == "conference-end":
            params += [("ReasonConferenceEnded", conf.reason_ended or ""),
                       ("CallSidEndingConference", conf.call_sid_ending or "")]
        engine.callback(None, conf.status_callback, conf.status_method, params, key=conf.sid)
