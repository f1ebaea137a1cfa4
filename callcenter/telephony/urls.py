"""Absolute URLs of our Twilio-facing routes, built on the configured public base URL.

TwiML and REST calls always carry absolute public URLs: Twilio signs what it fetches, and
we check signatures against the public URL, so the two must agree byte for byte.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from urllib.parse import urlencode


@dataclass(frozen=True)
class VoiceUrls:
    base: str
    # The IVR flow version the call is in: the flow's URLs carry it (`v`), so each webhook
    # answers from the version the call started with, whatever is published meanwhile.
    version: int | None = None

    def _url(self, path: str, **query: object) -> str:
        url = f"{self.base}/twilio/voice/{path}"
        return f"{url}?{urlencode(query)}" if query else url

    def _flow_url(self, path: str, **query: object) -> str:
        if self.version is not None:
            query["v"] = self.version
        return self._url(path, **query)

    def pinned(self, version: int | None) -> VoiceUrls:
        """These URLs for a call in `version` of its flow."""
        return replace(self, version=version)

    def incoming(self) -> str:
        return self._url("incoming")

    def status(self) -> str:
        return self._url("status")

    def fallback(self) -> str:
        return self._url("fallback")

    def ivr(self, node: str, attempt: int = 1) -> str:
        return self._flow_url("ivr", node=node, attempt=attempt)

    def queue_wait(self, node: str) -> str:
        return self._flow_url("queue/wait", node=node)

    def queue_key(self, node: str) -> str:
        return self._flow_url("queue/key", node=node)

    def sms_status(self) -> str:
        """Where Twilio reports what became of a text we sent (sent, delivered, failed)."""
        return f"{self.base}/twilio/sms/status"

    def hold_music(self) -> str:
        return f"{self.base}/static/audio/hold-music.mp3"

    def callback_connect(self, reservation_id: int) -> str:
        return self._url("callback/connect", reservation=reservation_id)

    def callback_status(self, reservation_id: int) -> str:
        return self._url("callback/status", reservation=reservation_id)

    def queue_result(self, node: str) -> str:
        return self._flow_url("queue/result", node=node)

    def voicemail(self, node: str) -> str:
        return self._flow_url("voicemail", node=node)

    def recording_status(self) -> str:
        return self._url("recording/status")

    def agent_answer(self, reservation_id: int) -> str:
        return self._url("agent/answer", reservation=reservation_id)

    def agent_status(self, reservation_id: int) -> str:
        return self._url("agent/status", reservation=reservation_id)

    def caller_connect(self, reservation_id: int) -> str:
        return self._url("caller/connect", reservation=reservation_id)
