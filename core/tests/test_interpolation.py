from __future__ import annotations

from patchwire._interpolation import interpolate

ENV = {"TOKEN": "s3cret", "EMPTY": "", "HOST": "desk.example"}


def test_substitutes_every_string_in_nested_tables_and_lists() -> None:
    value = {"url": "https://${HOST}/api", "list": ["${TOKEN}", 3], "nested": {"t": "${TOKEN}"}}
    result, problems = interpolate(value, ENV, ["config"])
    assert problems == []
    assert result == {
        "url": "https://desk.example/api",
        "list": ["s3cret", 3],
        "nested": {"t": "s3cret"},
    }


def test_defaults_apply_when_unset_or_empty_and_dollar_dollar_is_literal() -> None:
    result, problems = interpolate(
        ["${MISSING:-fallback}", "${EMPTY:-fallback}", "${TOKEN:-x}", "$${TOKEN} costs $5"],
        ENV,
        [],
    )
    assert problems == []
    assert result == ["fallback", "fallback", "s3cret", "${TOKEN} costs $5"]


def test_an_empty_set_variable_without_default_is_kept() -> None:
    assert interpolate("${EMPTY}", ENV, []) == ("", [])


def test_unset_variables_are_problems_naming_variable_and_key() -> None:
    _, problems = interpolate(
        {"clientId": "${ZENDESK_CLIENT_ID}", "pair": "${A}:${B}"}, ENV, ["integrations", "zd"]
    )
    assert [str(problem) for problem in problems] == [
        "env-unset integrations.zd.clientId: environment variable ZENDESK_CLIENT_ID is not set "
        "(set it (export ZENDESK_CLIENT_ID=...) or give a default: ${ZENDESK_CLIENT_ID:-value})",
        "env-unset integrations.zd.pair: environment variable A is not set "
        "(set it (export A=...) or give a default: ${A:-value})",
        "env-unset integrations.zd.pair: environment variable B is not set "
        "(set it (export B=...) or give a default: ${B:-value})",
    ]


def test_malformed_references_are_problems() -> None:
    _, problems = interpolate({"a": "${1X}", "b": "x ${OPEN"}, ENV, ["config"])
    assert [(problem.code, problem.location, problem.message) for problem in problems] == [
        ("bad-interpolation", "config.a", "'${1X}' is not a variable reference"),
        ("bad-interpolation", "config.b", "'${' at character 3 of 'x ${OPEN' is never closed"),
    ]
