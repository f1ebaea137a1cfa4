"""A Twilio stand-in for tests and demos: REST API, TwiML engine, signed webhooks.

It talks to the app only over HTTP, as Twilio does, so the app runs unchanged against
real Twilio once the base URL and credentials change.
"""

from .app import Emulator
from .client import AgentPhone, EmulatorClient

__all__ = ["AgentPhone", "Emulator", "EmulatorClient"]
