"""The chat widget's edge: the script a site embeds (`/chat/widget.js`), the visitor's
socket (`/chat/socket`), and what agents do to a chat besides answering it (typing, ending
it: `/api/chats/<id>/...`; answers go through `POST /api/tickets/<id>/replies`).

The socket speaks JSON messages, one per frame. The visitor's page sends `hello` (with the
token it keeps, if any), then `start`, `message`, `typing`, `end` or, when nobody is
online, `leave`; it hears `welcome` (its token, whether anyone is online, the chat so far),
`message`, `typing`, `status` and `error`. Each message from the visitor is one unit of
work; what the agent does reaches the socket through the event bus, so the visitor and the
agent may be on different instances.

Only pages of the sites in `chat_allowed_origins` may open the socket (browsers send the
page's origin, and a page cannot forge it); a visitor's messages are cut at
`chat_message_limit_chars` and limited to `chat_messages_per_minute`, new visitors per
client address and typing notices per socket too (each process counts its own, as the
login throttle does).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel
from quart import (
    Blueprint,
    Response,
    abort,
    current_app,
    render_template,
    send_file,
    websocket,
)
from quart_schema import hide, tag_blueprint, validate_request, validate_response

from callcenter import api
from callcenter.accounts.auth import current_user, require_role
from callcenter.accounts.models import Role
from callcenter.accounts.throttle import Throttle
from callcenter.channels.chat import service as chat
from callcenter.channels.chat.models import ConversationStatus
from callcenter.db import transaction
from callcenter.errors import APIError
from callcenter.events import Event
from callcenter.flows import chat as chat_flow
from callcenter.http.clients import client_address
from callcenter.http.context import AppState, db, state

log = logging.getLogger("callcenter.channels.chat")

bp = Blueprint("chat", __name__)
api_bp = Blueprint("chat_api", __name__)
tag_blueprint(api_bp, ["chat"])

WIDGET = Path(__file__).resolve().parents[2] / "web" / "static" / "chat" / "widget.js"
# A frame larger than this is refused outright (the message limit cuts what is kept).
FRAME_LIMIT = 64_000
# A visitor's "typing" goes out at most this often (the page says it every few seconds).
TYPING_EVERY = 1.0
# New visitors one client address may make a minute (each is a row).
NEW_VISITORS_PER_MINUTE = 20


@bp.get("/chat/widget.js")
@hide
async def widget() -> Response:
    """The widget, for any site's `<script src>` (the socket checks who may talk)."""
    response = await send_file(WIDGET, mimetype="text/javascript")
    response.headers["Cache-Control"] = "public, max-age=300"
    response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response


@bp.get("/chat/preview")
@hide
@require_role(Role.agent)
async def preview() -> str:
    """The tag to put on a site, and the widget itself to try."""
    app = state()
    src = f"{app.settings.public_base_url}/chat/widget.js"
    return await render_template(
        "chat/preview.html", snippet=f'<script src="{src}" defer></script>',
        origins=app.settings.chat_allowed_origins,
    )


def _allowed(app: AppState, origin: str) -> bool:
    """A page of a site in `chat_allowed_origins`, or this app's own (the preview page)."""
    own = urlsplit(app.settings.public_base_url)
    return origin in app.settings.chat_allowed_origins or origin == f"{own.scheme}://{own.netloc}"


@dataclass
class _Visitor:
    """One socket's visitor and chat."""

    app: AppState
    visitor_id: int | None = None
    conversation_id: int | None = None
    ticket_id: int | None = None
    typing_said_at: float = 0.0

    def follow(self, conversation: Any) -> None:
        """The chat this socket's visitor is in now (None: none)."""
        self.conversation_id = conversation.id if conversation is not None else None
        self.ticket_id = conversation.ticket_id if conversation is not None else None


def _throttle(app: AppState, name: str, per_minute: int) -> Throttle:
    """A budget per key, one per app process (kept in memory: see accounts.throttle)."""
    found = current_app.extensions.get(name)
    if found is None:
        found = current_app.extensions[name] = Throttle(capacity=per_minute, per_seconds=60)
    return found


async def _send(payload: dict[str, Any]) -> None:
    await websocket.send(json.dumps(payload))


async def _error(text: str) -> None:
    await _send({"type": "error", "message": text})


async def _welcome(conn: _Visitor, token: str | None) -> None:
    app = conn.app
    async with transaction(app.sessionmaker) as session:
        visitor = await chat.visitor_by_token(session, token=token or "")
        if visitor is None:
            newcomers = _throttle(app, "chat_newcomers", NEW_VISITORS_PER_MINUTE)
            if newcomers.wait(client_address()):
                raise chat_flow.ChatRefused("Too many new chats from here: try again soon.")
            newcomers.take(client_address())
            visitor, token = await chat.new_visitor(
                session, origin=websocket.headers.get("Origin", "")
            )
        else:
            await chat.seen(session, visitor_id=visitor.id)
        conversation = await chat.current(session, visitor_id=visitor.id)
        online = await chat_flow.anyone_online(session, queue_name=app.settings.chat_queue)
        conn.visitor_id = visitor.id
        conn.follow(conversation)
        payload: dict[str, Any] = {
            "type": "welcome", "token": token, "visitor": visitor.public_id,
            "name": visitor.name, "online": online,
            "limit": app.settings.chat_message_limit_chars,
            "conversation": None, "messages": [],
        }
        if conversation is not None:
            payload["conversation"] = await _status(session, conversation)
            payload["messages"] = await chat_flow.history(session, conversation)
    await _send(payload)


