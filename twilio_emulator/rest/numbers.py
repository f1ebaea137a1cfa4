"""REST IncomingPhoneNumbers: how a number is pointed at the app."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ..engine import Engine
from ..numbers import PhoneNumber
from .common import API, bad_request, date, engine_of, form, json, not_found, one, page


def number_json(engine: Engine, n: PhoneNumber) -> dict[str, Any]:
    uri = f"/2010-04-01/Accounts/{engine.account_sid}/IncomingPhoneNumbers/{n.sid}.json"
    return {
        "account_sid": engine.account_sid, "address_sid": None, "address_requirements": "none",
        "api_version": "2010-04-01", "beta": False,
        "capabilities": {"voice": True, "sms": True, "mms": True, "fax": False},
        "date_created": date(engine, n.created), "date_updated": date(engine, n.updated),
        "friendly_name": n.friendly_name, "identity_sid": None, "phone_number": n.phone_number,
        "origin": "twilio", "sid": n.sid, "sms_application_sid": None,
        "sms_fallback_method": n.sms_fallback_method, "sms_fallback_url": n.sms_fallback_url,
        "sms_method": n.sms_method, "sms_url": n.sms_url, "status_callback": n.status_callback,
        "status_callback_method": n.status_callback_method, "trunk_sid": None, "uri": uri,
        "voice_receive_mode": "voice", "voice_application_sid": None,
        "voice_caller_id_lookup": False, "voice_fallback_method": n.voice_fallback_method,
        "voice_fallback_url": n.voice_fallback_url, "voice_method": n.voice_method,
        "voice_url": n.voice_url, "emergency_status": "Inactive",
        "emergency_address_sid": None, "emergency_address_status": "unregistered",
        "bundle_sid": None, "status": "in-use", "type": "local",
    }


def get_number(request: web.Request) -> PhoneNumber:
    number = engine_of(request).numbers.by_sid.get(request.match_info["Sid"])
    if number is None:
        raise not_found(request)
    return number


async def create(request: web.Request) -> web.Response:
    engine = engine_of(request)
    data = await form(request)
    phone = one(data, "PhoneNumber")
    if not phone:
        raise bad_request(21421, "PhoneNumber is required")
    if engine.numbers.by_number(phone):
        raise bad_request(21422, f"PhoneNumber {phone} is already provisioned")
    number = engine.numbers.create(phone, {k: str(v) for k, v in data.items()})
    return json(number_json(engine, number), 201)


async def fetch(request: web.Request) -> web.Response:
    return json(number_json(engine_of(request), get_number(request)))


async def update(request: web.Request) -> web.Response:
    engine = engine_of(request)
    number = get_number(request)
    data = await form(request)
    number.update({k: str(v) for k, v in data.items()})
    number.updated = engine.now()
    return json(number_json(engine, number))


async def delete(request: web.Request) -> web.Response:
    number = get_number(request)
    del engine_of(request).numbers.by_sid[number.sid]
    return web.Response(status=204)


async def list_numbers(request: web.Request) -> web.Response:
    engine = engine_of(request)
    wanted = request.query.get("PhoneNumber", "")
    numbers = [n for n in engine.numbers.by_sid.values()
               if not wanted or n.phone_number == wanted]
    return page(request, "incoming_phone_numbers", numbers,
                lambda n: number_json(engine, n), {"PhoneNumber": wanted})


def routes() -> list[web.RouteDef]:
    base = API + "/IncomingPhoneNumbers"
    return [
        web.post(base + ".json", create),
        web.get(base + ".json", list_numbers),
        web.get(base + "/{Sid}.json", fetch),
        web.post(base + "/{Sid}.json", update),
        web.delete(base + "/{Sid}.json", delete),
    ]
