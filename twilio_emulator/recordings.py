"""Recordings: <Record>, Dial/REST call recordings, their audio and status callbacks.

Audio is what the far parties said (their ``say`` steps) placed on a timeline. A
dual-channel recording has the parent (dialling) call on channel 0 and the dialled
leg on channel 1, as Twilio documents; <Record> is the caller on channel 0.
"""

from __future__ import annotations

import asyncio
import io
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pydub import AudioSegment

from .audio import silence
from .calls import Call, Event
from .clock import rfc2822
from .interpreter import Doc, Outcome
from .sids import new_sid
from .twiml import Node, as_bool, as_number

if TYPE_CHECKING:
    from .engine import Engine

BEEP_SECONDS = 0.5


@dataclass
class Recording:
    sid: str
    call_sid: str
    source: str
    channels: int
    start: float
    conference_sid: str | None = None
    status: str = "in-progress"
    duration: int = 0
    end: float | None = None
    segments: list[tuple[int, float, AudioSegment]] = field(default_factory=list)
    callback: str | None = None
    callback_method: str = "POST"
    callback_events: frozenset[str] = frozenset({"completed"})
    taps: list[tuple[Call, int]] = field(default_factory=list)

    def add(self, channel: int, at: float, audio: AudioSegment) -> None:
        if self.status == "in-progress":
            self.segments.append((channel, max(0.0, at - self.start), audio))


