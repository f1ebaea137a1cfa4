"""IVR flows: the menus callers hear, as data admins edit, validated and rendered to TwiML."""
