from __future__ import annotations

import asyncio
import dataclasses
import itertools
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.exc import OperationalError

from patchwire.store import Job, Message, NotFoundError, Store
from patchwire.store._notify import WORK


async def test_get_or_create_user_makes_one_row_under_concurrency(store: Store) -> None:
    users = await asyncio.gather(
        *(store.get_or_create_user(integration="chat", tags={"chatId": "u1"}) for _ in range(20))
    )
    assert len({user.id for user in users}) == 1
    assert [user.id for user in await store.find_users({"chatId": "u1"})] == [users[0].id]


async def test_find_by_tags_needs_every_tag(store: Store) -> None:
    first = await store.create_conversation(
        integration="zendesk", channel="hitl", tags={"id": "4711", "kind": "ticket"}
    )
    await store.create_conversation(integration="zendesk", channel="hitl", tags={"id": "4712"})
    assert [c.id for c in await store.find_conversations({"id": "4711"})] == [first.id]
    assert [c.id for c in await store.find_conversations({"id": "4711", "kind": "ticket"})] == [
        first.id
    ]
    assert await store.find_conversations({"id": "4711", "kind": "other"}) == []
    updated = await store.update_conversation(first.id, tags={"kind": "chat"})
    assert dict(updated.tags) == {"id": "4711", "kind": "chat"}


async def test_messages_page_in_both_orders(store: Store) -> None:
    conversation = await store.create_conversation(integration="chat", channel="channel")
    for index in range(5):
        await store.create_message(
            conversation_id=conversation.id,
            user_id=None,
            direction="outgoing",
            type="text",
            payload={"text": str(index)},
            metadata={"n": index},
        )
    page = await store.list_messages(conversation.id, limit=2)
    assert [m.payload["text"] for m in page.messages] == ["4", "3"]
    rest = await store.list_messages(conversation.id, limit=10, cursor=page.next_cursor)
    assert [m.payload["text"] for m in rest.messages] == ["2", "1", "0"]
    assert rest.next_cursor is None
    oldest = await store.list_messages(conversation.id, limit=3, newest_first=False)
    assert [m.sequence for m in oldest.messages] == [1, 2, 3]
    assert oldest.messages[0].metadata == {"n": 0}
    with pytest.raises(ValueError, match="not a cursor"):
        await store.list_messages(conversation.id, cursor="abc")


async def test_states_are_namespaced_and_replaced(store: Store) -> None:
    await store.set_state("conversation", "c1", "support", "hitl", {"active": True})
    await store.set_state("conversation", "c1", "sales", "hitl", {"active": False})
    await store.set_state("conversation", "c1", "support", "hitl", {"active": False, "n": 2})
    assert await store.get_state("conversation", "c1", "support", "hitl") == {
        "active": False,
        "n": 2,
    }
    assert await store.get_state("conversation", "c1", "sales", "hitl") == {"active": False}
    await store.delete_state("conversation", "c1", "support", "hitl")
    assert await store.get_state("conversation", "c1", "support", "hitl") is None


async def test_receive_is_idempotent_and_queues_one_job(store: Store) -> None:
    conversation = await store.create_conversation(integration="chat", channel="channel")
    first = await store.receive(
        conversation_id=conversation.id,
        user_id=None,
        type="text",
        payload={"text": "hi"},
        dedupe=("chat", "m-1"),
    )
    again = await store.receive(
        conversation_id=conversation.id,
        user_id=None,
        type="text",
        payload={"text": "hi"},
        dedupe=("chat", "m-1"),
    )
    assert first is not None and again is None
    job = await store.claim_next_job("w1", lease=timedelta(seconds=30))
    assert job is not None and job.payload == {"message_id": first.id}
    assert await store.claim_next_job("w1", lease=timedelta(seconds=30)) is None


