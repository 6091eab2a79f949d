"""Pure functions: signatures, bodies, rate-limit headers, configuration."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from pydantic import ValidationError

from patchwire_intercom import (
    IntercomConfiguration,
    SignatureError,
    sign,
    verify,
)
from patchwire_intercom._links import Memo
from patchwire_intercom._text import html_to_text, inbound_message, note_html, outbound


def test_the_signature_is_hex_hmac_sha1_of_the_raw_body() -> None:
    body = b'{"type":"notification_event","id":"notif_1"}'
    expected = hmac.new(b"s3cret", body, hashlib.sha1).hexdigest()
    assert sign("s3cret", body) == f"sha1={expected}"
    verify("s3cret", f"sha1={expected}", body)
    with pytest.raises(SignatureError, match="malformed"):  # Intercom writes lowercase hex only
        verify("s3cret", f"sha1={expected.upper()}", body)


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "missing"),
        ("", "missing"),
        ("sha256=00", "malformed"),
        ("sha1=00", "malformed"),
        (" sha1=" + "0" * 40, "malformed"),
        ("sha1=" + "0" * 40, "does not match"),
    ],
)
def test_bad_signatures_say_why(header: str | None, reason: str) -> None:
    with pytest.raises(SignatureError, match=reason):
        verify("s3cret", header, b"{}")


def test_html_and_plain_bodies_read_as_text() -> None:
    assert html_to_text("plain, with a < sign") == "plain, with a < sign"
    assert html_to_text("<p>a</p><p>b<br>c</p>") == "a\n\nb\nc"
    assert html_to_text('<p><a href="https://x.io">https://x.io</a></p>') == "https://x.io"
    assert html_to_text('<p>see <img src="https://x.io/i.png"></p>') == "see https://x.io/i.png"
    assert html_to_text(None) == ""


def test_notes_escape_each_line() -> None:
    assert note_html("a <b>\nc & d") == "<p>a &lt;b&gt;</p><p>c &amp; d</p>"


def test_outbound_bodies() -> None:
    assert outbound("markdown", {"markdown": "**hi**"}).body == "**hi**"
    located = outbound("location", {"latitude": 1.5, "longitude": 2.0})
    assert located.body == "Location: 1.5, 2.0"
    relative = outbound("image", {"imageUrl": "/local.png"})
    assert (relative.body, relative.attachment_urls) == ("/local.png", [])
    many = outbound(
        "bloc",
        {
            "items": [
                {"type": "image", "payload": {"imageUrl": f"https://x.io/{n}.png"}}
                for n in range(12)
            ]
        },
    )
    assert len(many.attachment_urls) == 10 and many.body.count("\n") == 11


def test_inbound_parts() -> None:
    assert inbound_message("", []) is None
    assert inbound_message("<p>hi</p>", []) == ("text", {"text": "hi"})
    assert inbound_message(None, [{"url": "https://x.io/f.zip", "content_type": "x"}]) == (
        "file",
        {"fileUrl": "https://x.io/f.zip"},
    )


def test_configuration() -> None:
    base = {"accessToken": "t", "clientSecret": "s"}
    assert IntercomConfiguration.model_validate(base).api_url == "https://api.intercom.io"
    eu = IntercomConfiguration.model_validate(base | {"region": "eu"})
    assert eu.api_url == "https://api.eu.intercom.io"
    proxied = IntercomConfiguration.model_validate(base | {"baseUrl": "http://127.0.0.1:9/"})
    assert proxied.api_url == "http://127.0.0.1:9"
    assert IntercomConfiguration.model_validate(base).intercom_version == "2.16"
    for bad in ({"region": "ap"}, {"intercomVersion": "latest"}, {"clientSecret": ""}):
        with pytest.raises(ValidationError):
            IntercomConfiguration.model_validate(base | bad)
    with pytest.raises(ValidationError, match="clientSecret"):
        IntercomConfiguration.model_validate({"accessToken": "t"})


def test_the_link_memo_drops_the_least_recently_used() -> None:
    memo = Memo(limit=2)
    memo.put("a", "1")
    memo.put("b", "2")
    assert memo.get("a") == "1"
    memo.put("c", "3")
    assert (memo.get("a"), memo.get("b"), memo.get("c")) == ("1", None, "3")
