"""Every domain's models, imported together so the metadata (and Alembic) sees all tables."""

from callcenter.accounts.models import ApiToken, LoginSession, User
from callcenter.audit.models import AuditEntry
from callcenter.blocklist.models import BlocklistEntry
from callcenter.channels.chat.models import ChatConversation, ChatVisitor
from callcenter.channels.email.models import Mail, MailAttachment
from callcenter.channels.sms.models import SmsOptOut
from callcenter.customers.models import Customer, Identity
from callcenter.db import Base
from callcenter.ivr.models import IvrFlow, IvrFlowVersion, IvrNumberRoute
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
from callcenter.tickets.models import (
    DeskSettings,
    Macro,
    SlaPolicy,
    Ticket,
    TicketEvent,
    TicketGroup,
    TicketTimer,
    TimeEntry,
    Trigger,
)
from callcenter.webhooks.models import Webhook, WebhookDelivery

__all__ = [
    "Agent",
    "AgentStateLog",
    "ApiToken",
    "AuditEntry",
    "Base",
    "BlocklistEntry",
    "Call",
    "CallEvent",
    "ChatConversation",
    "ChatVisitor",
    "Customer",
    "DeskSettings",
    "Identity",
    "IvrFlow",
    "IvrFlowVersion",
    "IvrNumberRoute",
    "LoginSession",
    "Macro",
    "Mail",
    "MailAttachment",
    "QueueMember",
    "Reservation",
    "SlaPolicy",
    "SmsOptOut",
    "Task",
    "TaskQueue",
    "Ticket",
    "TicketEvent",
    "TicketGroup",
    "TicketTimer",
    "TimeEntry",
    "Trigger",
    "User",
    "Webhook",
    "WebhookDelivery",
    "Workflow",
]
