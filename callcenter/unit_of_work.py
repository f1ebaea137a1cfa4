"""One unit of work: what a request, webhook, flow step or job writes, and what follows it.

Every session the app makes (`db.create_sessionmaker`) is a unit of work. Services flush;
the boundary that opened the session commits it, in one place. Work that must see the
commit, and must never happen if the transaction rolls back (a REST call to Twilio, a
published event, a queued job), is registered on the session with `after_commit` and
started by the transaction's commit itself (a savepoint's release is not one), each in a
task of its own, so neither Twilio's webhook nor the committing code waits for it. A
rollback of the whole transaction drops it all; a savepoint's rollback drops what was
registered inside it. Hooking SQLAlchemy's own transaction events means no boundary can
forget to run or to drop follow-ups: there is no second list to keep in step.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

log = logging.getLogger("callcenter.unit_of_work")

FOLLOW_UPS = "callcenter.follow_ups"
# Set by whoever builds the sessionmaker: called with the events a commit recorded.
PUBLISH = "callcenter.publish"
EVENTS = "callcenter.events"
MARKS = "callcenter.savepoint_marks"
# Set by whoever builds the sessionmaker: the job queue (`callcenter.jobs.JobQueue`) that
# work written before a commit can queue jobs on.
JOBS = "callcenter.jobs"

FollowUp = Callable[[], Awaitable[Any]]
# Run inside the transaction just before it commits, with the events it recorded: for
# what must commit with the change or not at all (an outbox row for a webhook).
BeforeCommit = Callable[[Session, list[Any]], None]
_before_commit: list[BeforeCommit] = []

# Follow-ups still running: kept referenced (asyncio holds tasks weakly) and awaited at
# shutdown, so a stopping instance finishes what its committed transactions promised.
_running: set[asyncio.Task[Any]] = set()


class UnitOfWork(Session):
    """The sync session under every AsyncSession the app opens; its events do the work."""


def after_commit(session: Any, func: Callable[..., Awaitable[Any]], *args: Any) -> None:
    """Run `func(*args)` once this session's transaction has committed, never if it does not.

    `session` is an AsyncSession or its sync Session: both share `info`.
    """
    pending(session, FOLLOW_UPS).append(partial(func, *args))


def pending(session: Any, key: str) -> list[Any]:
    """What this transaction has collected under `key` so far (events, follow-ups).

    The transaction is begun here if it has not been (beginning does no I/O), so that a
    rollback before any statement still drops what was collected.
    """
    sync: Session = getattr(session, "sync_session", session)
    if not sync.in_transaction():
        sync.begin()
    return session.info.setdefault(key, [])


def _start(follow_up: FollowUp) -> None:
    task = asyncio.get_running_loop().create_task(_run(follow_up))
    _running.add(task)
    task.add_done_callback(_running.discard)


async def _run(follow_up: FollowUp) -> None:
    try:
        await follow_up()
    except Exception:
        log.exception("unit_of_work.follow_up.failed", extra={"follow_up": repr(follow_up)})


@event.listens_for(UnitOfWork, "after_transaction_create")
def _savepoint_began(session: Session, transaction: SessionTransaction) -> None:
    """Mark how much was collected when a savepoint began, so its rollback drops only what
    was collected inside it."""
    if transaction.nested:
        marks = session.info.setdefault(MARKS, {})
        marks[transaction] = {key: len(session.info.get(key, [])) for key in (EVENTS, FOLLOW_UPS)}


def before_commit(handler: BeforeCommit) -> BeforeCommit:
    """Register `handler(sync_session, events)` for every commit that recorded events. It
    may run statements on the session (it runs inside the commit) and register follow-ups."""
    _before_commit.append(handler)
    return handler


@event.listens_for(UnitOfWork, "before_commit")
def _committing(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint: the transaction's own commit comes later
    recorded = session.info.get(EVENTS)
    if recorded:
        for handler in _before_commit:
            handler(session, recorded)


@event.listens_for(UnitOfWork, "after_commit")
def _committed(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint released: the transaction itself may still roll back
    session.info.pop(MARKS, None)
    recorded = session.info.pop(EVENTS, [])
    follow_ups: list[FollowUp] = session.info.pop(FOLLOW_UPS, [])
    publish = session.info.get(PUBLISH)
    if recorded and publish is not None:
        follow_ups.insert(0, partial(publish, recorded))
    for follow_up in follow_ups:
        _start(follow_up)


@event.listens_for(UnitOfWork, "after_soft_rollback")
def _rolled_back(session: Session, previous: SessionTransaction) -> None:
    """The whole transaction rolled back: nothing it promised runs. A savepoint rolled back:
    what was promised inside it is dropped, what came before it stays."""
    if previous.parent is None:
        for key in (EVENTS, FOLLOW_UPS, MARKS):
            session.info.pop(key, None)
        return
    mark = session.info.get(MARKS, {}).pop(previous, None)
    if mark is not None:
        for key, length in mark.items():
            del session.info.get(key, [])[length:]


async def drain(*, within: float) -> None:
    """Wait (up to `within` seconds) for this event loop's follow-ups still running: at
    shutdown. The worker runs a loop per job in threads of its own; each waits for its own."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    # Follow-ups start follow-ups (a dispatch's commit queues a timer): until none is left.
    while (mine := {task for task in list(_running) if task.get_loop() is loop}):
        left = deadline - loop.time()
        if left <= 0:
            return
        await asyncio.wait(mine, timeout=left)
