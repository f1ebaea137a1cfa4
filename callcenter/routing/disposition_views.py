"""The dispositions API: the outcomes agents pick at wrap-up, a list admins keep."""

from __future__ import annotations

from quart import Blueprint
from quart_schema import tag_blueprint, validate_request, validate_response

from callcenter import api
from callcenter.accounts.auth import current_user, require_role
from callcenter.accounts.models import Role
from callcenter.errors import APIError
from callcenter.http.context import db
from callcenter.routing import dispositions, edits
from callcenter.routing.models import Disposition
from callcenter.routing.schemas import DispositionIn, DispositionList, DispositionOut

bp = Blueprint("dispositions_api", __name__, url_prefix="/api/dispositions")
tag_blueprint(bp, ["dispositions"])


def _out(disposition: Disposition) -> DispositionOut:
    return DispositionOut(id=disposition.id, name=disposition.name, active=disposition.active)


@bp.get("")
@require_role(Role.agent)
@validate_response(DispositionList, 200)
@validate_response(api.ErrorOut, 401)
@validate_response(api.ErrorOut, 403)
async def list_dispositions() -> DispositionList:
    """The dispositions an agent may pick at wrap-up, by name."""
    return DispositionList(items=[_out(d) for d in await dispositions.offered(db())])


@bp.post("")
@require_role(Role.admin)
@validate_request(DispositionIn)
@validate_response(DispositionOut, 201)
@validate_response(api.ErrorOut, 400)
@validate_response(api.ErrorOut, 401)
@validate_response(api.ErrorOut, 403)
async def add_disposition(data: DispositionIn) -> tuple[DispositionOut, int]:
    """Offer a disposition at wrap-up (adding a retired one's name brings it back). Admins."""
    actor = current_user()
    assert actor is not None
    added = await edits.add_disposition(db(), actor_id=actor.id, name=data.name.strip())
    return _out(added), 201


@bp.delete("/<int(max=2147483647):disposition_id>")
@require_role(Role.admin)
@validate_response(DispositionOut, 200)
@validate_response(api.ErrorOut, 401)
@validate_response(api.ErrorOut, 403)
@validate_response(api.ErrorOut, 404)
async def retire_disposition(disposition_id: int) -> DispositionOut:
    """No longer offer it, answering with it retired; calls that were given it keep it.
    Admins."""
    found = await dispositions.get(db(), disposition_id=disposition_id)
    if found is None or not found.active:
        raise APIError(404, "not_found", "there is no such disposition")
    actor = current_user()
    assert actor is not None
    await edits.retire_disposition(db(), actor_id=actor.id, disposition=found)
    return _out(found)
