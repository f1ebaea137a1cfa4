"""Twilio voice: webhooks, their signatures, calls and their status callbacks."""
