"""The flow library: drafts, published versions, and the flow each of our numbers leads to.

Publishing validates the draft (`ivr.flow.check`) and makes a new, immutable version;
rolling back publishes an old version's definition again as the newest, so the history
reads in order with who and when. The flow a call is in is read by version id, and parsed
versions are kept in this process (a version never changes, so the copy never goes
stale).
"""

from __future__ import annotations

import difflib
from collections import OrderedDict
from typing import Any

import yaml
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter import events
from callcenter.audit import service as audit
from callcenter.db import utcnow
from callcenter.ivr.flow import Flow, FlowError, as_flow
from callcenter.ivr.models import IvrFlow, IvrFlowVersion, IvrNumberRoute

# Parsed versions kept per process, the most recently used first to stay.
_PARSED: OrderedDict[int, Flow] = OrderedDict()
_PARSED_LIMIT = 256


def definition(flow: Flow) -> dict[str, Any]:
    """A flow as stored: its JSON, defaults included (what the caller hears is explicit)."""
    return flow.model_dump(mode="json")


def read(data: dict[str, Any]) -> Flow:
    """A stored definition as a flow (FlowError naming the node when it is not valid)."""
    return as_flow(data)


def to_yaml(data: dict[str, Any]) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=88)


async def get_flow(session: AsyncSession, *, name: str, lock: bool = False) -> IvrFlow | None:
    query = select(IvrFlow).where(IvrFlow.name == name)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return await session.scalar(query)


async def list_flows(session: AsyncSession) -> list[IvrFlow]:
    return list(await session.scalars(select(IvrFlow).order_by(IvrFlow.name)))


async def save_draft(
    session: AsyncSession, *, flow: Flow, user_id: int | None
) -> IvrFlow:
    """The flow's draft becomes `flow` (made, if no flow has its name); not yet published."""
    found = await get_flow(session, name=flow.name, lock=True)
    if found is None:
        found = IvrFlow(name=flow.name, draft=definition(flow), draft_updated_by=user_id)
        session.add(found)
    else:
        found.draft = definition(flow)
        found.draft_updated_at = utcnow()
        found.draft_updated_by = user_id
    await session.flush()
    return found


async def versions(session: AsyncSession, *, flow_id: int) -> list[IvrFlowVersion]:
    """Newest first."""
    return list(await session.scalars(
        select(IvrFlowVersion).where(IvrFlowVersion.flow_id == flow_id)
        .order_by(IvrFlowVersion.number.desc())
    ))


async def version_by_id(session: AsyncSession, *, version_id: int) -> IvrFlowVersion | None:
    return await session.get(IvrFlowVersion, version_id)


async def version_numbered(
    session: AsyncSession, *, flow_id: int, number: int
) -> IvrFlowVersion | None:
    return await session.scalar(select(IvrFlowVersion).where(
        IvrFlowVersion.flow_id == flow_id, IvrFlowVersion.number == number))


async def _new_version(
    session: AsyncSession, flow: IvrFlow, *, data: dict[str, Any], note: str, user_id: int | None,
    action: str | None,
) -> IvrFlowVersion:
    last = await session.scalar(
        select(func.max(IvrFlowVersion.number)).where(IvrFlowVersion.flow_id == flow.id)
    )
    version = IvrFlowVersion(
        flow_id=flow.id, number=(last or 0) + 1, definition=data, note=note[:2000],
        published_by=user_id, published_at=utcnow(),
    )
    session.add(version)
    await session.flush()
    flow.published_version_id = version.id
    if action is not None:
        await audit.record(
            session, action=action, actor_id=user_id, target=f"ivr_flow:{flow.name}",
            details={"version": version.number, "note": version.note},
        )
    events.record(session, "ivr.flow.published", flow_id=flow.id, version_id=version.id)
    return version


