"""The agent's softphone in a real browser (Debian's chromium through Playwright), taking
calls that come through the Twilio emulator: the page registers the emulator's browser
phone with an Access Token the app minted, as it registers Twilio's Voice SDK in
production, and everything the agent does is checked where it lands (the emulator's
conference, the ticket, routing).

The emulator runs on the wall clock here: a person is answering.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from builders import DEFAULT_PASSWORD, make_user
from playwright.async_api import Browser, Locator, Page, expect
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from web import test_browser

from callcenter.accounts.models import Role
from callcenter.customers import service as customers
from callcenter.routing import agents as routing
from callcenter.routing import dispositions
from callcenter.routing import queues as routing_queues
from callcenter.routing.models import Activity, Agent, Reservation, ReservationStatus
from callcenter.telephony.models import Call
from callcenter.tickets.models import (
    Channel,
    Ticket,
    TicketEvent,
    TicketEventKind,
    TicketStatus,
)
from twilio_emulator import Emulator
from twilio_emulator.conferences import Participant

from .conftest import Centre

browser = test_browser.browser
page = test_browser.page

pytestmark = pytest.mark.backends("sqlite")  # the page adds nothing per backend
SHOTS = Path("/tmp/shots")
EMULATOR_CLOCK = "wall"  # read by the e2e conftest's emulator
CALLER = "+14155550123"
# A caller who says what is wrong once the agent is with them, then stays on the line.
CALLER_SCRIPT = [
    {"press": "2"}, {"until": "conference"}, {"wait": 1}, {"say": "my order has not arrived"},
    {"wait": 300},
]


@pytest.fixture(autouse=True)
def shots() -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)


async def _history(db: AsyncSession) -> Ticket:
    """A returning customer: six old tickets on several channels and one open ticket."""
    customer = await customers.find_or_create_by_phone(db, phone=CALLER)
    customer.name = "Dana Shopkeeper"
    now = dt.datetime.now(dt.UTC)
    channels = [Channel.email, Channel.phone, Channel.chat, Channel.sms, Channel.email,
                Channel.phone]
    for age, channel in enumerate(channels, start=2):
        db.add(Ticket(
            subject=f"Earlier ticket {8 - age}", status=TicketStatus.solved, channel=channel,
            requester_id=customer.id, updated_at=now - dt.timedelta(days=age),
            created_at=now - dt.timedelta(days=age),
        ))
    open_ticket = Ticket(
        subject="Where is my order?", status=TicketStatus.open, channel=Channel.email,
        requester_id=customer.id, updated_at=now - dt.timedelta(hours=1),
    )
    db.add(open_ticket)
    await dispositions.add(db, name="Resolved")
    await dispositions.add(db, name="Refund issued")
    await db.commit()
    return open_ticket


async def _sign_in_agent(page: Page, centre: Centre, *, name: str = "Ada Lovelace") -> Agent:
    """An agent on their softphone page, available; the support queue gives a minute of
    wrap-up after each call."""
    support = await routing_queues.queue_named(centre.db, name="support")
    assert support is not None
    await routing_queues.update_queue(centre.db, queue=support, wrapup_seconds=60)
    user = await make_user(centre.db, name=name)
    agent = await routing.agent_for_user(centre.db, user=user)
    await centre.db.commit()
    await centre.db.refresh(agent)
    await page.goto(centre.app_url + "/login?next=/agent")
    await test_browser.sign_in(page, user.email, DEFAULT_PASSWORD)
    await expect(page.get_by_role("heading", name="Softphone", level=1)).to_be_visible()
    await expect(page.get_by_role("status").first).to_contain_text("Phone ready")
    form = page.get_by_role("form", name="Your activity")
    await form.get_by_label("Activity").select_option("Available")
    await form.get_by_role("button", name="Set activity").click()
    await expect(page.get_by_role("status").first).to_contain_text("Available")
    return agent


async def _until(check: Callable[[], bool], failure: str, *, within: float = 5) -> None:
    for _ in range(int(within / 0.05)):
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(failure)


def _participant(emulator: Emulator, call_sid: str, room_of: str) -> Participant:
    """A call's place in the conference named after the caller's call (`room_of`)."""
    conference = emulator.engine.conferences.active(f"call-{room_of}")
    assert conference is not None, "the call's conference is not in progress"
    return conference.participants[call_sid]


async def test_an_agent_takes_a_call_from_ringing_to_wrap_up(
    page: Page, centre: Centre, emulator: Emulator
) -> None:
    open_ticket = await _history(centre.db)
    agent = await _sign_in_agent(page, centre)

    caller_sid = await centre.dial(CALLER_SCRIPT, from_=CALLER)
    work = page.get_by_role("region", name="Incoming call")
    await expect(work).to_be_visible(timeout=20_000)
    await expect(work).to_contain_text(CALLER)
    await expect(work).to_contain_text("Dana Shopkeeper")
    await expect(work.get_by_role("link", name=re.compile("Where is my order"))).to_have_attribute(
        "href", f"/tickets/{open_ticket.id}"
    )
    last_five = work.get_by_role("table")
    await expect(last_five.get_by_role("row")).to_have_count(6)  # a header and five tickets
    for number in (2, 3, 4, 5, 6):
        await expect(last_five).to_contain_text(f"Earlier ticket {number}")
    await expect(last_five).not_to_contain_text("Earlier ticket 1")
    await expect(last_five).to_contain_text("chat")
    await expect(work).to_contain_text(re.compile(r"Rings for \d+ s more"))
    assert await page.evaluate("window.softphone.ringing") is True
    await page.screenshot(path=str(SHOTS / "softphone-ringing.png"), full_page=True)

    await page.keyboard.press("Alt+A")  # the shortcut for Accept
    talking = page.get_by_role("region", name="On a call")
    await expect(talking).to_be_visible(timeout=10_000)
    await expect(talking).to_contain_text(re.compile(r"Talking \d+:\d\d"))
    assert await page.evaluate("window.softphone.ringing") is False
    await centre.db.commit()
    reservation = await centre.db.scalar(
        select(Reservation).where(Reservation.agent_id == agent.id)
    )
    assert reservation is not None and reservation.agent_call_sid is not None
    leg = reservation.agent_call_sid

    # The agent hears the caller: their speech reaches the page as audio it plays.
    heard = await page.wait_for_function(
        "() => (window.phoneHeard || []).find((h) => h.text.includes('order'))", timeout=20_000
    )
    assert (await heard.json_value())["bytes"] > 1000

    await talking.get_by_role("button", name="Mute").click()
    await expect(talking.get_by_role("button", name="Unmute")).to_have_attribute(
        "aria-pressed", "true"
    )
    assert _participant(emulator, leg, caller_sid).muted is True
    await talking.get_by_role("button", name="Unmute").click()
    await expect(talking.get_by_role("button", name="Mute")).to_be_visible()
    assert _participant(emulator, leg, caller_sid).muted is False

    await talking.get_by_role("button", name="Hold").click()
    held = page.get_by_role("region", name="On hold")
    await expect(held).to_contain_text(re.compile(r"On hold \d+:\d\d"))
    assert _participant(emulator, caller_sid, caller_sid).hold is True
    await page.wait_for_timeout(300)
    caller = emulator.engine.calls[caller_sid]
    assert any(heard.get("verb") == "Play" for heard in caller.heard), "no hold music"
    await held.get_by_role("button", name="Resume").click()
    await expect(page.get_by_role("region", name="On a call")).to_be_visible()
    assert _participant(emulator, caller_sid, caller_sid).hold is False

    await talking.get_by_role("group", name="Keypad").get_by_role(
        "button", name="Keypad 5"
    ).click()
    await _until(lambda: any(
        step["event"] == "press" and step.get("digits") == "5"
        for step in emulator.engine.calls[leg].trace
    ), "the keypad's 5 never reached the call")
    await page.screenshot(path=str(SHOTS / "softphone-on-call.png"), full_page=True)

    await page.keyboard.press("Alt+H")  # the shortcut for Hang up
    wrap = page.get_by_role("region", name="Wrap-up")
    await expect(wrap).to_be_visible(timeout=10_000)
    form = wrap.get_by_role("form", name="Wrap-up")
    await form.get_by_label("Notes").fill("Parcel lost in transit; reshipped today.")
    await form.get_by_label("Disposition").select_option("Resolved")
    await form.get_by_label("Ticket status").select_option("Solved")
    await form.get_by_role("button", name="Save").click()
    await expect(form.get_by_role("status")).to_contain_text(
        f"Saved to ticket #{open_ticket.id} (solved)", timeout=10_000
    )
    await page.screenshot(path=str(SHOTS / "softphone-wrap-up.png"), full_page=True)

    # The ticket shows them: the call, the notes with the disposition, the status change.
    ticket_page = await page.context.new_page()
    await ticket_page.goto(f"{centre.app_url}/tickets/{open_ticket.id}")
    timeline = ticket_page.get_by_role("list", name="Timeline")
    await expect(timeline).to_contain_text("Parcel lost in transit; reshipped today.")
    await expect(timeline).to_contain_text("Disposition: Resolved")
    await expect(timeline).to_contain_text("Status changed from open to solved.")
    await expect(timeline).to_contain_text("Call")
    await ticket_page.close()
    call = await centre.db.scalar(
        select(Call).where(Call.sid == caller_sid).execution_options(populate_existing=True)
    )
    assert call is not None and call.disposition == "Resolved"

    await page.get_by_role("button", name="End wrap-up").click()
    await expect(page.get_by_role("status").first).to_contain_text("Available")
    await expect(page.get_by_role("region", name="Wrap-up")).to_be_hidden()
    stored = await centre.agent(agent.id)
    assert stored.activity == Activity.available and stored.routing_state.value == "idle"


async def test_a_rejected_call_goes_to_the_next_agent(
    page: Page, centre: Centre
) -> None:
    agent_id = (await _sign_in_agent(page, centre)).id
    # The person has been free longest, so the call rings them first; a bot is next.
    await centre.db.execute(
        update(Agent).where(Agent.id == agent_id).values(
            idle_since=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
        )
    )
    await centre.db.commit()
    bot_id = (await centre.add_agent(mode="accept", answer_delay=0.5, talk_seconds=1.0)).id
    caller_sid = await centre.dial([{"press": "2"}, {"wait": 30}], from_=CALLER)
    work = page.get_by_role("region", name="Incoming call")
    await expect(work).to_be_visible(timeout=20_000)
    await work.get_by_role("button", name="Reject").click()
    await expect(work).to_be_hidden(timeout=10_000)
    call = await centre.settled(caller_sid, within=40)
    task, _queue = await centre.task(call)
    offers = await centre.reservations(task.id)
    assert [(r.agent_id, r.status) for r in offers] == [
        (agent_id, ReservationStatus.rejected), (bot_id, ReservationStatus.completed),
    ]


async def test_a_reloaded_page_is_still_on_its_call_and_can_hang_up(
    page: Page, centre: Centre
) -> None:
    agent_id = (await _sign_in_agent(page, centre)).id
    caller_sid = await centre.dial([{"press": "2"}, {"wait": 300}], from_=CALLER)
    await expect(page.get_by_role("region", name="Incoming call")).to_be_visible(timeout=20_000)
    await page.get_by_role("button", name="Accept").click()
    await expect(page.get_by_role("region", name="On a call")).to_be_visible(timeout=10_000)

    await page.reload()
    talking = page.get_by_role("region", name="On a call")
    await expect(talking).to_be_visible()
    await expect(talking).to_contain_text(CALLER)
    await expect(page.get_by_role("status").first).to_contain_text("Phone ready")
    await talking.get_by_role("button", name="Hang up").click()
    await expect(page.get_by_role("region", name="Wrap-up")).to_be_visible(timeout=10_000)
    call = await centre.settled(caller_sid, within=20)
    assert call.talk_seconds is not None
    stored = await centre.agent(agent_id)
    assert stored.routing_state.value == "wrap-up"
    events = await centre.db.scalars(select(TicketEvent).where(TicketEvent.call_id == call.id))
    assert [event.kind for event in events] == [TicketEventKind.call]


async def _take_a_call(page: Page, centre: Centre) -> str:
    """A caller rings the signed-in agent, who accepts; the caller's CallSid."""
    caller_sid = await centre.dial([{"press": "2"}, {"wait": 300}], from_=CALLER)
    await expect(page.get_by_role("region", name="Incoming call")).to_be_visible(timeout=20_000)
    await page.get_by_role("button", name="Accept").click()
    await expect(page.get_by_role("region", name="On a call")).to_be_visible(timeout=10_000)
    return caller_sid


