"""Users' files: uploaded to Zendesk only from allowed public hosts, otherwise linked.

The fake serves files on loopback, which the real policy refuses (a private address); the
upload path itself is exercised with a policy relaxed for loopback, built by the test.
"""

from __future__ import annotations

from patchwire.downloads import DownloadPolicy
from patchwire.testing.hitl import HitlHarness
from patchwire_zendesk import ZendeskClient, ZendeskConfiguration

from .conftest import ZendeskHelpdesk
from .fake_zendesk import FakeZendesk
from .helpers import open_ticket, settle


async def test_a_users_file_on_a_private_address_is_linked_not_fetched(
    harness: HitlHarness, helpdesk: ZendeskHelpdesk, zendesk: FakeZendesk
) -> None:
    zendesk.files["secret.png"] = (b"\x89PNG internal", "image/png")
    ticket_id = await open_ticket(harness, helpdesk)
    url = f"{zendesk.url}/files/secret.png"
    await harness.say("", type="image", payload={"imageUrl": url, "title": "look"})
    await settle(harness, helpdesk)
    assert zendesk.fetched == [], "the agent fetched a URL on a loopback address"
    assert zendesk.uploads == {}
    last = zendesk.comments[ticket_id][-1]
    assert url in last["body"] and "(attached)" not in last["body"]


async def test_only_an_allowed_file_within_the_cap_is_fetched(
    zendesk: FakeZendesk,
) -> None:
    zendesk.files["label.pdf"] = (b"%PDF label", "application/pdf")
    configuration = ZendeskConfiguration(
        base_url=zendesk.url,
        client_id=zendesk.client_id,
        client_secret=zendesk.client_secret,
        attachment_hosts=["files.example.com"],
    )
    strict = ZendeskClient(configuration)
    assert strict.downloads.hosts == ("127.0.0.1", "files.example.com")
    assert strict.downloads.public_only and strict.downloads.https_only
    relaxed = ZendeskClient(
        configuration,
        downloads=DownloadPolicy(
            hosts=("127.0.0.1",), max_bytes=100, https_only=False, public_only=False
        ),
    )
    try:
        assert await strict.download(f"{zendesk.url}/files/label.pdf") is None
        fetched = await relaxed.download(f"{zendesk.url}/files/label.pdf")
        assert fetched is not None
        assert (fetched.content, fetched.content_type) == (b"%PDF label", "application/pdf")
        assert await relaxed.download(f"{zendesk.url}/files/missing.pdf") is None
        zendesk.files["huge.bin"] = (b"x" * 101, "application/octet-stream")
        assert await relaxed.download(f"{zendesk.url}/files/huge.bin") is None
        assert await relaxed.download("https://files.example.com/label.pdf") is None
    finally:
        await strict.close()
        await relaxed.close()
    assert zendesk.fetched == ["label.pdf", "missing.pdf", "huge.bin"]
