"""Queues, agents, their activity and the reservations that offer calls to them."""