async def _with_new_agent(emulator: Emulator, caller_sid: str, bot_identity: str) -> None:
    """The caller is off hold in their conference, talking to the bot's leg, and nobody
    else is there."""
    def settled() -> bool:
        conference = emulator.engine.conferences.active(f"call-{caller_sid}")
        if conference is None or caller_sid not in conference.participants:
            return False
        others = [p.call.to for sid, p in conference.participants.items() if sid != caller_sid]
        return others == [f"client:{bot_identity}"] and not conference.participants[
            caller_sid
        ].hold

    await _until(settled, "the caller never ended up talking to the new agent alone", within=10)


async def test_a_cold_transfer_to_a_queue_ends_with_the_caller_talking_to_its_agent(
    page: Page, centre: Centre, emulator: Emulator
) -> None:
    await _sign_in_agent(page, centre)
    caller_sid = await _take_a_call(page, centre)
    bot = await centre.add_agent(mode="accept", answer_delay=0.5, talk_seconds=60)
    talking = page.get_by_role("region", name="On a call")
    transfer = talking.get_by_role("form", name="Transfer")
    await transfer.get_by_label("Transfer to").select_option(label="Queue billing")
    await transfer.get_by_role("button", name="Transfer").click()
    # The first agent is out of the call at once, into wrap-up.
    await expect(page.get_by_role("region", name="Wrap-up")).to_be_visible(timeout=10_000)
    await _with_new_agent(emulator, caller_sid, bot.client_identity)
    caller = emulator.engine.calls[caller_sid]
    assert not caller.done
    assert any(heard.get("verb") == "Play" for heard in caller.heard), "no hold music"
    await centre.db.commit()
    reservations = list(await centre.db.scalars(
        select(Reservation).order_by(Reservation.id).execution_options(populate_existing=True)
    ))
    assert [r.status for r in reservations] == [
        ReservationStatus.completed, ReservationStatus.accepted
    ]
    assert reservations[1].agent_id == bot.id


