"""REST Conferences (list/fetch/end) and Participants (add, update, remove)."""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import escape, quoteattr

from aiohttp import web

from ..calls import Source
from ..conferences import Conference, Participant
from ..engine import Engine
from .common import API, as_bool, bad_request, date, engine_of, form, json, not_found, one, page


def conference_json(engine: Engine, c: Conference) -> dict[str, Any]:
    base = f"/2010-04-01/Accounts/{engine.account_sid}/Conferences/{c.sid}"
    return {
        "account_sid": engine.account_sid, "date_created": date(engine, c.created),
        "date_updated": date(engine, c.updated), "api_version": "2010-04-01",
        "friendly_name": c.friendly_name, "region": "us1", "sid": c.sid, "status": c.status,
        "uri": base + ".json",
        "subresource_uris": {"participants": base + "/Participants.json",
                             "recordings": base + "/Recordings.json"},
        "reason_conference_ended": c.reason_ended, "call_sid_ending_conference": c.call_sid_ending,
    }


def participant_json(engine: Engine, p: Participant) -> dict[str, Any]:
    conf = p.conference
    return {
        "account_sid": engine.account_sid, "call_sid": p.call.sid, "label": p.label,
        "call_sid_to_coach": p.call_sid_to_coach, "coaching": p.coaching,
        "conference_sid": conf.sid, "date_created": date(engine, p.created),
        "date_updated": date(engine, p.updated or p.created),
        "end_conference_on_exit": p.end_on_exit, "muted": p.muted, "hold": p.hold,
        "start_conference_on_enter": p.start_on_enter, "status": p.status, "queue_time": "0",
        "uri": f"/2010-04-01/Accounts/{engine.account_sid}/Conferences/{conf.sid}"
               f"/Participants/{p.call.sid}.json",
    }


def get_conference(request: web.Request, key: str = "Sid") -> Conference:
    engine = engine_of(request)
    sid = request.match_info[key]
    conf = engine.conferences.by_sid.get(sid)
    if conf is None:
        raise not_found(request)
    return conf


def get_participant(request: web.Request) -> Participant:
    conf = get_conference(request, "ConferenceSid")
    ident = request.match_info["CallSid"]
    p = conf.participants.get(ident) or next(
        (p for p in conf.participants.values() if p.label == ident), None)
    if p is None:
        raise not_found(request)
    return p


def coaching_of(conf: Conference, data: Any, self_sid: str | None = None
                ) -> tuple[bool, str | None] | None:
    """(coaching, call_sid_to_coach) from a create/update form, or None if neither is given.

    Twilio: Coaching defaults to false unless CallSidToCoach is given; if true,
    CallSidToCoach must be given. The coached call must be in the same conference."""
    raw, target = one(data, "Coaching"), one(data, "CallSidToCoach")
    if raw is None and target is None:
        return None
    coaching = bool(as_bool(raw)) if raw is not None else True
    if not coaching:
        return False, None
    if not target:
        raise bad_request(20001, "CallSidToCoach is required when Coaching is true")
    if target == self_sid:
        raise bad_request(20001, "A participant cannot coach itself")
    if target not in conf.participants:
        raise bad_request(20001, f"CallSidToCoach {target} is not a participant of "
                                 f"conference {conf.sid}")
    return True, target


async def fetch(request: web.Request) -> web.Response:
    return json(conference_json(engine_of(request), get_conference(request)))


async def list_conferences(request: web.Request) -> web.Response:
    engine = engine_of(request)
    q = request.query
    filters = {"FriendlyName": q.get("FriendlyName", ""), "Status": q.get("Status", "")}
    confs = [c for c in reversed(engine.conferences.by_sid.values())
             if (not filters["FriendlyName"] or c.friendly_name == filters["FriendlyName"])
             and (not filters["Status"] or c.status == filters["Status"])]
    return page(request, "conferences", confs, lambda c: conference_json(engine, c), filters)


async def update(request: web.Request) -> web.Response:
    engine = engine_of(request)
    conf = get_conference(request)
    data = await form(request)
    if one(data, "Status") == "completed":
        engine.conferences.end(conf, "conference-ended-via-api")
    return json(conference_json(engine, conf))


async def list_participants(request: web.Request) -> web.Response:
    engine = engine_of(request)
    conf = get_conference(request, "ConferenceSid")
    return page(request, "participants", list(conf.participants.values()),
                lambda p: participant_json(engine, p))


