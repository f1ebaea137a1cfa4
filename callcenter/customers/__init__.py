"""Customers and the identities (phone, email, chat id) that recognise them."""