async def _status(session: Any, conversation: Any) -> dict[str, Any]:
    status: dict[str, Any] = {"type": "status", "id": conversation.id,
                              "status": conversation.status.value}
    if conversation.status == ConversationStatus.active:
        status["agent"] = await chat_flow.agent_name(session, agent_id=conversation.agent_id)
    return status


def _text(frame: dict[str, Any], limit: int) -> str:
    body = frame.get("body")
    if not isinstance(body, str) or not body.strip():
        raise chat_flow.ChatRefused("Write a message first.")
    return body.strip()[:limit]


def _about(frame: dict[str, Any]) -> chat_flow.About:
    def field(name: str, limit: int) -> str:
        value = frame.get(name)
        return value.strip()[:limit] if isinstance(value, str) else ""

    return chat_flow.About(name=field("name", 200), email=field("email", 254),
                           phone=field("phone", 40))


def _message_id(frame: dict[str, Any]) -> str:
    value = frame.get("id")
    if not isinstance(value, str) or not 1 <= len(value) <= 64:
        raise chat_flow.ChatRefused("A message needs its id.")
    return value


async def _handle(conn: _Visitor, frame: dict[str, Any]) -> None:
    """One message from the visitor's page."""
    app = conn.app
    kind = frame.get("type")
    if kind == "hello":
        if conn.visitor_id is not None:
            raise chat_flow.ChatRefused("Hello again? This socket has its visitor.")
        await _welcome(conn, frame.get("token") if isinstance(frame.get("token"), str) else None)
        return
    if conn.visitor_id is None:
        raise chat_flow.ChatRefused("Say hello first.")
    if kind == "typing":
        now = asyncio.get_running_loop().time()
        if conn.conversation_id is not None and now - conn.typing_said_at >= TYPING_EVERY:
            conn.typing_said_at = now
            await app.bus.publish([Event("chat.typing", {
                "conversation_id": conn.conversation_id, "ticket_id": conn.ticket_id,
                "who": "visitor",
                "on": bool(frame.get("on")),
            })])
        return
    if kind in ("start", "message", "leave"):
        throttle = _throttle(app, "chat_messages", app.settings.chat_messages_per_minute)
        key = str(conn.visitor_id)
        if throttle.wait(key):
            raise chat_flow.ChatRefused("You are sending messages too fast: wait a moment.")
        throttle.take(key)
    limit = app.settings.chat_message_limit_chars
    async with transaction(app.sessionmaker) as session:
        visitor = await chat.visitor_by_id(session, visitor_id=conn.visitor_id, lock=True)
        assert visitor is not None
        conversation = await chat.current(session, visitor_id=visitor.id)
        if kind == "start" or (kind == "message" and conversation is None):
            if conversation is None:
                conversation = await chat_flow.start(
                    session, app.telephony, visitor=visitor, about=_about(frame),
                    body=_text(frame, limit), message_id=_message_id(frame),
                    queue_name=app.settings.chat_queue, region=app.settings.phone_region,
                )
                if conversation is None:
                    raise chat_flow.ChatRefused("We cannot take this chat.")
            else:
                await chat_flow.say(session, visitor=visitor, conversation=conversation,
                                    body=_text(frame, limit), message_id=_message_id(frame))
        elif kind == "message":
            assert conversation is not None
            await chat_flow.say(session, visitor=visitor, conversation=conversation,
                                body=_text(frame, limit), message_id=_message_id(frame))
        elif kind == "leave":
            left = await chat_flow.leave_message(
                session, visitor=visitor, about=_about(frame), body=_text(frame, limit),
                message_id=_message_id(frame), region=app.settings.phone_region,
            )
            reply = {"type": "left", "ok": left is not None}
        elif kind == "end":
            if conversation is not None:
                await chat_flow.close(session, app.telephony, conversation, by="visitor")
        else:
            raise chat_flow.ChatRefused("Unknown message.")
        conn.follow(conversation)
        status = await _status(session, conversation) if conversation is not None else None
    if kind == "leave":
        await _send(reply)
    elif status is not None and kind in ("start", "end"):
        await _send(status)


