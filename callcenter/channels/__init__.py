"""The ways customers write in besides the phone: one package per channel (email; chat and
SMS to come), each landing its contacts on the ticket timeline through the one seam,
`callcenter.flows.contacts`."""
