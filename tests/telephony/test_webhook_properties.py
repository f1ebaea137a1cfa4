"""Property: whatever a signed request to a Twilio route holds, the answer is never a 5xx,
every 200 is well-formed TwiML, no handler fails inside (what the edge lets through, the
handlers handle, rather than fall back on the apology), and every refusal is quick.
Hypothesis draws Twilio-like parameters (a few CallSids reused, so calls move through
their life) mixed with noise."""

from __future__ import annotations

import time
from xml.etree import ElementTree

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from quart.testing import QuartClient
from twilio_requests import post_signed

from callcenter.config import Settings

ROUTES = [
    "/twilio/voice/incoming",
    "/twilio/voice/fallback",
    "/twilio/voice/status",
    "/twilio/voice/ivr?node=main_menu&attempt=1",
    "/twilio/voice/ivr?node=gone&attempt=3",
    "/twilio/voice/queue/wait?node=support",
    "/twilio/voice/queue/result?node=support",
    "/twilio/voice/voicemail?node=voicemail",
    "/twilio/voice/recording/status",
    "/twilio/voice/agent/answer?reservation=1",
    "/twilio/voice/caller/connect?reservation=1",
    "/twilio/voice/agent/status?reservation=1",
]
SIDS = ["CA" + digit * 32 for digit in "0123"]
ACCOUNT = "AC" + "0123456789abcdef" * 2  # the suite's account (tests/conftest.py)

_digits = st.integers(min_value=0, max_value=10**12).map(str)
_noise = st.text(max_size=40) | st.binary(max_size=20).map(lambda raw: raw.decode("latin-1"))
_twilio_values = {
    "CallSid": st.sampled_from(SIDS),
    "AccountSid": st.just(ACCOUNT),
    "From": st.sampled_from(["+14155550100", "anonymous", "sip:alice@example.com", "266696687"]),
    "To": st.just("+15005550006"),
    "CallStatus": st.sampled_from(
        ["queued", "ringing", "in-progress", "completed", "busy", "no-answer", "canceled"]
    ),
    "SequenceNumber": _digits,
    "CallDuration": _digits,
    "Timestamp": st.sampled_from(
        ["Tue, 01 Dec 2026 22:00:00 +0000", "Fri, 31 Dec 9999 23:59:59 -1400"]
    ),
    "Digits": st.sampled_from(["1", "2", "9", "#", "*", "12", "hangup"]),
    "SpeechResult": st.sampled_from(["sales", "Support.", "billing please", ""]),
    "QueueResult": st.sampled_from(["bridged", "hangup", "leave", "redirected", "queue-full"]),
    "QueueTime": _digits,
    "QueuePosition": _digits,
    "QueueSid": st.just("QU" + "a" * 32),
    "RecordingSid": st.just("RE" + "b" * 32),
    "RecordingUrl": st.just("https://api.twilio.com/2010-04-01/Accounts/x/Recordings/RE1"),
    "RecordingStatus": st.sampled_from(["completed", "failed"]),
}


@st.composite
def twilio_params(draw: st.DrawFn) -> dict[str, str]:
    """Mostly Twilio's names with plausible values, some replaced or added as noise."""
    names = draw(st.sets(st.sampled_from(sorted(_twilio_values)), max_size=len(_twilio_values)))
    params = {name: draw(_twilio_values[name]) for name in names}
    params.setdefault("CallSid", draw(_twilio_values["CallSid"]))
    params.setdefault("AccountSid", ACCOUNT)
    for name in draw(st.sets(st.sampled_from(sorted(params)), max_size=3)):
        params[name] = draw(_noise)
    params.update(draw(st.dictionaries(_noise, _noise, max_size=3)))
    return params


@pytest.mark.parametrize("route", ROUTES)
@hypothesis_settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(params=twilio_params())
async def test_signed_random_webhooks_never_fail_the_caller(
    client: QuartClient,
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
    route: str,
    params: dict[str, str],
):
    caplog.clear()
    started = time.perf_counter()
    response = await post_signed(client, settings, route, params)
    elapsed = time.perf_counter() - started
    body = await response.get_data(as_text=True)
    assert response.status_code < 500, body
    if response.status_code == 200:
        assert response.content_type.startswith("application/xml")
        assert ElementTree.fromstring(body).tag == "Response"
    elif response.status_code >= 400:
        # A refusal is prompt: never a handler held up until the deadline cut it short.
        deadline = settings.webhook_deadline_seconds
        assert elapsed < deadline / 2, f"a refusal took {elapsed:.2f} s"
        assert (await response.get_json())["error"]["code"]
    failures = [r.message for r in caplog.records if r.message.endswith(".failed")]
    assert not failures, f"a handler failed inside on {params}"