async def test_jobs_of_one_conversation_run_in_order_one_at_a_time(database_url: str) -> None:
    one, two = await Store.open(database_url), await Store.open(database_url)
    try:
        conversation = await one.create_conversation(integration="chat", channel="channel")
        other = await one.create_conversation(integration="chat", channel="channel")
        for index in range(3):
            await one.enqueue(conversation.id, "message", {"n": index})
        await one.enqueue(other.id, "message", {"n": 99})
        lease = timedelta(seconds=30)
        first = await one.claim_next_job("a", lease=lease)
        parallel = await two.claim_next_job("b", lease=lease)
        assert first is not None and first.payload == {"n": 0}
        assert parallel is not None and parallel.conversation_id == other.id
        assert await two.claim_next_job("b", lease=lease) is None
        await one.fail_job(first.id, "boom", retry_at=datetime.now(UTC) - timedelta(seconds=1))
        retried = await two.claim_next_job("b", lease=lease)
        assert retried is not None and retried.payload == {"n": 0} and retried.attempts == 1
        await two.fail_job(retried.id, "boom again", retry_at=None)
        second = await one.claim_next_job("a", lease=lease)
        assert second is not None and second.payload == {"n": 1}
        assert [(job.payload, error) for job, error in await one.failed_jobs()] == [
            ({"n": 0}, "boom again")
        ]
    finally:
        await one.close()
        await two.close()


async def test_an_expired_lease_is_taken_over(store: Store) -> None:
    conversation = await store.create_conversation(integration="chat", channel="channel")
    await store.enqueue(conversation.id, "message", {})
    taken = await store.claim_next_job("crashed", lease=timedelta(seconds=-1))
    again = await store.claim_next_job("healthy", lease=timedelta(seconds=30))
    assert taken is not None and again is not None and again.id == taken.id


async def test_due_events_fire_once_across_two_stores(database_url: str) -> None:
    one, two = await Store.open(database_url), await Store.open(database_url)
    try:
        past = datetime.now(UTC) - timedelta(seconds=1)
        scheduled = [
            await one.schedule(
                type="tick",
                source="test",
                payload={"n": n},
                due_at=past,
                conversation_id=f"c{n % 3}",
            )
            for n in range(30)
        ]
        later = await one.schedule(
            type="later", source="test", payload={}, due_at=past + timedelta(hours=1)
        )
        cancelled = await one.schedule(type="x", source="test", payload={}, due_at=past)
        assert await one.cancel_scheduled(cancelled.id)
        fired = await asyncio.gather(*(s.fire_due(f"w{i}") for i, s in enumerate([one, two] * 3)))
        ids = [event.id for batch in fired for event in batch]
        assert sorted(ids) == sorted(event.id for event in scheduled)
        assert (await one.get_scheduled(later.id)).status == "pending"  # type: ignore[union-attr]
        assert not await one.cancel_scheduled(scheduled[0].id)
    finally:
        await one.close()
        await two.close()


async def test_scheduling_needs_an_aware_time(store: Store) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        await store.schedule(type="t", source="s", payload={}, due_at=datetime.now())


async def test_opening_twice_migrates_once_and_keeps_data(database_url: str) -> None:
    first = await Store.open(database_url)
    user = await first.create_user(integration="chat", name="Ada")
    await first.close()
    reopened = await Store.open(database_url)
    try:
        kept = await reopened.get_user(user.id)
        assert kept is not None and kept.name == "Ada"
    finally:
        await reopened.close()


def test_urls_are_normalised_and_unknown_ones_refused() -> None:
    from patchwire.store import normalise_url

    assert normalise_url("postgresql://u@h/db") == "postgresql+asyncpg://u@h/db"
    assert normalise_url("sqlite:///x.db") == "sqlite+patchwire:///x.db"
    with pytest.raises(ValueError, match="unsupported database URL"):
        normalise_url("mysql://u@h/db")


async def test_a_message_for_a_missing_conversation_is_refused_and_stores_nothing(
    store: Store,
) -> None:
    with pytest.raises(NotFoundError, match="no-such-conversation"):
        await store.receive(
            conversation_id="no-such-conversation", user_id=None, type="text", payload={}
        )
    with pytest.raises(NotFoundError, match="no-such-conversation"):
        await store.receive(
            conversation_id="no-such-conversation",
            user_id=None,
            type="text",
            payload={},
            dedupe=("chat", "m-1"),
        )
    assert await store.remember("chat", "m-1"), "the key of a message not stored was kept"
    with pytest.raises(NotFoundError, match="no-such-conversation"):
        await store.create_outgoing(
            conversation_id="no-such-conversation",
            user_id=None,
            type="text",
            payload={},
            metadata=None,
            tags=None,
            effect_key=None,
        )
    assert await store.jobs() == []


