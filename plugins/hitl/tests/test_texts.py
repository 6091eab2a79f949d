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


def test_agent_name_fills_the_placeholder_and_idle_text_follows_the_end_option() -> None:
    config = HitlConfiguration(on_human_agent_assigned_message="{agentName} is here")
    assert text_for(config, "on_human_agent_assigned_message", agent_name="Alice") == (
        "Alice is here"
    )
    assert text_for(config, "on_human_agent_transferred_message", agent_name="Bob") == (
        "Your conversation has been transferred to Bob."
    )
    assert text_for(HitlConfiguration(), "on_agent_idle_message") == (
        "The human agent has not answered yet. They will reply as soon as they can."
    )
    ending = HitlConfiguration(end_session_on_agent_idle=True)
    assert text_for(ending, "on_agent_idle_message") == (
        "The human agent has not answered in time. I will continue assisting you."
    )
    assert (
        text_for(
            ending.model_copy(update={"on_agent_idle_message": "NULL"}), "on_agent_idle_message"
        )
        is None
    )
