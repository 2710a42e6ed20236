"""Key and id rules: every example of the reference page, and the edges Python gets wrong."""

import pytest

from sigil_shared.ids import id_problem, key_problem, value_problem


@pytest.mark.parametrize(
    "key", ["API_KEY", "database_password", "GitHubToken123", "stripe_api_key_prod", "a", "A" * 256]
)
def test_valid_keys_of_the_reference_page(key: str) -> None:
    assert key_problem(key) is None


@pytest.mark.parametrize(
    ("key", "rule"),
    [
        ("_API_KEY", "start with a letter"),
        ("123_KEY", "start with a letter"),
        ("API-KEY", "only ASCII letters, digits and underscores"),
        ("API KEY", "only ASCII letters, digits and underscores"),
        ("ÄPI_KEY", "start with a letter"),
        ("API_KÉY", "only ASCII letters, digits and underscores"),
        ("KEY_٣", "only ASCII letters, digits and underscores"),
        ("A$B", "only ASCII letters, digits and underscores"),
        ("A.B", "only ASCII letters, digits and underscores"),
        ("A" * 257, "at most 256 characters"),
        ("", "must not be empty"),
        ("KEY\n", "only ASCII letters, digits and underscores"),
    ],
)
def test_invalid_keys_name_the_broken_rule(key: str, rule: str) -> None:
    problem = key_problem(key)
    assert problem is not None
    assert rule in problem


@pytest.mark.parametrize("value", ["acme", "0f8fad5b-d9cb-469f-a165-70867728950e", "a_b-c", "9"])
def test_valid_ids(value: str) -> None:
    assert id_problem(value) is None


@pytest.mark.parametrize("value", ["", "a.b", "a*", ">", "a b", "-a", "_a", "x" * 65, "ü"])
def test_invalid_ids(value: str) -> None:
    assert id_problem(value) is not None


def test_value_rules_never_quote_the_value() -> None:
    big = "s3cr3t" * 20000
    problem = value_problem(big)
    assert problem is not None
    assert "64 KiB" in problem
    assert "s3cr3t" not in problem
    assert value_problem("") == "value must not be empty"
    assert value_problem("\ud800") == "value must be valid UTF-8 text"
    assert value_problem("multi\nline") is None
