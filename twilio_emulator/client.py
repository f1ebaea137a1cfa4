"""Python helpers for tests and bots: the control-API client and a scripted agent phone."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from typing import Any

import aiohttp


class EmulatorClient:
    """Drives the emulator over HTTP (control API plus IncomingPhoneNumbers)."""

    def __init__(self, base_url: str, account_sid: str, auth_token: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.account_sid = account_sid
        token = base64.b64encode(f"{account_sid}:{auth_token}".encode()).decode()
        self._headers = {"Authorization": "Basic " + token}
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            # No pool limit: aiohttp's default of 100 connections would queue any request
            # behind 100 pending wait_for_call long polls (and count the queueing
            # against their timeout).
            self._session = aiohttp.ClientSession(
                headers=self._headers, connector=aiohttp.TCPConnector(limit=0))
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def _post(self, path: str, body: dict[str, Any]) -> Any:
        async with self._http().post(self.base_url + path, json=body) as resp:
            data = await resp.json()
            if resp.status >= 400:
                raise RuntimeError(f"{path}: HTTP {resp.status}: {data}")
            return data

    async def provision_number(self, number: str, voice_url: str | None = None,
                               voice_fallback_url: str | None = None,
                               status_callback: str | None = None,
                               sms_url: str | None = None, voice_method: str = "POST"
                               ) -> dict[str, Any]:
        """Create (or update) an IncomingPhoneNumber through the REST API."""
        base = f"{self.base_url}/2010-04-01/Accounts/{self.account_sid}/IncomingPhoneNumbers"
        form = {"PhoneNumber": number, "VoiceUrl": voice_url, "VoiceMethod": voice_method,
                "VoiceFallbackUrl": voice_fallback_url, "StatusCallback": status_callback,
                "SmsUrl": sms_url}
        data = {k: v for k, v in form.items() if v is not None}
        async with self._http().get(base + ".json", params={"PhoneNumber": number}) as resp:
            existing = (await resp.json()).get("incoming_phone_numbers", [])
        url = f"{base}/{existing[0]['sid']}.json" if existing else base + ".json"
        async with self._http().post(url, data=data) as resp:
            body = await resp.json()
            if resp.status >= 400:
                raise RuntimeError(f"provision_number: {body}")
            return body

    async def place_call(self, from_: str, to: str, script: list[dict[str, Any]] | None = None,
                         hangup_after: float | None = None) -> str:
        """A caller dials a provisioned number; returns the CallSid."""
        data = await self._post("/_emulator/calls", {"from": from_, "to": to,
                                                     "script": script or [],
                                                     "hangup_after": hangup_after})
        return str(data["call_sid"])

    async def wait_for_call(
        self, call_sid: str, timeout: float = 30.0  # noqa: ASYNC109
    ) -> dict[str, Any]:
        """The call report once the call has ended (waits ``timeout`` real seconds)."""
        async with self._http().get(f"{self.base_url}/_emulator/calls/{call_sid}/wait",
                                    params={"timeout": str(timeout)},
                                    timeout=aiohttp.ClientTimeout(total=timeout + 10)) as resp:
            data = await resp.json()
            if resp.status == 408:
                raise TimeoutError(f"call {call_sid} still {data.get('status')}")
            if resp.status >= 400:
                raise RuntimeError(str(data))
            return dict(data)

    async def get_call(self, call_sid: str) -> dict[str, Any]:
        async with self._http().get(f"{self.base_url}/_emulator/calls/{call_sid}") as resp:
            return dict(await resp.json())

    async def send_sms(self, from_: str, to: str, body: str) -> str:
        data = await self._post("/_emulator/sms", {"from": from_, "to": to, "body": body})
        return str(data["message_sid"])

    async def set_callee(self, number: str, script: list[dict[str, Any]] | None = None) -> None:
        await self._post("/_emulator/callees", {"number": number, "script": script or []})

    async def advance(self, seconds: float) -> float:
        data = await self._post("/_emulator/advance", {"seconds": seconds})
        return float(data["now"])

    async def log(self) -> list[dict[str, Any]]:
        async with self._http().get(f"{self.base_url}/_emulator/log") as resp:
            return list(await resp.json())


class AgentPhone:
    """A softphone registered as a Twilio Client identity, acting as a bot.

    The bot's behaviour (mode, answer_delay, talk_seconds, say) is sent to the emulator
    at registration and run there, on the emulator's clock.
    """

    def __init__(self, base_url: str, identity: str, mode: str = "accept",
                 answer_delay: float = 1.0, talk_seconds: float | None = None,
                 say: str | None = None) -> None:
        if mode not in ("accept", "reject", "ignore"):
            raise ValueError("mode must be accept, reject or ignore")
        self.url = base_url.rstrip("/").replace("http", "ws", 1) + f"/_emulator/phones/{identity}"
        self.identity = identity
        self.bot = {"mode": mode, "answer_delay": answer_delay, "talk_seconds": talk_seconds,
                    "say": say}
        self.offers: list[dict[str, Any]] = []
        self.connected: list[str] = []
        self.calls_ended: list[str] = []
        self.messages: list[dict[str, Any]] = []
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None
        self._registered = asyncio.Event()

    async def connect(self) -> None:
        self._session = aiohttp.ClientSession()
        self._ws = await self._session.ws_connect(self.url)
        self._reader = asyncio.create_task(self._read())
        await self._ws.send_json({"type": "register", "bot": self.bot})
        await asyncio.wait_for(self._registered.wait(), 10)

    async def _read(self) -> None:
        assert self._ws is not None
        async for msg in self._ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            data = json.loads(msg.data)
            self.messages.append(data)
            kind = data.get("type")
            if kind == "registered":
                self._registered.set()
            elif kind == "offer":
                self.offers.append(data)
            elif kind == "connected":
                self.connected.append(data["call_sid"])
            elif kind == "ended":
                self.calls_ended.append(data["call_sid"])

    async def send(self, kind: str, call_sid: str, **extra: Any) -> None:
        """Act by hand: accept, reject, hangup, digits (digits=...), say (text=...)."""
        assert self._ws is not None
        await self._ws.send_json({"type": kind, "call_sid": call_sid, **extra})

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self._session is not None:
            await self._session.close()
