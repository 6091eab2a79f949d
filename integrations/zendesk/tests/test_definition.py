"""Configuration and the hitlTicket entity: a clear error for every bad value."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from patchwire_zendesk import HitlTicket, ZendeskConfiguration
from patchwire_zendesk._actions import hitl_ticket

OAUTH = {"clientId": "id", "clientSecret": "secret"}


def test_the_url_comes_from_the_subdomain_unless_base_url_overrides_it() -> None:
    assert ZendeskConfiguration.model_validate({"subdomain": "acme", **OAUTH}).url == (
        "https://acme.zendesk.com"
    )
    configured = ZendeskConfiguration.model_validate(
        {"subdomain": "acme", "baseUrl": "http://127.0.0.1:9/", **OAUTH}
    )
    assert configured.url == "http://127.0.0.1:9"
    assert configured.uses_oauth and configured.close_status == "closed"


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({**OAUTH}, "give subdomain"),
        ({"subdomain": "acme.zendesk.com", **OAUTH}, "subdomain is the account name only"),
        ({"subdomain": "acme"}, "no credentials"),
        ({"subdomain": "acme", "clientId": "id"}, "OAuth needs both"),
        ({"subdomain": "acme", "email": "a@b.c"}, "needs both email and apiToken"),
        (
            {"subdomain": "acme", "email": "a@b.c", "apiToken": "t", **OAUTH},
            "not both",
        ),
        ({"subdomain": "acme", "baseUrl": "acme.example.com", **OAUTH}, "must start with"),
        ({"subdomain": "acme", "closeStatus": "finished", **OAUTH}, "closeStatus"),
    ],
)
def test_bad_configurations_are_refused_clearly(config: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ZendeskConfiguration.model_validate(config)


def test_the_legacy_api_token_is_accepted() -> None:
    configured = ZendeskConfiguration.model_validate(
        {"subdomain": "acme", "email": "bot@acme.com", "apiToken": "t"}
    )
    assert not configured.uses_oauth


def test_every_entity_field_is_accepted() -> None:
    ticket = hitl_ticket(
        {
            "priority": "urgent",
            "requesterName": "Jane",
            "requesterEmail": "jane@example.com",
            "ticketFormId": 360001,
            "groupId": "42",
            "tags": ["vip", "from_bot"],
            "chatbotName": "Helper",
            "chatbotPhotoUrl": "https://example.com/bot.png",
        }
    )
    assert ticket == HitlTicket(
        priority="urgent",
        requester_name="Jane",
        requester_email="jane@example.com",
        ticket_form_id="360001",
        group_id="42",
        tags=["vip", "from_bot"],
        chatbot_name="Helper",
        chatbot_photo_url="https://example.com/bot.png",
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"priority": "asap"}, "priority"),
        ({"ticketFormId": "form-1"}, "ticketFormId.*numeric Zendesk id"),
        ({"groupId": "sales"}, "numeric Zendesk id"),
        ({"requesterEmail": "jane@example.com"}, "only together with requesterName"),
        ({"requesterName": "Jane", "requesterEmail": "jane"}, "email address"),
        ({"tags": ["Has Space"]}, "not a Zendesk tag"),
        ({"chatbotPhotoUrl": "ftp://x/y.png"}, "https://"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_entity_values_are_refused_clearly(value: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=f"invalid hitlTicket: .*{message}"):
        hitl_ticket(value)