async def _forward(conn: _Visitor, events: Any) -> None:
    """What happens in the visitor's chat elsewhere (an agent's message or typing, the
    chat assigned or ended), sent to their page. What to send is read in a short
    transaction and sent after it: a slow visitor never holds a connection."""
    async for message in events:
        ours = conn.conversation_id
        if ours is None or (
            isinstance(message, Event) and message.data.get("conversation_id") != ours
        ):
            continue
        if isinstance(message, Event) and message.name == "chat.typing":
            if message.data.get("who") == "agent":
                await _send({"type": "typing", "on": message.data.get("on", False),
                             "name": message.data.get("name", "")})
            continue
        outgoing: list[dict[str, Any]] = []
        async with transaction(conn.app.sessionmaker) as session:
            if not isinstance(message, Event):  # missed some: send the chat again
                conversation = await chat.get(session, conversation_id=ours)
                if conversation is not None:
                    outgoing = [*await chat_flow.history(session, conversation),
                                await _status(session, conversation)]
            elif message.name == "chat.message":
                shown = await chat_flow.shown(session, event_id=message.data["event_id"])
                outgoing = [shown] if shown is not None else []
            elif message.name in ("chat.assigned", "chat.closed"):
                conversation = await chat.get(session, conversation_id=ours)
                if conversation is not None:
                    outgoing = [await _status(session, conversation)]
        for payload in outgoing:
            await _send(payload)


async def _forwarding(conn: _Visitor, events: Any) -> None:
    """`_forward`, and if it fails the socket closes, so the page reconnects and reads the
    chat again rather than stop hearing the agent."""
    try:
        await _forward(conn, events)
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("channels.chat.forward_failed",
                      extra={"conversation_id": conn.conversation_id})
        await websocket.close(1011)


async def _handled(conn: _Visitor, frame: dict[str, Any]) -> None:
    """`_handle`, with what went wrong told to the visitor rather than raised."""
    try:
        await _handle(conn, frame)
    except chat_flow.ChatRefused as refused:
        await _error(str(refused))
    except Exception:
        # The visitor's chat goes on: they are told, and may send it again.
        log.exception("channels.chat.failed", extra={"type": str(frame.get("type"))})
        with contextlib.suppress(Exception):
            await _error("Your message could not be sent: try again.")


@bp.websocket("/chat/socket")
async def socket() -> None:
    """A visitor's chat, both ways."""
    app = state()
    origin = websocket.headers.get("Origin", "")
    if not _allowed(app, origin):
        log.info("channels.chat.origin_refused", extra={"origin": origin[:200]})
        abort(403)
    await websocket.accept()
    conn = _Visitor(app=app)
    async with app.bus.subscribe("chat.") as events:
        forward = asyncio.ensure_future(_forwarding(conn, events))
        try:
            while True:
                raw = await websocket.receive()
                if isinstance(raw, bytes) or len(raw) > FRAME_LIMIT:
                    await _error("That message is too large.")
                    continue
                try:
                    frame = json.loads(raw)
                    if not isinstance(frame, dict):
                        raise ValueError("not an object")
                except (ValueError, RecursionError):
                    await _error("That message could not be read.")
                    continue
                # A visitor who leaves mid-message must not cut its transaction short (a
                # cancelled SQLite transaction can keep the write lock): it finishes alone.
                await asyncio.shield(_handled(conn, frame))
        finally:
            forward.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await forward


# --- the agent's side -------------------------------------------------------------------


class TypingIn(BaseModel):
    on: bool = True


class ChatOut(BaseModel):
    id: int
    ticket_id: int
    status: str

    @classmethod
    def of(cls, conversation: Any) -> ChatOut:
        return cls(id=conversation.id, ticket_id=conversation.ticket_id,
                   status=conversation.status.value)


async def _conversation(conversation_id: int) -> Any:
    return await api.found(
        lambda i: chat.get(db(), conversation_id=i), conversation_id, "chat"
    )


@api_bp.post("/api/chats/<int:conversation_id>/typing")
@require_role(Role.agent)
@validate_request(TypingIn)
@validate_response(ChatOut, 200)
@validate_response(api.ErrorOut, 400)
@validate_response(api.ErrorOut, 401)
@validate_response(api.ErrorOut, 403)
@validate_response(api.ErrorOut, 404)
async def agent_typing(conversation_id: int, data: TypingIn) -> ChatOut:
    """Tell the visitor you are typing (send it again every few seconds while you type;
    it fades after a few seconds without)."""
    conversation = await _conversation(conversation_id)
    user = current_user()
    assert user is not None
    await state().bus.publish([Event("chat.typing", {
        "conversation_id": conversation.id, "ticket_id": conversation.ticket_id,
        "who": "agent", "on": data.on, "name": chat_flow.first_name(user),
    })])
    return ChatOut.of(conversation)


@api_bp.post("/api/chats/<int:conversation_id>/close")
@require_role(Role.agent)
@validate_response(ChatOut, 200)
@validate_response(api.ErrorOut, 401)
@validate_response(api.ErrorOut, 403)
@validate_response(api.ErrorOut, 404)
@validate_response(api.ErrorOut, 409)
async def close_chat(conversation_id: int) -> ChatOut:
    """End the chat: the visitor is told, it stays on the ticket's timeline, and you have
    room for the next one."""
    conversation = await _conversation(conversation_id)
    if not await chat_flow.close(db(), state().telephony, conversation, by="agent"):
        raise APIError(409, "chat_ended", "This chat has ended already.")
    return ChatOut.of(conversation)

