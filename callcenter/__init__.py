"""callcenter: an open-source contact centre built on Twilio's voice platform."""

__version__ = "0.1.0"
