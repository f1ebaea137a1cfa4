"""IVR flows for admins: the API (`/api/ivr/flows/...`: list, a flow with its draft and
versions, save a draft from YAML, publish, roll back, diff two versions) and the pages,
`/admin/ivr` and `/admin/ivr/<name>`. A refused flow is a 422 naming every problem's
node and reason."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from quart import Blueprint, Response, render_template, request
from quart_schema import hide, tag_blueprint, validate_request, validate_response

from callcenter import api
from callcenter.accounts import service as accounts
from callcenter.accounts.auth import current_user, require_role
from callcenter.accounts.models import Role
from callcenter.errors import APIError
from callcenter.flows import ivr as ivr_flows
from callcenter.http.context import db
from callcenter.ivr import engine
from callcenter.ivr import service as library
from callcenter.ivr.flow import FlowError
from callcenter.ivr.models import IvrFlow
from callcenter.ivr.schemas import (
    DiffOut,
    DraftIn,
    FlowList,
    FlowOut,
    FlowSummary,
    PublishIn,
    RollbackIn,
    SimulateIn,
    StepOut,
    VersionOut,
)

bp = Blueprint("ivr", __name__)
tag_blueprint(bp, ["ivr"])
_NAME = "<string(maxlength=63):name>"


@contextlib.contextmanager
def _refusing() -> Iterator[None]:
    """A refused flow as a 422 naming every problem's node and reason."""
    try:
        yield
    except FlowError as error:
        raise APIError(422, "invalid_flow", "; ".join(str(p) for p in error.problems)) from None


def _me() -> int:
    user = current_user()
    assert user is not None
    return user.id


async def _flow_or_404(name: str) -> IvrFlow:
    found = await library.get_flow(db(), name=name)
    if found is None:
        raise APIError(404, "not_found", "There is no such flow.")
    return found


async def _live(flow: IvrFlow) -> int | None:
    if flow.published_version_id is None:
        return None
    version = await library.version_by_id(db(), version_id=flow.published_version_id)
    return version.number if version else None


async def _out(flow: IvrFlow) -> FlowOut:
    versions = await library.versions(db(), flow_id=flow.id)
    live = next((v for v in versions if v.id == flow.published_version_id), None)
    return FlowOut(
        name=flow.name, draft_yaml=library.to_yaml(flow.draft),
        published_yaml=library.to_yaml(live.definition) if live else None,
        versions=[VersionOut.of(v, live_id=flow.published_version_id) for v in versions],
        numbers=(await library.numbers_of(db())).get(flow.id, []),
    )


@bp.get("/api/ivr/flows")
@require_role(Role.admin)
@validate_response(FlowList, 200)
@validate_response(api.ErrorOut, 401)
@validate_response(api.ErrorOut, 403)
async def list_flows() -> FlowList:
    numbers = await library.numbers_of(db())
    return FlowList(items=[
        FlowSummary.of(flow, live=await _live(flow), numbers=numbers.get(flow.id, []))
        for flow in await library.list_flows(db())
    ])


@bp.get(f"/api/ivr/flows/{_NAME}")
@require_role(Role.admin)
@validate_response(FlowOut, 200)
@validate_response(api.ErrorOut, 401)
@validate_response(api.ErrorOut, 403)
@validate_response(api.ErrorOut, 404)
async def get_flow(name: str) -> FlowOut:
    """The flow's draft and published version as YAML, and its versions, newest first."""
    return await _out(await _flow_or_404(name))


@bp.put(f"/api/ivr/flows/{_NAME}/draft")
@require_role(Role.admin)
@validate_request(DraftIn)
@validate_response(FlowOut, 200)
@validate_response(api.ErrorOut, 400)
@validate_response(api.ErrorOut, 401)
@validate_response(api.ErrorOut, 403)
@validate_response(api.ErrorOut, 422)
async def save_draft(name: str, data: DraftIn) -> FlowOut:
    """Save the flow's draft from YAML (made, if no flow has the name yet). 422 naming
    each problem's node and reason when it is not a valid flow; callers meet it only once
    it is published."""
    with _refusing():
        saved = await ivr_flows.import_yaml(db(), text=data.yaml, source="the draft",
                                            user_id=_me())
    if saved.name != name:
        raise APIError(422, "invalid_flow", f"the YAML's name is {saved.name!r}, not {name!r}")
    return await _out(saved)


@bp.post(f"/api/ivr/flows/{_NAME}/publish")
@require_role(Role.admin)
@validate_request(PublishIn)
@validate_response(VersionOut, 201)
@validate_response(api.ErrorOut, 400)
@validate_response(api.ErrorOut, 401)
@validate_response(api.ErrorOut, 403)
@validate_response(api.ErrorOut, 404)
@validate_response(api.ErrorOut, 422)
async def publish(name: str, data: PublishIn) -> tuple[VersionOut, int]:
    """Publish the draft as the next version: new calls meet it at once, calls already in
    the IVR keep theirs. 422 when the draft is invalid or names a queue that does not
    exist."""
    await _flow_or_404(name)
    with _refusing():
        version = await ivr_flows.publish(db(), name=name, note=data.note, user_id=_me())
    return VersionOut.of(version, live_id=version.id), 201


