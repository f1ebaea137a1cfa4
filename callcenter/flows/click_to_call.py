"""Click-to-call: an agent calls a ticket's requester from the ticket.

It is a callback with one agent and one attempt: a task reserved for the agent at once,
their softphone rung first; when they answer, `callbacks.accepted` dials the customer
through Twilio's REST API into the agent's conference, and the call lands on the ticket it
was made from (`Task.ticket_id`), not merely the customer's open one.
"""

from __future__ import annotations

import logging

from callcenter.customers import service as customers
from callcenter.db import transaction
from callcenter.flows import Telephony, offers, work
from callcenter.routing import agents, queues, tasks
from callcenter.routing.models import TaskChannel
from callcenter.tickets import service as tickets

log = logging.getLogger("callcenter.flows")


async def call_requester(tel: Telephony, *, agent_id: int, ticket_id: int) -> str:
    """Ring the agent, then the ticket's requester; the number being called."""
    async with transaction(tel.sessionmaker) as session:
        ticket = await tickets.get_ticket(session, ticket_id=ticket_id)
        if ticket is None:
            raise work.WorkError(404, "not_found", "There is no such ticket.")
        numbers = await customers.phone_numbers(session, customer_id=ticket.requester_id)
        if not numbers:
            raise work.WorkError(409, "no_number", "The requester has no phone number.")
        if not tel.caller_id:
            raise work.WorkError(409, "no_caller_id", "No number of ours to call from is set.")
        agent = await agents.get_agent(session, agent_id=agent_id)
        assert agent is not None
        home = await queues.queues_of(session, agent_id=agent.id)
        queue = await queues.queue_named(session, name=home[0]) if home else None
        if queue is None:
            raise work.WorkError(409, "no_queue", "You are in no queue to call for.")
        task = await tasks.create_task(
            session, channel=TaskChannel.callback, queue=queue, attributes={
                "number": numbers[0], "caller_id": tel.caller_id,
                "customer_id": ticket.requester_id, "click_to_call": True,
            },
        )
        task.ticket_id = ticket.id
        if not await agents.claim(session, agent_id=agent.id, task_id=task.id):
            raise work.WorkError(
                409, "not_free", "Go Available and finish your current call first."
            )
        offer = await tasks.create_reservation(session, task=task, agent_id=agent.id)
        ring = offers.Ring(offer.id, agent.client_identity, numbers[0])
        log.info("routing.click_to_call", extra={"ticket_id": ticket.id, "task_id": task.id})
    await offers.ring(tel, ring)
    return ring.caller_id