async def test_a_conversations_messages_get_strictly_later_milliseconds(store: Store) -> None:
    """Clients order messages by a millisecond ``createdAt``: a reply stored within the
    millisecond of the message it answers must still come after it."""
    conversation = await store.create_conversation(integration="chat", channel="channel")
    stored = []
    for number in range(40):
        received = await store.receive(
            conversation_id=conversation.id,
            user_id=None,
            type="text",
            payload={"text": f"m{number}"},
        )
        assert received is not None
        stored.append(received)
        stored.append(
            await store.create_outgoing(
                conversation_id=conversation.id,
                user_id=None,
                type="text",
                payload={"text": f"re {number}"},
            )
        )
    milliseconds = [int(message.created_at.timestamp() * 1000) for message in stored]
    assert all(later > earlier for earlier, later in itertools.pairwise(milliseconds))
    page = await store.list_messages(conversation.id, limit=100, newest_first=False)
    assert [m.created_at for m in page.messages] == [m.created_at for m in stored]
    assert all(m.created_at.tzinfo is not None for m in page.messages)


async def test_completing_a_job_marks_its_sends_and_claims_its_conversations_next_job(
    store: Store,
) -> None:
    """On PostgreSQL one statement forgets the job, marks what it sent and claims the next:
    the claim must neither take the finished job (its lease may have run out while it ran)
    nor wait for it, nor take another conversation's job."""
    conversation = await store.create_conversation(integration="chat", channel="channel")
    other = await store.create_conversation(integration="chat", channel="channel")
    replies = [
        await store.create_outgoing(
            conversation_id=conversation.id, user_id=None, type="text", payload={"n": n}
        )
        for n in range(2)
    ]
    await store.enqueue(conversation.id, "message", {"n": 0})
    await store.enqueue(other.id, "message", {"n": 99})
    await store.enqueue(conversation.id, "message", {"n": 1})
    running = await store.claim_next_job("w1", lease=timedelta(seconds=-1))  # already expired
    assert running is not None and running.payload == {"n": 0}
    busy = await store.claim_next_job("w2", lease=timedelta(seconds=30), conversation_id=other.id)
    assert busy is not None and busy.conversation_id == other.id

    following = await store.complete_job(
        running, sent=[reply.id for reply in replies], then_claim=("w1", timedelta(seconds=30))
    )
    assert following is not None and following.payload == {"n": 1}, following
    assert following.leased_by == "w1" and following.runs == 1
    assert [job.payload for job in await store.jobs()] == [{"n": 99}, {"n": 1}]
    assert {(await store.get_message(reply.id)).status for reply in replies} == {"sent"}  # type: ignore[union-attr]

    assert await store.complete_job(following, then_claim=("w1", timedelta(seconds=30))) is None
    assert await store.complete_job(busy) is None
    assert await store.jobs() == []


async def test_parallel_deliveries_store_each_message_once_numbered_in_order(
    database_url: str,
) -> None:
    """Two processes' stores receive at once: a key delivered eight times stores one message
    and one job; twenty distinct messages in one conversation get twenty distinct, gapless
    sequence numbers and one job each (PostgreSQL does each receive in one statement)."""
    one, two = await Store.open(database_url), await Store.open(database_url)
    try:
        conversation = await one.create_conversation(integration="chat", channel="channel")

        async def deliver(store: Store, text: str, key: str) -> Message | None:
            return await store.receive(
                conversation_id=conversation.id,
                user_id=None,
                type="text",
                payload={"text": text},
                dedupe=("chat", key),
            )

        repeated = await asyncio.gather(
            *(deliver((one, two)[n % 2], "again", "same-key") for n in range(8))
        )
        [first] = [message for message in repeated if message is not None]
        distinct = await asyncio.gather(
            *(deliver((one, two)[n % 2], f"m{n}", f"key-{n}") for n in range(20))
        )
        stored = [message for message in distinct if message is not None]
        assert len(stored) == 20
        numbers = sorted(message.sequence for message in stored)
        assert numbers == list(range(first.sequence + 1, first.sequence + 21))
        jobs = await one.jobs()
        assert len(jobs) == 21
        assert len({job.payload["message_id"] for job in jobs}) == 21
    finally:
        await one.close()
        await two.close()