@bp.post(f"/api/ivr/flows/{_NAME}/rollback")
@require_role(Role.admin)
@validate_request(RollbackIn)
@validate_response(VersionOut, 201)
@validate_response(api.ErrorOut, 400)
@validate_response(api.ErrorOut, 401)
@validate_response(api.ErrorOut, 403)
@validate_response(api.ErrorOut, 404)
@validate_response(api.ErrorOut, 422)
async def rollback(name: str, data: RollbackIn) -> tuple[VersionOut, int]:
    """Publish an earlier version again, as the newest version."""
    await _flow_or_404(name)
    with _refusing():
        version = await ivr_flows.rollback(db(), name=name, number=data.version, user_id=_me())
    return VersionOut.of(version, live_id=version.id), 201


async def _diff(flow: IvrFlow, older: int, newer: int) -> DiffOut:
    found = {}
    for number in (older, newer):
        version = await library.version_numbered(db(), flow_id=flow.id, number=number)
        if version is None:
            raise APIError(404, "not_found", f"The flow has no version {number}.")
        found[number] = version.definition
    text = library.diff(found[older], found[newer],
                        names=(f"version {older}", f"version {newer}"))
    return DiffOut(older=older, newer=newer, diff=text)


@bp.get(f"/api/ivr/flows/{_NAME}/diff/<int:older>/<int:newer>")
@require_role(Role.admin)
@validate_response(DiffOut, 200)
@validate_response(api.ErrorOut, 401)
@validate_response(api.ErrorOut, 403)
@validate_response(api.ErrorOut, 404)
async def diff(name: str, older: int, newer: int) -> DiffOut:
    """What changed between two versions, as a unified diff of their YAML."""
    if max(older, newer) > api.ROW_ID_MAX:
        raise APIError(404, "not_found", "There is no such version.")
    return await _diff(await _flow_or_404(name), older, newer)


def _step(outcome: engine.Outcome) -> StepOut:
    then = outcome.then
    says, path = list(outcome.says), list(outcome.path)
    if isinstance(then, engine.Ask):
        return StepOut(says=says, path=path, then="ask", node=then.node, attempt=then.attempt,
                       num_digits=then.num_digits, prompt=then.prompt)
    if isinstance(then, engine.Wait):
        return StepOut(says=says, path=path, then="wait", node=then.node, queue=then.queue)
    if isinstance(then, engine.Record):
        return StepOut(says=says, path=path, then="record", node=then.node, prompt=then.prompt)
    return StepOut(says=[*says, then.text] if then.text else says, path=path, then="end")


@bp.post(f"/api/ivr/flows/{_NAME}/simulate")
@require_role(Role.admin)
@validate_request(SimulateIn)
@validate_response(StepOut, 200)
@validate_response(api.ErrorOut, 400)
@validate_response(api.ErrorOut, 401)
@validate_response(api.ErrorOut, 403)
@validate_response(api.ErrorOut, 404)
@validate_response(api.ErrorOut, 422)
async def simulate(name: str, data: SimulateIn) -> StepOut:
    """Try the flow as a call, a step at a time, through the engine the webhooks use:
    start it (no `node`), then answer each menu. Nothing is recorded. 422 when the draft
    is not a valid flow."""
    await _flow_or_404(name)
    with _refusing():
        flow = await ivr_flows.trial_flow(db(), name=name, draft=data.draft)
    if data.node is not None and data.node not in flow.nodes:
        raise APIError(422, "invalid_flow", f"the flow has no node {data.node!r}")
    return _step(ivr_flows.simulate(
        flow, node=data.node, attempt=data.attempt, digits=data.digits, speech=data.speech,
        staffed=data.staffed, at=data.at,
    ))


@bp.get(f"/api/ivr/flows/{_NAME}/export")
@hide
@require_role(Role.admin)
async def export(name: str) -> Response:
    """The published version (or, with `?draft=1`, the draft) as a YAML file."""
    await _flow_or_404(name)
    text = await ivr_flows.export(db(), name=name, draft=request.args.get("draft") == "1")
    return Response(text, content_type="application/yaml; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="{name}.yaml"'})


@bp.get("/admin/ivr")
@hide
@require_role(Role.admin)
async def flows_page() -> str:
    numbers = await library.numbers_of(db())
    rows = [FlowSummary.of(flow, live=await _live(flow), numbers=numbers.get(flow.id, []))
            for flow in await library.list_flows(db())]
    return await render_template("ivr/flows.html", flows=rows)


@bp.get(f"/admin/ivr/{_NAME}")
@hide
@require_role(Role.admin)
async def flow_page(name: str) -> str:
    flow = await _flow_or_404(name)
    out = await _out(flow)
    shown = None
    older, newer = request.args.get("from", type=int), request.args.get("to", type=int)
    if older and newer:
        shown = await _diff(flow, older, newer)
    people = await accounts.emails(
        db(), user_ids={v.published_by for v in out.versions if v.published_by}
    )
    return await render_template("ivr/flow.html", flow=out, diff=shown, people=people)
