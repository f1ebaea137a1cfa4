"""Web chat: the widget customers' sites embed, its visitors and their conversations."""