async def fetch_participant(request: web.Request) -> web.Response:
    return json(participant_json(engine_of(request), get_participant(request)))


async def create_participant(request: web.Request) -> web.Response:
    """Call ``To`` and put it into the conference (created by name if needed)."""
    engine = engine_of(request)
    data = await form(request)
    key = request.match_info["ConferenceSid"]
    conf = engine.conferences.by_sid.get(key) or engine.conferences.get_or_create(key)
    to, from_ = one(data, "To"), one(data, "From")
    if not to or not from_:
        raise bad_request(21201 if not to else 21213, "To and From are required")
    coaching, coached = coaching_of(conf, data) or (False, None)
    attrs = {"startConferenceOnEnter": one(data, "StartConferenceOnEnter"),
             "endConferenceOnExit": one(data, "EndConferenceOnExit"),
             "muted": one(data, "Muted"), "beep": one(data, "Beep"),
             "coach": coached, "waitUrl": one(data, "WaitUrl"),
             "statusCallback": one(data, "ConferenceStatusCallback"),
             "statusCallbackEvent": " ".join(str(v) for v in
                                             data.getall("ConferenceStatusCallbackEvent", []))
             or None,
             "participantLabel": one(data, "Label")}
    text = " ".join(f"{k}={quoteattr(v)}" for k, v in attrs.items() if v)
    twiml = (f"<Response><Dial><Conference {text}>{escape(conf.friendly_name)}"
             "</Conference></Dial></Response>")
    events = frozenset(e for raw in data.getall("StatusCallbackEvent", [])
                       for e in str(raw).replace(",", " ").split()) or frozenset({"completed"})
    call = engine.start_outbound(from_, to, Source(twiml=twiml),
                                 timeout=float(one(data, "Timeout") or 60),
                                 status_callback=one(data, "StatusCallback"),
                                 status_method=one(data, "StatusCallbackMethod") or "POST",
                                 events=events)
    p = engine.conferences.prepare(
        conf, call, label=one(data, "Label"),
        muted=as_bool(one(data, "Muted")) or False,
        start_on_enter=as_bool(one(data, "StartConferenceOnEnter")) is not False,
        end_on_exit=as_bool(one(data, "EndConferenceOnExit")) or False,
        coaching=coaching, call_sid_to_coach=coached)
    engine.spawn(_forget_if_unanswered(engine, conf, p))
    return json(participant_json(engine, p), 201)


async def _forget_if_unanswered(engine: Engine, conf: Conference, p: Participant) -> None:
    await p.call.ended.wait()
    if p.status == "queued":
        conf.participants.pop(p.call.sid, None)


async def update_participant(request: web.Request) -> web.Response:
    engine = engine_of(request)
    p = get_participant(request)
    data = await form(request)
    confs = engine.conferences
    if one(data, "HoldUrl") is not None:
        p.hold_url = one(data, "HoldUrl")
        p.hold_method = (one(data, "HoldMethod") or "GET").upper()
    if one(data, "Muted") is not None:
        confs.set_muted(p, bool(as_bool(one(data, "Muted"))))
    coaching = coaching_of(p.conference, data, p.call.sid)
    if coaching is not None:
        confs.set_coaching(p, *coaching)
    if one(data, "Hold") is not None:
        confs.set_hold(p, bool(as_bool(one(data, "Hold"))))
    if one(data, "EndConferenceOnExit") is not None:
        p.end_on_exit = bool(as_bool(one(data, "EndConferenceOnExit")))
    p.updated = engine.now()
    return json(participant_json(engine, p))


async def delete_participant(request: web.Request) -> web.Response:
    engine_of(request).conferences.kick(get_participant(request))
    return web.Response(status=204)


def routes() -> list[web.RouteDef]:
    base = API + "/Conferences"
    part = base + "/{ConferenceSid}/Participants"
    return [
        web.get(base + ".json", list_conferences),
        web.get(base + "/{Sid}.json", fetch),
        web.post(base + "/{Sid}.json", update),
        web.get(part + ".json", list_participants),
        web.post(part + ".json", create_participant),
        web.get(part + "/{CallSid}.json", fetch_participant),
        web.post(part + "/{CallSid}.json", update_participant),
        web.delete(part + "/{CallSid}.json", delete_participant),
    ]
