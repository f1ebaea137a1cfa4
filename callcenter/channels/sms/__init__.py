"""SMS through Twilio Messaging: texts in on a signed webhook (`views`), opt-outs kept as
Twilio applies them (`models`, `service`), replies out through the REST API with their
delivery from status callbacks (`flows.sms`)."""