async def test_parallel_receives_into_one_conversation_lease_one_job_at_a_time(
    database_url: str,
) -> None:
    """Two processes' stores receive twelve messages at once into each of four conversations,
    each claiming for itself: a receive that waited for the conversation's row lock must not
    lease its job beside the one leased before it (PostgreSQL's claim rides the storing
    statement). Exactly one job per conversation runs; finishing it hands over to the next,
    in sequence order, one at a time."""
    one, two = await Store.open(database_url), await Store.open(database_url)
    lease = timedelta(seconds=30)
    try:
        conversations = [
            await one.create_conversation(integration="chat", channel="channel") for _ in range(4)
        ]
        claimed: list[Job] = []

        async def deliver(store: Store, owner: str, conversation_id: str, n: int) -> None:
            await store.receive(
                conversation_id=conversation_id,
                user_id=None,
                type="text",
                payload={"text": f"m{n}"},
                claim_for=(owner, lease),
                claimed=claimed.append,
            )

        await asyncio.gather(
            *(
                deliver(*((one, "w1"), (two, "w2"))[n % 2], conversation.id, n)
                for conversation in conversations
                for n in range(12)
            )
        )
        jobs = await one.jobs()
        assert len(jobs) == 48
        running = [job for job in jobs if job.status == "running"]
        assert sorted(job.conversation_id for job in running) == sorted(
            conversation.id for conversation in conversations
        ), "a conversation ran two jobs at once, or none"
        assert sorted(job.id for job in claimed) == sorted(job.id for job in running)
        for conversation in conversations:
            done: list[int] = []
            [first] = [job for job in claimed if job.conversation_id == conversation.id]
            job: Job | None = first
            while job is not None:
                assert job.subject is not None
                done.append(job.subject[0].sequence)
                job = await one.complete_job(job, then_claim=("w1", lease))
            assert done == sorted(done) and len(done) == 12, done
    finally:
        await one.close()
        await two.close()


