"""The ASGI entry point for Hypercorn's worker processes: settings from the environment.

This is the one place settings are read at import, because a process server imports the
application by path; everything else goes through `create_app(settings)`.
"""

from callcenter import logs
from callcenter.app import create_app
from callcenter.config import load_settings

_settings = load_settings()
logs.configure(level=_settings.log_level, fmt=_settings.log_format)
app = create_app(_settings)