async def _consulting(page: Page, centre: Centre) -> tuple[str, Agent, Locator]:
    """The agent on a call starts a warm transfer to the one free colleague (a bot), who
    answers: the caller's CallSid, the colleague, and the agent's call region (on hold)."""
    await _sign_in_agent(page, centre)
    caller_sid = await _take_a_call(page, centre)
    bot = await centre.add_agent(mode="accept", answer_delay=1.0, talk_seconds=60)
    await centre.db.refresh(bot)
    transfer = page.get_by_role("region", name="On a call").get_by_role("form", name="Transfer")
    target = transfer.get_by_label("Transfer to")
    await target.focus()  # reads the colleagues again: the new one is there, free
    options = target.locator('optgroup[label="Colleagues"] option:not([disabled])')
    await expect(options).to_have_count(1)
    assert await options.first.get_attribute("value") == f"agent:{bot.id}"
    await target.select_option(f"agent:{bot.id}")
    await transfer.get_by_label("Consult first (warm)").check()
    await transfer.get_by_role("button", name="Transfer").click()
    held = page.get_by_role("region", name="On hold")
    await expect(held).to_contain_text("the caller is on hold", timeout=10_000)
    return caller_sid, bot, held


async def test_a_warm_transfer_consults_the_colleague_then_hands_the_caller_over(
    page: Page, centre: Centre, emulator: Emulator
) -> None:
    caller_sid, bot, held = await _consulting(page, centre)
    await expect(held).to_contain_text("Consulting")
    conference = emulator.engine.conferences.active(f"call-{caller_sid}")
    assert conference is not None and conference.participants[caller_sid].hold is True
    assert len(conference.participants) == 3  # the caller, the agent and the colleague
    await page.screenshot(path=str(SHOTS / "softphone-consulting.png"), full_page=True)

    await held.get_by_role("button", name="Complete transfer").click()
    await expect(page.get_by_role("region", name="Wrap-up")).to_be_visible(timeout=10_000)
    await _with_new_agent(emulator, caller_sid, bot.client_identity)


