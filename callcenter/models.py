"""Every domain's models, imported together so the metadata (and Alembic) sees all tables."""

from callcenter.accounts.models import ApiToken, LoginSession, User
from callcenter.audit.models import AuditEntry
from callcenter.blocklist.models import BlocklistEntry
from callcenter.customers.models import Customer, Identity
from callcenter.db import Base
from callcenter.routing.models import (
    Agent,
    AgentStateLog,
    QueueMember,
    Reservation,
    Task,
    TaskQueue,
    Workflow,
)
from callcenter.telephony.models import Call, CallEvent
from callcenter.tickets.models import Ticket, TicketEvent

__all__ = [
    "Agent",
    "AgentStateLog",
    "ApiToken",
    "AuditEntry",
    "Base",
    "BlocklistEntry",
    "Call",
    "CallEvent",
    "Customer",
    "Identity",
    "LoginSession",
    "QueueMember",
    "Reservation",
    "Task",
    "TaskQueue",
    "Ticket",
    "TicketEvent",
    "User",
    "Workflow",
]
