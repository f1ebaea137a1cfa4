"""Twilio's 2010-04-01 REST API, at Twilio's paths."""

from aiohttp import web

from . import calls, conferences, messages, numbers, queues, recordings


def routes() -> list[web.RouteDef]:
    out: list[web.RouteDef] = []
    for module in (calls, queues, conferences, recordings, messages, numbers):
        out += module.routes()
    return out
