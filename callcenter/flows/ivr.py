"""Changing the IVR flows callers meet: importing a YAML flow as a draft, publishing it
(only a valid flow whose queues exist), rolling back to an earlier version, and trying a
flow in the simulator through the engine the webhooks use. A call already in the IVR
keeps the version it started with (`telephony.urls.VoiceUrls.pinned`)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.flows import queues as flow_queues
from callcenter.ivr import engine
from callcenter.ivr import flow as ivr_flow
from callcenter.ivr import service as library
from callcenter.ivr.flow import Flow, FlowError
from callcenter.ivr.models import IvrFlow, IvrFlowVersion


async def import_yaml(
    session: AsyncSession, *, text: str, source: str, user_id: int | None
) -> IvrFlow:
    """The YAML flow as its flow's draft (FlowError, naming the node, if it is invalid)."""
    return await library.save_draft(
        session, flow=ivr_flow.parse(text, source=source), user_id=user_id
    )


async def _named(session: AsyncSession, name: str) -> IvrFlow:
    found = await library.get_flow(session, name=name, lock=True)
    if found is None:
        raise FlowError(None, f"there is no flow named {name!r}")
    return found


async def publish(
    session: AsyncSession, *, name: str, note: str, user_id: int | None
) -> IvrFlowVersion:
    """The flow's draft as its newest version: refused (FlowError naming the node) when it
    is invalid or sends callers to a queue that does not exist."""
    flow = await _named(session, name)
    await flow_queues.check(session, flow=library.read(flow.draft))
    return await library.publish(session, flow, note=note, user_id=user_id)


async def rollback(
    session: AsyncSession, *, name: str, number: int, user_id: int | None
) -> IvrFlowVersion:
    """Version `number` of the flow, published again as its newest."""
    flow = await _named(session, name)
    old = await library.version_numbered(session, flow_id=flow.id, number=number)
    if old is not None:
        await flow_queues.check(session, flow=library.read(old.definition))
    return await library.rollback(session, flow, number=number, user_id=user_id)


async def export(session: AsyncSession, *, name: str, draft: bool = False) -> str:
    """The flow as YAML: its published version (or its draft)."""
    flow = await library.get_flow(session, name=name)
    if flow is None:
        raise FlowError(None, f"there is no flow named {name!r}")
    data = flow.draft
    if not draft and flow.published_version_id is not None:
        version = await library.version_by_id(session, version_id=flow.published_version_id)
        assert version is not None
        data = version.definition
    return library.to_yaml(data)


async def trial_flow(session: AsyncSession, *, name: str, draft: bool) -> Flow:
    """The flow the simulator tries: the draft (FlowError if it is not valid) or the live
    version."""
    flow = await library.get_flow(session, name=name)
    if flow is None:
        raise FlowError(None, f"there is no flow named {name!r}")
    if draft or flow.published_version_id is None:
        return library.read(flow.draft)
    found = await library.flow_of_version(session, version_id=flow.published_version_id)
    assert found is not None
    return found


def simulate(
    flow: Flow, *, node: str | None, attempt: int, digits: str, speech: str, staffed: bool,
    at: dt.datetime | None = None,
) -> engine.Outcome:
    """One step of a simulated call, through the engine the webhooks use: the call's start
    (`node` None), or the caller's answer to the menu at `node`. `staffed` False: nobody
    staffs any queue (their callers go to `no_agents`). `at`: the simulated date and time
    (without a zone: each hours node's own local time); None: now."""
    nobody = None if staffed else frozenset()
    if node is None:
        return engine.enter(flow, flow.start, staffed=nobody, at=at)
    return engine.answer(flow, node, attempt=attempt, digits=digits, speech=speech,
                         staffed=nobody, at=at)
