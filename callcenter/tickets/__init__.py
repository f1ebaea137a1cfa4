"""Tickets and their timelines: every call, email, chat and text lands on one."""