def _labelled(emulator: Emulator, caller_sid: str, label: str) -> Participant:
    conference = emulator.engine.conferences.active(f"call-{caller_sid}")
    assert conference is not None, "the call's conference is not in progress"
    return next(p for p in conference.participants.values() if p.label == label)


async def test_a_supervisor_listens_then_whispers_on_a_live_call(
    page: Page, browser: Browser, centre: Centre, emulator: Emulator
) -> None:
    """Listen hears both sides unheard; whisper is heard by the agent only."""
    agent = await _sign_in_agent(page, centre, name="Grace Hopper")
    caller_sid = await centre.dial([
        {"press": "2"}, {"until": "conference"}, {"wait": 4},
        {"say": "hello is anyone there"}, {"wait": 300},
    ], from_=CALLER)
    await expect(page.get_by_role("region", name="Incoming call")).to_be_visible(timeout=20_000)
    await page.get_by_role("button", name="Accept").click()
    await expect(page.get_by_role("region", name="On a call")).to_be_visible(timeout=10_000)

    supervisor = await make_user(centre.db, role=Role.supervisor, name="Sam Lead")
    await centre.db.commit()
    context = await browser.new_context()
    board = await context.new_page()
    try:
        await board.goto(centre.app_url + "/login?next=/board")
        await test_browser.sign_in(board, supervisor.email, DEFAULT_PASSWORD)
        row = board.get_by_role("table", name="Agents").get_by_role(
            "row", name=re.compile("Grace Hopper")
        )
        await row.get_by_role("button", name="Listen: Grace Hopper").click(timeout=15_000)
        monitoring = board.get_by_role("region", name="Monitoring")
        await expect(monitoring).to_contain_text("Listening to Grace Hopper", timeout=10_000)
        listener = _labelled(emulator, caller_sid, "supervisor-listen")
        assert listener.muted is True and listener.coaching is False
        # The supervisor hears the caller.
        await board.wait_for_function(
            "() => (window.phoneHeard || []).some((h) => h.text.includes('anyone'))",
            timeout=20_000,
        )
        await board.screenshot(path=str(SHOTS / "board-listening.png"), full_page=True)

        await monitoring.get_by_role("button", name="Stop").click()
        await expect(monitoring).to_be_hidden()
        await row.get_by_role("button", name="Whisper: Grace Hopper").click()
        await expect(monitoring).to_contain_text("Whispering to Grace Hopper", timeout=10_000)
        whisperer = _labelled(emulator, caller_sid, "supervisor-whisper")
        await centre.db.commit()
        leg = await centre.db.scalar(
            select(Reservation.agent_call_sid).where(Reservation.agent_id == agent.id)
        )
        assert whisperer.coaching is True and whisperer.call_sid_to_coach == leg
        # What the supervisor says reaches the agent's page; the agent page heard it.
        await emulator.engine.speak(whisperer.call, "ask for the order number")
        await page.wait_for_function(
            "() => (window.phoneHeard || []).some((h) => h.text.includes('order number'))",
            timeout=10_000,
        )
        assert not [
            h for h in await board.evaluate("window.phoneHeard") if "order number" in h["text"]
        ]
    finally:
        await context.close()