async def publish(
    session: AsyncSession, flow: IvrFlow, *, note: str, user_id: int | None,
    audited: bool = True,
) -> IvrFlowVersion:
    """The draft as the flow's newest version (FlowError, naming the node, if invalid: an
    invalid flow is never published), in the audit log unless `audited` is False (the
    shipped flow at a first start: no one published it)."""
    data = definition(read(flow.draft))
    return await _new_version(session, flow, data=data, note=note, user_id=user_id,
                              action="ivr.flow.published" if audited else None)


async def rollback(
    session: AsyncSession, flow: IvrFlow, *, number: int, user_id: int | None
) -> IvrFlowVersion:
    """Version `number` published again, as the newest version."""
    old = await version_numbered(session, flow_id=flow.id, number=number)
    if old is None:
        raise FlowError(None, f"flow {flow.name!r} has no version {number}")
    read(old.definition)  # still valid under today's rules
    return await _new_version(
        session, flow, data=old.definition, note=f"Rolled back to version {number}",
        user_id=user_id, action="ivr.flow.rolled_back",
    )


def diff(older: dict[str, Any], newer: dict[str, Any], *, names: tuple[str, str]) -> str:
    """A unified diff of two definitions, as YAML."""
    return "".join(difflib.unified_diff(
        to_yaml(older).splitlines(keepends=True), to_yaml(newer).splitlines(keepends=True),
        fromfile=names[0], tofile=names[1],
    ))


async def route_number(session: AsyncSession, *, number: str, flow: IvrFlow) -> None:
    """Callers of `number` meet `flow` from now on (calls in progress keep theirs)."""
    found = await session.scalar(select(IvrNumberRoute).where(IvrNumberRoute.number == number))
    if found is None:
        session.add(IvrNumberRoute(number=number, flow_id=flow.id))
    else:
        found.flow_id = flow.id
    await session.flush()


async def numbers_of(session: AsyncSession) -> dict[int, list[str]]:
    """Each flow's routed numbers, by flow id."""
    rows = await session.execute(select(IvrNumberRoute.flow_id, IvrNumberRoute.number)
                                 .order_by(IvrNumberRoute.number))
    found: dict[int, list[str]] = {}
    for flow_id, number in rows:
        found.setdefault(flow_id, []).append(number)
    return found


def published_version(*, number: str, default: str) -> Any:
    """The id of the published version a call to `number` starts in (its route's flow,
    else the flow named `default`), as a scalar subquery: the call's own INSERT reads it,
    so starting a call costs no extra round trip."""
    routed = (
        select(IvrFlow.published_version_id)
        .join(IvrNumberRoute, IvrNumberRoute.flow_id == IvrFlow.id)
        .where(IvrNumberRoute.number == number)
        .scalar_subquery()
    )
    fallback = (
        select(IvrFlow.published_version_id).where(IvrFlow.name == default).scalar_subquery()
    )
    return func.coalesce(routed, fallback)


def forget_parsed() -> None:
    """Drop the parsed versions this process keeps: an app starting on a database (ids
    are per database, and a test suite opens many) reads its versions afresh."""
    _PARSED.clear()


async def flow_of_version(session: AsyncSession, *, version_id: int) -> Flow | None:
    """The flow of a published version (read once per process)."""
    found = _PARSED.get(version_id)
    if found is not None:
        _PARSED.move_to_end(version_id)
        return found
    data = await session.scalar(
        select(IvrFlowVersion.definition).where(IvrFlowVersion.id == version_id)
    )
    if data is None:
        return None
    flow = read(data)
    _PARSED[version_id] = flow
    while len(_PARSED) > _PARSED_LIMIT:
        _PARSED.popitem(last=False)
    return flow


async def ensure_shipped(session: AsyncSession, *, flow: Flow) -> bool:
    """A library with no flows at all (a first start) gets the shipped flow, published as
    its version 1, so calls are pinned to versions from the first. True when it did."""
    if await session.scalar(select(IvrFlow.id).limit(1)) is not None:
        return False
    saved = await save_draft(session, flow=flow, user_id=None)
    await publish(session, saved, note="The shipped flow", user_id=None, audited=False)
    return True
