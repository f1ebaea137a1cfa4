"""The blocklist: its API (`/api/blocklist`, with CSV import and export) and its page,
`/blocklist`, for supervisors and admins; agents block the caller or sender in front of
them (an exact number or an address) from the ticket page."""

from __future__ import annotations

from quart import Blueprint, Response, render_template, request
from quart_schema import (
    hide,
    tag_blueprint,
    validate_querystring,
    validate_request,
    validate_response,
)

from callcenter import api
from callcenter.accounts import service as accounts
from callcenter.accounts.auth import current_user, require_role
from callcenter.accounts.models import Role, User
from callcenter.blocklist import service as blocklist
from callcenter.blocklist.models import BlockKind, BlocklistEntry
from callcenter.blocklist.schemas import (
    EntryIn,
    EntryOut,
    EntryPage,
    EntryQuery,
    ImportIn,
    ImportOut,
)
from callcenter.db import utcnow
from callcenter.errors import APIError, refusing
from callcenter.http.context import db, settings

bp = Blueprint("blocklist", __name__)
tag_blueprint(bp, ["blocklist"])
# What an agent may block on their own: the one caller or sender in front of them.
AGENT_KINDS = (BlockKind.exact, BlockKind.email)
EXPORT_LIMIT = 100_000


def _me() -> User:
    user = current_user()
    assert user is not None
    return user


async def _entry_or_404(entry_id: int) -> BlocklistEntry:
    return await api.found(
        lambda i: blocklist.get(db(), entry_id=i), entry_id, "blocklist entry"
    )


@bp.get("/api/blocklist")
@require_role(Role.supervisor)
@validate_querystring(EntryQuery)
@validate_response(EntryPage, 200)
@validate_response(api.ErrorOut, 400)
@validate_response(api.ErrorOut, 401)
@validate_response(api.ErrorOut, 403)
async def list_entries(query_args: EntryQuery) -> EntryPage:
    """Entries newest first, with their hits; `q` searches values and reasons."""
    offset, limit = api.page_bounds(query_args.page, query_args.per_page)
    found, total = await blocklist.list_entries(
        db(), kind=query_args.kind, q=query_args.q, offset=offset, limit=limit
    )
    now = utcnow()
    return EntryPage(
        items=[EntryOut.of(entry, now=now) for entry in found], page=query_args.page,
        per_page=query_args.per_page, total=total,
        next_page=api.next_page(query_args.page, query_args.per_page, total),
    )


@bp.post("/api/blocklist")
@require_role(Role.agent)
@validate_request(EntryIn)
@validate_response(EntryOut, 201)
@validate_response(api.ErrorOut, 400)
@validate_response(api.ErrorOut, 401)
@validate_response(api.ErrorOut, 403)
@validate_response(api.ErrorOut, 422)
async def add_entry(data: EntryIn) -> tuple[EntryOut, int]:
    """Block a number, prefix, address, domain or anonymous callers (any format; the
    same value again renews its entry). Audited."""
    me = _me()
    if data.kind not in AGENT_KINDS and not me.role.includes(Role.supervisor):
        raise APIError(403, "forbidden", "Only supervisors block prefixes, domains and "
                       "anonymous callers.")
    with refusing(blocklist.BlockError):
        entry = await blocklist.add(
            db(), kind=data.kind, value=data.value, reason=data.reason, created_by_id=me.id,
            expires_at=data.expires_at, region=settings().phone_region,
        )
    return EntryOut.of(entry, now=utcnow()), 201


@bp.delete("/api/blocklist/<int:entry_id>")
@require_role(Role.supervisor)
@validate_response(EntryOut, 200)
@validate_response(api.ErrorOut, 401)
@validate_response(api.ErrorOut, 403)
@validate_response(api.ErrorOut, 404)
async def remove_entry(entry_id: int) -> EntryOut:
    """Unblock: the entry is gone (the audit log keeps what it was). Answers it."""
    entry = await _entry_or_404(entry_id)
    out = EntryOut.of(entry, now=utcnow())
    await blocklist.remove(db(), entry=entry, actor_id=_me().id)
    return out


@bp.post("/api/blocklist/import")
@require_role(Role.supervisor)
@validate_request(ImportIn)
@validate_response(ImportOut, 200)
@validate_response(api.ErrorOut, 400)
@validate_response(api.ErrorOut, 401)
@validate_response(api.ErrorOut, 403)
@validate_response(api.ErrorOut, 422)
async def import_entries(data: ImportIn) -> ImportOut:
    """Add the rows of a CSV (`kind,value,reason,expires_at`), all or none: any bad row
    refuses the file, and the message names every bad line."""
    result = await blocklist.import_csv(
        db(), text=data.csv, actor_id=_me().id, region=settings().phone_region
    )
    if result.errors:
        raise APIError(422, "unprocessable", "; ".join(result.errors[:50]))
    return ImportOut(added=result.added)


@bp.get("/blocklist.csv")
@hide
@require_role(Role.supervisor)
async def export_entries() -> Response:
    found, _ = await blocklist.list_entries(db(), limit=EXPORT_LIMIT)
    return Response(
        blocklist.export_csv(found), content_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="blocklist.csv"'},
    )


@bp.get("/blocklist")
@hide
@require_role(Role.supervisor)
async def blocklist_page() -> str:
    q = request.args.get("q", "").strip()[:200]
    found, total = await blocklist.list_entries(db(), q=q, limit=200)
    people = await accounts.emails(
        db(), user_ids={e.created_by_id for e in found if e.created_by_id}
    )
    return await render_template(
        "blocklist/blocklist.html", entries=found, total=total, q=q, people=people,
        kinds=list(BlockKind), now=utcnow(),
    )