@pytest.mark.settings(twilio_phone_number="+15005550006")
async def test_click_to_call_from_a_ticket_rings_the_agent_then_lands_on_that_ticket(
    page: Page, centre: Centre
) -> None:
    await _history(centre.db)
    older = await centre.db.scalar(select(Ticket).where(Ticket.subject == "Earlier ticket 3"))
    assert older is not None
    older_id = older.id
    await centre.control.set_callee(CALLER, script=[
        {"wait": 1}, {"answer": "answer"}, {"say": "hello this is Dana"}, {"wait": 300},
    ])
    await _sign_in_agent(page, centre)
    ticket_page = await page.context.new_page()
    await ticket_page.goto(f"{centre.app_url}/tickets/{older_id}")
    await ticket_page.get_by_role("button", name=f"Call {CALLER}").click()
    await expect(ticket_page.get_by_role("status")).to_contain_text(
        f"Your phone rings first, then {CALLER}."
    )
    ringing = page.get_by_role("region", name="Incoming call")
    await expect(ringing).to_be_visible(timeout=10_000)
    await expect(ringing).to_contain_text(CALLER)
    await ringing.get_by_role("button", name="Accept").click()
    await expect(page.get_by_role("region", name="On a call")).to_be_visible(timeout=10_000)
    await page.wait_for_function(
        "() => (window.phoneHeard || []).some((h) => h.text.includes('Dana'))", timeout=20_000
    )
    await page.get_by_role("button", name="Hang up").click()
    await expect(page.get_by_role("region", name="On a call")).to_be_hidden(timeout=10_000)

    await ticket_page.reload()
    timeline = ticket_page.get_by_role("list", name="Timeline")
    await expect(timeline).to_contain_text(f"Outbound call to {CALLER}", timeout=10_000)


async def test_a_canceled_consultation_gives_the_caller_back_off_hold(
    page: Page, centre: Centre, emulator: Emulator
) -> None:
    caller_sid, _bot, held = await _consulting(page, centre)
    await held.get_by_role("button", name="Cancel transfer").click()
    talking = page.get_by_role("region", name="On a call")
    await expect(talking).to_be_visible(timeout=10_000)
    await expect(talking.get_by_role("form", name="Transfer")).to_be_visible()

    def back_with_the_agent() -> bool:
        conference = emulator.engine.conferences.active(f"call-{caller_sid}")
        return (
            conference is not None and len(conference.participants) == 2
            and not conference.participants[caller_sid].hold
        )

    await _until(back_with_the_agent, "the caller never came back to the agent", within=10)
    assert not emulator.engine.calls[caller_sid].done