class Recordings:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.by_sid: dict[str, Recording] = {}

    def url(self, rec: Recording) -> str:
        return (f"{self.engine.base_url}/2010-04-01/Accounts/{self.engine.account_sid}"
                f"/Recordings/{rec.sid}")

    def start(self, call: Call, source: str, channels: int, *, callback: str | None = None,
              callback_method: str = "POST", callback_events: str = "completed",
              taps: list[tuple[Call, int]] | None = None) -> Recording:
        rec = Recording(new_sid("RE"), call.sid, source, channels, self.engine.now(),
                        callback=callback, callback_method=callback_method,
                        callback_events=frozenset(callback_events.replace(",", " ").split()))
        rec.taps = taps if taps is not None else [(call, 0)]
        for tapped, channel in rec.taps:
            tapped.taps.append((rec, channel))
        self.by_sid[rec.sid] = rec
        call.recordings.append(rec.sid)
        self.engine.trace(call, "recording-start", recording_sid=rec.sid, source=source)
        return rec

    def start_call_recording(self, call: Call, source: str, channels: int = 1,
                             callback: str | None = None, callback_method: str = "POST",
                             callback_events: str = "completed") -> Recording:
        """Record the whole call from now on (REST Record=true)."""
        rec = self.start(call, source, channels, callback=callback,
                         callback_method=callback_method, callback_events=callback_events)
        self.engine.spawn(self._finish_on_end(call, rec))
        return rec

    async def _finish_on_end(self, call: Call, rec: Recording) -> None:
        await call.ended.wait()
        self.finish(rec)

    def finish(self, rec: Recording, duration: float | None = None) -> None:
        if rec.status != "in-progress":
            return
        rec.end = self.engine.now()
        rec.duration = round(duration if duration is not None else rec.end - rec.start)
        rec.status = "completed"
        for tapped, channel in rec.taps:
            if (rec, channel) in tapped.taps:
                tapped.taps.remove((rec, channel))
        if rec.callback and "completed" in rec.callback_events:
            engine = self.engine
            call = engine.calls.get(rec.call_sid)
            params = [("AccountSid", engine.account_sid), ("CallSid", rec.call_sid),
                      ("RecordingSid", rec.sid), ("RecordingUrl", self.url(rec)),
                      ("RecordingStatus", "completed"),
                      ("RecordingDuration", str(rec.duration)),
                      ("RecordingChannels", str(rec.channels)),
                      ("RecordingSource", rec.source),
                      ("RecordingStartTime", rfc2822(engine.clock.datetime(rec.start))),
                      ("ErrorCode", "0")]
            if rec.conference_sid:
                params.append(("ConferenceSid", rec.conference_sid))
            engine.callback(call, rec.callback, rec.callback_method, params,
                            key=("rec", rec.sid))

    def delete(self, rec: Recording) -> None:
        self.by_sid.pop(rec.sid, None)

    # ---- media -----------------------------------------------------------------------
    def render(self, rec: Recording, channels: int, fmt: str) -> bytes:
        """The recording as WAV or MP3 bytes, mono (mixed) or dual channel."""
        length_ms = int(max(rec.duration, 1) * 1000)
        tracks = [silence(length_ms), silence(length_ms)]
        for channel, at, audio in rec.segments:
            tracks[min(channel, 1)] = tracks[min(channel, 1)].overlay(
                audio, position=int(at * 1000))
        if channels == 2:
            out = AudioSegment.from_mono_audiosegments(tracks[0], tracks[1])
        else:
            out = tracks[0].overlay(tracks[1])
        buf = io.BytesIO()
        out.export(buf, format="mp3" if fmt == "mp3" else "wav")
        return buf.getvalue()

    # ---- <Record> ---------------------------------------------------------------------
    async def record_verb(self, call: Call, node: Node, doc: Doc) -> Outcome:
        engine = self.engine
        timeout = as_number(node.get("timeout"), 5)
        finish = node.get("finishOnKey", "1234567890*#")
        max_length = as_number(node.get("maxLength"), 3600)
        trim = node.get("trim", "trim-silence") != "do-not-trim"
        if as_bool(node.get("playBeep"), True):
            call.heard.append({"verb": "Beep"})
            await engine.clock.sleep(BEEP_SECONDS)
        rec = self.start(call, "RecordVerb", 1,
                         callback=doc.resolve(node.get("recordingStatusCallback"))
                         if node.get("recordingStatusCallback") else None,
                         callback_method=node.get("recordingStatusCallbackMethod") or "POST",
                         callback_events=node.get("recordingStatusCallbackEvent")
                         or "completed")
        call.drain_inbox()
        call.set_listening("record")
        digits = ""
        last_sound = None
        try:
            while True:
                left = rec.start + max_length - engine.now()
                if left <= 0:
                    break
                event = await engine.interpreter.next_event(call, min(timeout, left))
                if event is None:
                    break
                if event.kind == "digits" and any(k in finish for k in event.value):
                    digits = next(k for k in event.value if k in finish)
                    break
                if event.kind == "speech_start":
                    got = await engine.interpreter.next_event(call, event.duration + timeout)
                    last_sound = engine.now()
                    if got is not None and got.kind == "digits":
                        call.inbox.put_nowait(Event(got.kind, got.value))
                elif event.kind == "speech":
                    last_sound = engine.now()
        except asyncio.CancelledError:
            call.set_listening(None)
            self._complete(call, rec, last_sound, trim)
            if call.done and rec.segments:
                source = engine.interpreter.action_source(
                    doc, node, self._params(rec, "hangup"), default_current=True)
                if source is not None:
                    engine.spawn(engine.queues._notify(call, source))
            raise
        call.set_listening(None)
        self._complete(call, rec, last_sound, trim)
        if not rec.segments:
            self.delete(rec)
            call.recordings.remove(rec.sid)
            return None
        return engine.interpreter.action_source(doc, node, self._params(rec, digits),
                                                default_current=True)

    def _complete(self, call: Call, rec: Recording, last_sound: float | None,
                  trim: bool) -> None:
        end = last_sound if trim and last_sound is not None else self.engine.now()
        if rec.segments:
            self.finish(rec, duration=max(1.0, end - rec.start))
        else:
            rec.status = "absent"
            for tapped, channel in rec.taps:
                if (rec, channel) in tapped.taps:
                    tapped.taps.remove((rec, channel))

    def _params(self, rec: Recording, digits: str) -> list[tuple[str, str]]:
        return [("RecordingUrl", self.url(rec)), ("RecordingSid", rec.sid),
                ("RecordingDuration", str(rec.duration)), ("Digits", digits)]
