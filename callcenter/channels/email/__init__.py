"""Email: the SMTP listener that takes mail in (`listener`), what a message says
(`parsing`), the store of every message in and out, raw, with its attachments (`models`,
`service`), and the replies agents send (`sending`, `flows.email`)."""
