"""The app's only way to Twilio's REST API: twilio-python's client on its async HTTP client.

`twilio_api_base_url` points the same client at real Twilio or at the bundled emulator;
nothing else changes. Errors come back as `GatewayError` so callers decide what a failed
REST call means for the caller on the line.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import aiohttp
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from callcenter.config import Settings

log = logging.getLogger("callcenter.telephony.gateway")


# What a REST call can fail with: Twilio's answer, or the network (aiohttp's errors are not
# all OSErrors: a dropped keep-alive connection is ServerDisconnectedError).
_TRANSPORT_ERRORS = (TwilioException, aiohttp.ClientError, OSError, TimeoutError, ValueError)


class GatewayError(Exception):
    """A REST call to Twilio failed; `code` is Twilio's error code when it sent one."""

    def __init__(self, message: str, *, code: int | None = None, status: int | None = None):
        super().__init__(message)
        self.code = code
        self.status = status


@dataclass
class OutboundCall:
    sid: str
    status: str


class TwilioGateway:
    """A small interface over the REST calls routing needs, with one HTTP session per app."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._client: Client | None = None

    def _rest(self) -> Client:
        """The client, made lazily inside the running loop (aiohttp binds its session to it)."""
        if self._client is None:
            settings = self._settings
            if settings.twilio_api_key_sid and settings.twilio_api_key_secret:
                username = settings.twilio_api_key_sid
                password = settings.twilio_api_key_secret.get_secret_value()
            else:
                username = settings.twilio_account_sid
                password = settings.twilio_auth_token.get_secret_value()
            client = Client(
                username,
                password,
                account_sid=settings.twilio_account_sid,
                http_client=AsyncTwilioHttpClient(timeout=10),
            )
            client.api.base_url = settings.twilio_api_base_url
            self._client = client
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.http_client.close()  # type: ignore[attr-defined]
            self._client = None

    async def call_client(
        self,
        *,
        identity: str,
        caller_id: str,
        url: str,
        status_callback: str,
        ring_seconds: int,
    ) -> OutboundCall:
        """Ring an agent's softphone; the status callback reports answer, no-answer or reject."""
        return await self._dial(
            f"client:{identity}", caller_id=caller_id, url=url,
            status_callback=status_callback, ring_seconds=ring_seconds,
        )

    async def call_number(
        self, *, to: str, caller_id: str, url: str, status_callback: str, ring_seconds: int
    ) -> OutboundCall:
        """Ring a customer's phone (a callback); the status callback reports how it went."""
        return await self._dial(
            to, caller_id=caller_id, url=url, status_callback=status_callback,
            ring_seconds=ring_seconds,
        )

    async def _dial(
        self, to: str, *, caller_id: str, url: str, status_callback: str, ring_seconds: int
    ) -> OutboundCall:
        try:
            call = await self._rest().calls.create_async(
                to=to,
                from_=caller_id,
                url=url,
                status_callback=status_callback,
                status_callback_event=["initiated", "ringing", "answered", "completed"],
                timeout=ring_seconds,
            )
        except _TRANSPORT_ERRORS as error:
            raise _wrap(error, "calls.create") from error
        return OutboundCall(sid=call.sid or "", status=call.status or "")

    async def dequeue(self, *, queue_sid: str, call_sid: str, url: str) -> None:
        """Take a waiting caller out of its queue and run `url`'s TwiML on the call."""
        try:
            await self._rest().queues(queue_sid).members(call_sid).update_async(
                url=url, method="POST"
            )
        except _TRANSPORT_ERRORS as error:
            raise _wrap(error, "queues.members.update") from error

    async def end_call(self, *, call_sid: str, ringing: bool) -> None:
        """Hang up a call: `canceled` for one that is still ringing, `completed` otherwise."""
        try:
            await self._rest().calls(call_sid).update_async(
                status="canceled" if ringing else "completed"
            )
        except _TRANSPORT_ERRORS as error:
            raise _wrap(error, "calls.update") from error

    async def send_sms(self, *, to: str, from_: str, body: str, status_callback: str) -> str:
        """Send a text through Twilio's Messages API; its MessageSid. Twilio's refusal (an
        opted-out recipient is 21610) is a GatewayError with Twilio's code."""
        try:
            message = await self._rest().messages.create_async(
                to=to, from_=from_, body=body, status_callback=status_callback
            )
        except _TRANSPORT_ERRORS as error:
            raise _wrap(error, "messages.create") from error
        return str(message.sid)

    async def conference_sid(self, *, name: str) -> str | None:
        """The SID of the conference in progress named `name` (None when there is none):
        a participant is changed through its conference's SID, not its name."""
        try:
            found = await self._rest().conferences.list_async(
                friendly_name=name, status="in-progress", limit=1
            )
        except _TRANSPORT_ERRORS as error:
            raise _wrap(error, "conferences.list") from error
        return found[0].sid if found else None

    async def update_participant(
        self, *, conference_sid: str, call_sid: str, hold: bool | None = None,
        muted: bool | None = None, end_conference_on_exit: bool | None = None,
    ) -> None:
        """Hold or resume (Twilio plays its hold music), mute or unmute one participant,
        or change whether their leaving ends the conference."""
        changes = {
            name: value for name, value in (
                ("hold", hold), ("muted", muted), ("end_conference_on_exit", end_conference_on_exit)
            ) if value is not None
        }
        try:
            await self._rest().conferences(conference_sid).participants(call_sid).update_async(
                **changes
            )
        except _TRANSPORT_ERRORS as error:
            raise _wrap(error, "conferences.participants.update") from error

    async def add_participant(
        self, *, conference_sid: str, to: str, caller_id: str, muted: bool,
        coach_call_sid: str | None, label: str, ring_seconds: int,
    ) -> str:
        """Dial `to` into a conference (a supervisor listening, whispering to the agent
        `coach_call_sid`, or barging in); leaving never ends it. The new leg's CallSid."""
        try:
            made = await self._rest().conferences(conference_sid).participants.create_async(
                from_=caller_id, to=to, muted=muted, label=label, beep="false",
                end_conference_on_exit=False, start_conference_on_enter=True,
                timeout=ring_seconds, coaching=coach_call_sid is not None,
                call_sid_to_coach=coach_call_sid,
            )
        except _TRANSPORT_ERRORS as error:
            raise _wrap(error, "conferences.participants.create") from error
        return made.call_sid or ""

    async def fetch_status(self, *, call_sid: str) -> tuple[str, int | None]:
        """A call's status and duration as Twilio has them, for calls whose callback got lost."""
        try:
            call = await self._rest().calls(call_sid).fetch_async()
        except _TRANSPORT_ERRORS as error:
            raise _wrap(error, "calls.fetch") from error
        return call.status or "", int(call.duration) if call.duration else None


def _wrap(error: Exception, operation: str) -> GatewayError:
    if isinstance(error, TwilioRestException):
        log.warning("telephony.rest.failed",
                    extra={"operation": operation, "code": error.code, "status": error.status})
        return GatewayError(error.msg, code=error.code, status=error.status)
    log.warning(
        "telephony.rest.unreachable",
        extra={"operation": operation, "error": f"{type(error).__name__}: {error}"},
    )
    return GatewayError(str(error) or type(error).__name__)
