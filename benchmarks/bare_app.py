"""The baseline: a bare Quart app whose webhook handler returns fixed TwiML.

Served by `benchmarks.serve` with the same Hypercorn configuration as the real app, so the
difference between the two is what callcenter does per request (signature, database, IVR).
"""

from quart import Quart, Response

TWIML = (
    '<?xml version="1.0" encoding="UTF-8"?><Response><Gather action="/twilio/voice/ivr?'
    'node=main&amp;attempt=1" input="dtmf speech" numDigits="1" timeout="5"><Say>Thanks for '
    "calling. Press 1 for sales, 2 for support.</Say></Gather></Response>"
)

app = Quart(__name__)


@app.post("/twilio/voice/incoming")
async def incoming() -> Response:
    return Response(TWIML, content_type="application/xml")
