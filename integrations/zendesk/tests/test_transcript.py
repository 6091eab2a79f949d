"""The first comment's transcript is readable for every message type."""

from __future__ import annotations

from patchwire_zendesk import render, transcript


def test_every_type_has_a_readable_form() -> None:
    card = {
        "title": "Plan",
        "subtitle": "Monthly",
        "imageUrl": "https://example.com/p.png",
        "actions": [{"action": "url", "label": "Open", "value": "https://example.com"}],
    }
    rendered = {
        "text": render("text", {"text": "hi"}),
        "markdown": render("markdown", {"markdown": "**hi**"}),
        "image": render("image", {"imageUrl": "https://example.com/a.png", "title": "A"}),
        "audio": render("audio", {"audioUrl": "https://example.com/a.mp3"}),
        "video": render("video", {"videoUrl": "https://example.com/a.mp4"}),
        "file": render("file", {"fileUrl": "https://example.com/a.pdf", "title": "a.pdf"}),
        "location": render(
            "location",
            {"latitude": 48.85, "longitude": 2.35, "title": "Office", "address": "Paris"},
        ),
        "card": render("card", card),
        "carousel": render("carousel", {"items": [card, {**card, "title": "Other"}]}),
        "choice": render("choice", {"text": "Pick", "options": [{"label": "Yes", "value": "y"}]}),
        "dropdown": render(
            "dropdown", {"text": "Size", "options": [{"label": "Large", "value": "l"}]}
        ),
        "bloc": render(
            "bloc",
            {
                "items": [
                    {"type": "text", "payload": {"text": "look"}},
                    {"type": "image", "payload": {"imageUrl": "https://example.com/b.png"}},
                ]
            },
        ),
    }
    assert rendered == {
        "text": "hi",
        "markdown": "**hi**",
        "image": "[Image: A] https://example.com/a.png",
        "audio": "[Audio] https://example.com/a.mp3",
        "video": "[Video] https://example.com/a.mp4",
        "file": "[File: a.pdf] https://example.com/a.pdf",
        "location": "[Location]\nOffice\nParis\n48.85, 2.35",
        "card": "[Card] Plan\nMonthly\nImage: https://example.com/p.png\n"
        "  * Open (url: https://example.com)",
        "carousel": rendered["card"] + "\n\n" + rendered["card"].replace("Plan", "Other"),
        "choice": "Pick\n[Choice options]\n  * Yes (y)",
        "dropdown": "Size\n[Dropdown options]\n  * Large (l)",
        "bloc": "look\n\n[Image] https://example.com/b.png",
    }
    assert render("poll", {}) == "[poll message]"


def test_the_transcript_names_who_said_what() -> None:
    text = transcript(
        [("Jane", "text", {"text": "my order"}), ("", "text", {"text": "let me check"})],
        bot_name="Helper",
    )
    assert text == "Jane:\nmy order\n\n---\n\nBot (Helper):\nlet me check"
