"""Turning a flow's nodes into the TwiML a caller hears.

Consecutive `say` nodes are spoken in one document; a `menu` becomes a Gather whose
action comes back to us with the node and attempt in the URL, so a call's place in the
flow survives a restart and works on any instance.
"""

from __future__ import annotations

import re

from twilio.twiml.voice_response import Gather, VoiceResponse

from callcenter.ivr.flow import (
    Flow,
    HangupNode,
    MenuNode,
    MenuOption,
    QueueNode,
    SayNode,
    VoicemailNode,
)
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
    """The TwiML for reaching `node_id`, following `say` nodes into what comes after them.

    `staffed` names the queues somebody staffs now (None: all of them): a queue node whose
    queue nobody staffs goes straight to its `no_agents` node instead of leaving the caller
    to wait for no one.
    """
    response = response or VoiceResponse()
    node = flow.node(node_id)
    while isinstance(node, SayNode):
        say(response, flow, node.text)
        node_id, node = node.next, flow.node(node.next)
    if isinstance(node, MenuNode):
        uses_hash = any("#" in option.digits for option in node.options)
        gather = Gather(
            input="dtmf speech" if node.speech else "dtmf",
            num_digits=max(len(option.digits) for option in node.options),
            # "#" ends input by default; a menu that offers "#" as a choice must not.
            finish_on_key="" if uses_hash else None,
            timeout=node.timeout,
            action=urls.ivr(node_id, attempt),
            method="POST",
            action_on_empty_result=True,
            language=flow.language,
            hints=", ".join(word for option in node.options for word in option.words) or None,
        )
        say(gather, flow, node.prompt)
        response.append(gather)
    elif isinstance(node, QueueNode):
        if staffed is not None and node.queue not in staffed:
            return render(flow, node.no_agents, urls, response=response)
        response.enqueue(
            node.queue,
            wait_url=urls.queue_wait(node_id),
            wait_url_method="POST",
            action=urls.queue_result(node_id),
            method="POST",
        )
    elif isinstance(node, VoicemailNode):
        say(response, flow, node.prompt)
        response.record(
            action=urls.voicemail(node_id),
            method="POST",
            max_length=node.max_length,
            finish_on_key="#",
            play_beep=True,
            recording_status_callback=urls.recording_status(),
        )
        # Reached only when nothing was recorded: Twilio skips the action for silence.
        say(response, flow, "We did not receive a message. Goodbye.")
        response.hangup()
    elif isinstance(node, HangupNode):
        if node.text:
            say(response, flow, node.text)
        response.hangup()
    return response


def choose(node: MenuNode, *, digits: str, speech: str) -> MenuOption | None:
    """The option a caller picked by key, or by saying one of its words or phrases.

    Twilio's speech results are capitalised and punctuated ("Billing, please."), so both
    sides are compared as lists of words: "my shop is down" matches the word "down" and
    the phrase "shop is down".
    """
    if digits:
        return next((option for option in node.options if option.digits == digits), None)
    spoken = _words(speech)
    for option in node.options:
        for phrase in option.words:
            wanted = _words(phrase)
            if wanted and any(spoken[i : i + len(wanted)] == wanted for i in range(len(spoken))):
                return option
    return None


def _words(text: str) -> list[str]:
    return re.findall(r"[\w']+", text.lower())


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
