"""Turning what the engine decided (`ivr.engine`) into the TwiML a caller hears.

Consecutive `say` nodes are spoken in one document; a `menu` becomes a Gather whose
action comes back to us with the node and attempt (and the flow version) in the URL, so a
call's place in the flow survives a restart and works on any instance.
"""

from __future__ import annotations

from twilio.twiml.voice_response import Gather, VoiceResponse

from callcenter.ivr import engine
from callcenter.ivr.flow import Flow, QueueNode
from callcenter.telephony.urls import VoiceUrls


def say(response: VoiceResponse | Gather, flow: Flow, text: str) -> None:
    attrs = {"language": flow.language}
    if flow.voice:
        attrs["voice"] = flow.voice
    response.say(text, **attrs)


def render(
    flow: Flow,
    node_id: str,
    urls: VoiceUrls,
    *,
    attempt: int = 1,
    response: VoiceResponse | None = None,
    staffed: frozenset[str] | None = None,
) -> VoiceResponse:
    """The TwiML for reaching `node_id` (`engine.enter`: `say` nodes followed into what
    comes after them; a queue nobody in `staffed` staffs skipped for its `no_agents`)."""
    return twiml(flow, engine.enter(flow, node_id, attempt=attempt, staffed=staffed), urls,
                 response=response)


def twiml(
    flow: Flow, outcome: engine.Outcome, urls: VoiceUrls, *,
    response: VoiceResponse | None = None,
) -> VoiceResponse:
    """An outcome as TwiML: its prompts as `Say`s, then a `Gather` whose action comes back
    with the node and attempt, an `Enqueue`, a `Record`, or a `Hangup`."""
    response = response or VoiceResponse()
    for text in outcome.says:
        say(response, flow, text)
    then = outcome.then
    if isinstance(then, engine.Ask):
        gather = Gather(
            input="dtmf speech" if then.speech else "dtmf",
            num_digits=then.num_digits,
            # "#" ends input by default; a menu that offers "#" as a choice must not.
            finish_on_key="" if then.uses_hash else None,
            timeout=then.timeout,
            action=urls.ivr(then.node, then.attempt),
            method="POST",
            action_on_empty_result=True,
            language=flow.language,
            hints=then.hints,
        )
        say(gather, flow, then.prompt)
        response.append(gather)
    elif isinstance(then, engine.Wait):
        response.enqueue(
            then.queue,
            wait_url=urls.queue_wait(then.node),
            wait_url_method="POST",
            action=urls.queue_result(then.node),
            method="POST",
        )
    elif isinstance(then, engine.Record):
        say(response, flow, then.prompt)
        response.record(
            action=urls.voicemail(then.node),
            method="POST",
            max_length=then.max_length,
            finish_on_key="#",
            play_beep=True,
            recording_status_callback=urls.recording_status(),
        )
        # Reached only when nothing was recorded: Twilio skips the action for silence.
        say(response, flow, engine.NOTHING_RECORDED)
        response.hangup()
    else:
        if then.text:
            say(response, flow, then.text)
        response.hangup()
    return response


# The length of the shipped hold music (`web/static/audio/hold-music.mp3`), in seconds.
HOLD_MUSIC_SECONDS = 15


def wait_message(
    flow: Flow,
    node_id: str,
    urls: VoiceUrls,
    *,
    position: int,
    first: bool,
    estimate: int | None = None,
    callback: bool = True,
) -> VoiceResponse:
    """What a waiting caller hears each round of the wait loop: their place in line, the
    estimated wait (in whole minutes: a caller plans around minutes), the keys they may
    press, then hold music (or silence) until the next round.

    All of it sits in a Gather, so a key pressed at any moment is heard; with no key the
    round ends and Twilio fetches the wait URL again for the next announcement. `callback`
    False leaves the callback key out (the caller's number cannot be called back)."""
    node = flow.node(node_id)
    assert isinstance(node, QueueNode)
    response = VoiceResponse()
    keys = [
        (key, text)
        for key, text in (
            (node.voicemail_key, "to leave a message instead"),
            (node.callback_key if callback else None,
             "to be called back without losing your place in line"),
        )
        if key
    ]
    target: VoiceResponse | Gather = response
    if keys:
        target = Gather(
            input="dtmf", num_digits=1, timeout=1, action=urls.queue_key(node_id),
            method="POST",
        )
        response.append(target)
    if first:
        say(target, flow, "Our agents are helping other customers. Please stay on the line.")
    if position > 0:
        ordinal = "next" if position == 1 else f"number {position}"
        say(target, flow, f"You are {ordinal} in line.")
    if estimate is not None and position > 0:
        say(target, flow, f"Your estimated wait is {_minutes(estimate)}.")
    if keys:
        say(target, flow, " ".join(f"Press {_spoken(key)} {text}." for key, text in keys))
    if node.music == "default":
        target.play(urls.hold_music(), loop=max(1, round(node.announce_every / HOLD_MUSIC_SECONDS)))
    else:
        target.pause(length=node.announce_every)
    return response


def _spoken(key: str) -> str:
    return {"*": "star", "#": "the hash key"}.get(key, key)


def _minutes(seconds: int) -> str:
    if seconds < 60:
        return "less than a minute"
    minutes = round(seconds / 60)
    return "about one minute" if minutes == 1 else f"about {minutes} minutes"
