"""The application factory: settings -> database -> logging -> blueprints.

No module-level app and no settings read at import: `create_app(settings)` is the only way
in, so tests, the demo and several instances each build their own.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
import uuid
from pathlib import Path

from quart import Quart, Response, g, request, send_from_directory
from quart_schema import QuartSchema, hide
from sqlalchemy.exc import DBAPIError

from callcenter import api, errors, events, jobs, logs, unit_of_work
from callcenter.accounts import auth
from callcenter.accounts.admin_views import bp as admin_pages
from callcenter.accounts.views import api_bp as accounts_api
from callcenter.accounts.views import pages as accounts_pages
from callcenter.blocklist.views import bp as blocklist_views
from callcenter.channels.chat.views import api_bp as chat_api
from callcenter.channels.chat.views import bp as chat_views
from callcenter.channels.email import listener as smtp_listener
from callcenter.channels.email.views import bp as email_views
from callcenter.channels.sms.views import bp as sms_hooks
from callcenter.channels.views import bp as replies_api
from callcenter.config import PROJECT_DIR, Settings
from callcenter.customers.views import bp as customers_views
from callcenter.db import create_engine, create_sessionmaker, transaction
from callcenter.flows import build_telephony
from callcenter.flows import queues as flow_queues
from callcenter.flows.work import WorkError
from callcenter.http import context, security
from callcenter.http.clients import client_address
from callcenter.http.health import bp as health
from callcenter.ivr import service as flow_library
from callcenter.ivr.views import bp as ivr_views
from callcenter.reports.feed import BoardFeed
from callcenter.reports.time_views import bp as time_report
from callcenter.reports.views import bp as board_pages
from callcenter.routing.admin_views import bp as routing_pages
from callcenter.routing.disposition_views import bp as dispositions_api
from callcenter.routing.queue_views import bp as queues_api
from callcenter.routing.softphone_views import bp as softphone_pages
from callcenter.routing.task_views import bp as tasks_api
from callcenter.routing.views import bp as routing_api
from callcenter.telephony import tokens
from callcenter.telephony.gateway import TwilioGateway
from callcenter.telephony.views import bp as telephony_hooks
from callcenter.tickets.api_views import bp as tickets_api
from callcenter.tickets.desk_views import bp as desk_views
from callcenter.tickets.time_views import bp as time_api
from callcenter.tickets.views import bp as ticket_pages
from callcenter.webhooks.views import bp as webhook_views

log = logging.getLogger("callcenter.http")
# A proxy's request id is kept only if it looks like one: it goes into every log line.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")

# Front-end packages installed from npm (package.json), served by the app itself.
NODE_MODULES = PROJECT_DIR / "node_modules"
# `npm run build` (scripts/install) bundles Twilio's Voice SDK into node_modules/.bundles.
VENDORED = {
    "swagger-ui": NODE_MODULES / "swagger-ui-dist",
    "twilio-voice": NODE_MODULES / ".bundles",
}


def create_app(settings: Settings) -> Quart:
    app = Quart(
        __name__,
        template_folder=str(Path(__file__).parent / "web" / "templates"),
        static_folder=str(Path(__file__).parent / "web" / "static"),
    )
    app.request_class = errors.Request
    app.secret_key = settings.session_secret()
    app.config.update(
        SESSION_COOKIE_NAME="callcenter_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        PERMANENT_SESSION_LIFETIME=dt.timedelta(seconds=settings.session_max_age_seconds),
        QUART_SCHEMA_SWAGGER_JS_URL="/vendor/swagger-ui/swagger-ui-bundle.js",
        QUART_SCHEMA_SWAGGER_CSS_URL="/vendor/swagger-ui/swagger-ui.css",
    )
    engine = create_engine(
        settings.database_url, lock_timeout=settings.database_lock_timeout_seconds
    )
    bus = events.build_bus(settings.events_backend, redis_url=settings.redis_url)
    job_queue = jobs.build_queue(settings)
    sessionmaker = create_sessionmaker(engine, publish=bus.publish, jobs=job_queue)
    gateway = TwilioGateway(settings)
    telephony = build_telephony(settings, sessionmaker, gateway, jobs=job_queue)
    app.extensions["callcenter"] = context.AppState(
        settings=settings, engine=engine, sessionmaker=sessionmaker, telephony=telephony,
        bus=bus, board=BoardFeed(bus, sessionmaker, zone=settings.zone()),
    )

    QuartSchema(
        app,
        openapi_path="/openapi.json",
        swagger_ui_path="/api/docs",
        redoc_ui_path=None,
        scalar_ui_path=None,
        info={"title": "callcenter API", "version": "0.1.0"},
        security_schemes={
            "bearer": {"type": "http", "scheme": "bearer"},
            "cookie": {"type": "apiKey", "in_": "cookie", "name": "callcenter_session"},
        },
        security=[{"bearer": []}, {"cookie": []}],
        openapi_provider_class=api.APIDocument,
    )
    _register_request_ids(app)
    security.register(
        app, docs_path="/api/docs", https=settings.secure_cookies,
        connect=tokens.connect_sources(settings),
    )
    context.register(app)
    auth.register(app)
    errors.register(app, refusals=(WorkError,))
    for blueprint in (
        accounts_pages, admin_pages, routing_pages, softphone_pages, board_pages, accounts_api,
        routing_api,
        queues_api, tasks_api, dispositions_api, ticket_pages, tickets_api, customers_views,
        time_api, time_report, blocklist_views, webhook_views, desk_views, email_views,
        replies_api, sms_hooks, chat_views, chat_api, ivr_views,
        telephony_hooks, health,
    ):
        app.register_blueprint(blueprint)
    _register_vendor(app)

    @app.before_serving
    async def _connect() -> None:
        try:
            async with transaction(sessionmaker) as session:
                await flow_queues.check(session, flow=telephony.flow)
        except (DBAPIError, OSError) as error:
            # Serve anyway: /healthz says the database is down, and `callcenter serve`
            # checked the flow's queues before starting.
            log.error("ivr.flow.queues_unchecked", extra={"error": str(error)})
        flow_library.forget_parsed()
        try:
            async with transaction(sessionmaker) as session:
                if await flow_library.ensure_shipped(session, flow=telephony.flow):
                    log.info("ivr.flow.shipped_published", extra={"flow": telephony.flow.name})
        except (DBAPIError, OSError) as error:
            # Another instance starting at once published it, or the database is down:
            # calls fall back to the shipped flow until one is published.
            log.warning("ivr.flow.not_seeded", extra={"error": str(error)})
        await bus.start()
        if settings.smtp_listen_host and settings.smtp_listen_port is not None:
            assert telephony.mailroom is not None
            app.extensions["callcenter"].smtp = await smtp_listener.start(
                sessionmaker, telephony.mailroom, host=settings.smtp_listen_host,
                port=settings.smtp_listen_port, message_limit=settings.email_message_limit_bytes,
            )

    @app.after_serving
    async def _dispose() -> None:
        smtp = app.extensions["callcenter"].smtp
        if smtp is not None:
            smtp.close()
            await smtp.wait_closed()
        # What committed transactions promised (offers, hang-ups, events) finishes first.
        await unit_of_work.drain(within=5)
        await app.extensions["callcenter"].board.close()
        await bus.close()
        await gateway.close()
        await engine.dispose()

    return app


def _register_request_ids(app: Quart) -> None:
    """A request id on every log line and response, taken from a proxy's header when sent."""

    @app.before_request
    async def _start() -> None:
        sent = request.headers.get("X-Request-ID", "")
        rid = sent if _REQUEST_ID.fullmatch(sent) else uuid.uuid4().hex[:16]
        g.request_token = logs.request_id.set(rid)
        g.request_started = time.perf_counter()

    @app.after_request
    async def _finish(response: Response) -> Response:
        response.headers["X-Request-ID"] = logs.request_id.get()
        started = g.get("request_started", time.perf_counter())
        elapsed_ms = round((time.perf_counter() - started) * 1000, 1)
        log.info(
            "http.request",
            extra={"method": request.method, "path": request.path,
                   "status": response.status_code, "ms": elapsed_ms,
                   "client": client_address()},
        )
        return response


def _register_vendor(app: Quart) -> None:
    @app.get("/vendor/<package>/<path:filename>")
    @hide
    async def vendor(package: str, filename: str) -> Response:
        """Serve an npm package's files; unknown packages 404 like any missing file."""
        root = VENDORED.get(package)
        if root is None:
            return Response("not found", status=404)
        return await send_from_directory(root, filename)
