"""REST Recordings: metadata (fetch/list/delete) and media (.wav/.mp3, mono or dual)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ..engine import Engine
from ..recordings import Recording
from .common import API, bad_request, date, engine_of, json, not_found, page


def recording_json(engine: Engine, r: Recording) -> dict[str, Any]:
    base = f"/2010-04-01/Accounts/{engine.account_sid}/Recordings/{r.sid}"
    return {
        "account_sid": engine.account_sid, "api_version": "2010-04-01",
        "call_sid": r.call_sid, "conference_sid": r.conference_sid,
        "date_created": date(engine, r.start), "date_updated": date(engine, r.end or r.start),
        "start_time": date(engine, r.start),
        "duration": str(r.duration) if r.status == "completed" else "-1",
        "sid": r.sid, "price": None, "price_unit": "USD", "status": r.status,
        "channels": r.channels, "source": r.source, "error_code": None, "uri": base + ".json",
        "encryption_details": None,
        "subresource_uris": {"add_on_results": base + "/AddOnResults.json",
                             "transcriptions": base + "/Transcriptions.json"},
        "media_url": engine.recordings.url(r),
    }


def get_recording(request: web.Request) -> Recording:
    rec = engine_of(request).recordings.by_sid.get(request.match_info["Sid"])
    if rec is None:
        raise not_found(request)
    return rec


async def fetch(request: web.Request) -> web.Response:
    return json(recording_json(engine_of(request), get_recording(request)))


async def delete(request: web.Request) -> web.Response:
    engine_of(request).recordings.delete(get_recording(request))
    return web.Response(status=204)


async def list_recordings(request: web.Request) -> web.Response:
    engine = engine_of(request)
    call_sid = request.match_info.get("CallSid") or request.query.get("CallSid", "")
    recs = [r for r in reversed(engine.recordings.by_sid.values())
            if r.status != "absent" and (not call_sid or r.call_sid == call_sid)]
    return page(request, "recordings", recs, lambda r: recording_json(engine, r),
                {"CallSid": request.query.get("CallSid", "")})


async def media(request: web.Request) -> web.Response:
    """GET .../Recordings/{Sid}[.wav|.mp3]?RequestedChannels=1|2 (no auth, as Twilio)."""
    engine = engine_of(request)
    rec = get_recording(request)
    fmt = request.match_info.get("ext", "wav") or "wav"
    wanted = request.query.get("RequestedChannels", str(rec.channels))
    if wanted not in ("1", "2"):
        raise bad_request(20001, "RequestedChannels must be 1 or 2")
    if int(wanted) > rec.channels:
        raise bad_request(20001, "RequestedChannels cannot exceed the recording's channels")
    body = engine.recordings.render(rec, int(wanted), fmt)
    ctype = "audio/mpeg" if fmt == "mp3" else "audio/x-wav"
    return web.Response(body=body, content_type=ctype)


def routes() -> list[web.RouteDef]:
    return [
        web.get(API + "/Recordings.json", list_recordings),
        web.get(API + "/Calls/{CallSid}/Recordings.json", list_recordings),
        web.get(API + "/Recordings/{Sid}.json", fetch),
        web.delete(API + "/Recordings/{Sid}.json", delete),
        web.get(API + "/Recordings/{Sid}.{ext:wav|mp3}", media),
        web.get(API + "/Recordings/{Sid:RE[0-9a-f]{32}}", media),
    ]