async def test_a_claim_that_fails_after_the_message_is_stored_loses_nothing(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The claim after a receive is a shortcut. If it fails, the message is either stored,
    queued and announced (PostgreSQL, in a conversation that is not free: stored by a
    statement of its own before the claim) or not stored at all and the error reaches the
    sender, who delivers it again (SQLite: one transaction). Never stored and lost, never
    stored twice."""
    conversation = await store.create_conversation(integration="chat", channel="channel")
    waiting = await store.receive(
        conversation_id=conversation.id, user_id=None, type="text", payload={"text": "first"}
    )
    assert waiting is not None
    announced: list[str] = []
    store.notifier.subscribe(WORK, lambda payload, _remote: announced.append(payload))
    claimed: list[Job] = []

    def failing_claim(*_args: object) -> None:
        raise OperationalError("UPDATE jobs ...", {}, Exception("connection reset"))

    monkeypatch.setattr(store, "_claim_in", failing_claim)
    try:
        message = await store.receive(
            conversation_id=conversation.id,
            user_id=None,
            type="text",
            payload={"text": "hi"},
            claim_for=("w1", timedelta(seconds=30)),
            claimed=claimed.append,
        )
    except OperationalError:
        assert store.backend == "sqlite"
        [job] = await store.jobs()
        assert job.payload == {"message_id": waiting.id} and announced == []
        return
    assert store.backend == "postgresql" and message is not None and not claimed
    jobs = await store.jobs()
    assert [job.payload["message_id"] for job in jobs] == [waiting.id, message.id]
    assert {job.status for job in jobs} == {"pending"}
    assert announced == [""], "the unclaimed job was not announced"


@pytest.mark.parametrize("message_tags", [{"lang": "en"}, {}], ids=["tagged", "untagged"])
async def test_a_claimed_message_job_comes_with_its_message_conversation_and_author(
    store: Store, message_tags: dict[str, str]
) -> None:
    """On PostgreSQL the claim and the read of its context are one statement (for a message
    without tags, the very statement that stores it): what comes with the job is what reading
    the message's context says, tags included; another kind of job comes without."""
    user = await store.create_user(
        integration="chat", name="Ada", tags={"id": "u1", "tier": "gold"}
    )
    conversation = await store.create_conversation(
        integration="chat", channel="channel", tags={"id": "c1"}
    )
    claimed: list[Job] = []
    message = await store.receive(
        conversation_id=conversation.id,
        user_id=user.id,
        type="text",
        payload={"text": "hi"},
        tags=message_tags,
        dedupe=("chat", "m1"),
        claim_for=("w1", timedelta(seconds=30)),
        claimed=claimed.append,
    )
    assert message is not None
    [job] = claimed
    assert job.status == "running" and job.leased_by == "w1" and job.runs == 1
    assert await store.jobs() == [dataclasses.replace(job, subject=None)]
    assert job.subject is not None and job.subject == await store.message_context(message.id)
    stored, in_conversation, author = job.subject
    assert stored.tags == message_tags and in_conversation.tags == {"id": "c1"}
    assert author is not None and author.tags == {"id": "u1", "tier": "gold"}

    await store.enqueue(conversation.id, "other", {"n": 1})
    following = await store.complete_job(job, then_claim=("w1", timedelta(seconds=30)))
    assert following is not None and following.kind == "other" and following.subject is None


async def test_concurrent_joins_make_one_participant_and_one_of_them_says_so(store: Store) -> None:
    conversation = await store.create_conversation(integration="chat", channel="channel")
    user = await store.create_user(integration="chat", tags={"chatId": "ada"})
    joined = await asyncio.gather(
        *(store.add_participant(conversation.id, user.id) for _ in range(20))
    )
    assert sorted(joined) == [False] * 19 + [True]
    assert await store.list_participants(conversation.id) == [user.id]
    assert await store.list_participations(user.id) == [conversation.id]
    assert await store.remove_participant(conversation.id, user.id) is True
    assert await store.remove_participant(conversation.id, user.id) is False
    assert await store.list_participants(conversation.id) == []


async def test_joining_a_missing_conversation_or_user_stores_nothing(store: Store) -> None:
    conversation = await store.create_conversation(integration="chat", channel="channel")
    user = await store.create_user(integration="chat")
    with pytest.raises(NotFoundError, match="conversation"):
        await store.add_participant("nope", user.id)
    with pytest.raises(NotFoundError, match="user"):
        await store.add_participant(conversation.id, "nope")
    assert await store.list_participations(user.id) == []
    assert await store.list_participants(conversation.id) == []


async def test_participants_list_in_join_order(store: Store) -> None:
    conversation = await store.create_conversation(integration="chat", channel="channel")
    users = [await store.create_user(integration="chat") for _ in range(5)]
    for user in reversed(users):
        await store.add_participant(conversation.id, user.id)
    assert await store.list_participants(conversation.id) == [u.id for u in reversed(users)]


async def test_find_participant_needs_both_records_and_the_membership(store: Store) -> None:
    conversation = await store.create_conversation(
        integration="chat", channel="channel", tags={"owner": "ada"}, identity={"chatId": "c1"}
    )
    other = await store.create_conversation(
        integration="webchat", channel="channel", identity={"chatId": "c2"}
    )
    ada = await store.create_user(integration="chat", tags={"chatId": "ada", "role": "admin"})
    await store.create_user(integration="chat", tags={"chatId": "grace"})
    await store.add_participant(conversation.id, ada.id)
    await store.add_participant(other.id, ada.id)

    found = await store.find_participant(
        conversation_tags={"chatId": "c1"}, user_tags={"chatId": "ada"}
    )
    assert found is not None
    assert found.conversation == await store.get_conversation(conversation.id)
    assert found.user == await store.get_user(ada.id)
    assert dict(found.conversation.tags) == {"chatId": "c1", "owner": "ada"}
    assert dict(found.user.tags) == {"chatId": "ada", "role": "admin"}
    assert found.joined_at <= datetime.now(UTC)

    def find(conversation_id: str, user_id: str, integration: str | None = None) -> object:
        return store.find_participant(
            conversation_tags={"chatId": conversation_id},
            user_tags={"chatId": user_id},
            integration=integration,
        )

    assert await find("c1", "grace") is None  # not a participant
    assert await find("c9", "ada") is None  # no such conversation
    assert await find("c1", "nobody") is None  # no such user
    assert await find("c2", "ada", integration="chat") is None  # another integration's
    assert await find("c2", "ada", integration="webchat") is not None
    await store.remove_participant(conversation.id, ada.id)
    assert await find("c1", "ada") is None


async def test_a_conversation_and_its_first_participants_are_created_together(
    store: Store,
) -> None:
    ada = await store.create_user(integration="chat")
    conversation = await store.create_conversation(
        integration="chat", channel="channel", identity={"chatId": "c1"}, participants=[ada.id]
    )
    assert await store.list_participants(conversation.id) == [ada.id]
    with pytest.raises(NotFoundError, match="user"):
        await store.create_conversation(
            integration="chat", channel="channel", identity={"chatId": "c2"}, participants=["nope"]
        )
    assert await store.find_conversations({"chatId": "c2"}) == []
    # the identity was not taken either: the same create succeeds with a real user
    again = await store.create_conversation(
        integration="chat", channel="channel", identity={"chatId": "c2"}, participants=[ada.id]
    )
    assert await store.list_participations(ada.id) == [conversation.id, again.id]
