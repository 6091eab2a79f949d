from __future__ import annotations

from patchwire_hitl import HitlConfiguration
from patchwire_hitl._texts import close_command, text_for


def test_null_sends_nothing_and_empty_means_the_built_in_text() -> None:
    assert (
        text_for(HitlConfiguration(on_hitl_handoff_message="NULL"), "on_hitl_handoff_message")
        is None
    )
    assert text_for(HitlConfiguration(on_hitl_handoff_message=""), "on_hitl_handoff_message") == (
        "I have escalated this conversation to a human agent. They should be with you shortly."
    )
    assert (
        text_for(HitlConfiguration(on_hitl_handoff_message="Hold on"), "on_hitl_handoff_message")
        == "Hold on"
    )
    assert (
        text_for(HitlConfiguration(on_hitl_handoff_message="null"), "on_hitl_handoff_message")
        == "null"
    )


def test_close_command_is_normalised_and_null_turns_it_off() -> None:
    assert close_command(HitlConfiguration()) == "/end"
    assert close_command(HitlConfiguration(user_hitl_close_command="")) == "/end"
    assert close_command(HitlConfiguration(user_hitl_close_command="  /Bye ")) == "/bye"
    assert close_command(HitlConfiguration(user_hitl_close_command="NULL")) is None
