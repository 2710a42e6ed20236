"""Pure parts of the ``sigil`` command: option hoisting, env files, positions, tokens."""

import hashlib
import hmac
import json
import socket
from pathlib import Path

import jwt
import pytest

from sigil_cli.commands import _position
from sigil_cli.exitcodes import CliError, ExitCode, exit_for_status
from sigil_cli.options import hoist_global_options
from sigil_cli.ports import banner_commands, taken_port
from sigil_cli.tokens import ROLES, encode_hs256, issue_token
from sigil_cli.values import parse_env
from sigil_shared.contracts import Role

CANARY = "canary-env-value-31337"


def test_global_options_are_moved_in_front_wherever_they_are() -> None:
    argv = ["secrets", "list", "--url", "http://x", "--json", "--token=t", "--data-dir", "d"]
    assert hoist_global_options(argv) == [
        "--url",
        "http://x",
        "--token=t",
        "--data-dir",
        "d",
        "secrets",
        "list",
        "--json",
    ]


def test_global_options_after_double_dash_stay_where_they_are() -> None:
    argv = ["render", "validate", "--", "--url", "x"]
    assert hoist_global_options(argv) == argv


def test_env_file_forms_parse_like_docker_compose() -> None:
    text = (
        "\ufeff# comment\n"
        "\n"
        "export A=plain value  # trailing comment\n"
        "B=has#hash\n"
        'C="line1\\nline2 \\"q\\" \\\\ $x"  # comment\n'
        "D='literal \\n\n"
        "second line'\n"
        "E = spaced\r\n"
    )
    entries = parse_env(text, source="f.env")
    assert [(e.key, e.value, e.line) for e in entries] == [
        ("A", "plain value", 3),
        ("B", "has#hash", 4),
        ("C", 'line1\nline2 "q" \\ $x', 5),
        ("D", "literal \\n\nsecond line", 6),
        ("E", "spaced", 8),
    ]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (f"GOOD={CANARY}\nno pair here\n", "f.env:2: expected KEY=value"),
        (f"1BAD={CANARY}\n", "f.env:1: key must start with a letter"),
        (f"BAD-KEY={CANARY}\n", "f.env:1: key may contain only ASCII letters"),
        (f"K={CANARY}\nK={CANARY}\n", "f.env:2: K appears twice (first on line 1)"),
        (f'K="{CANARY}\n', "f.env:1: K: quoted value is never closed"),
        (f'K="{CANARY}" trailing\n', "f.env:1: K: unexpected text after the closing quote"),
        ("K=\n", "f.env:1: K has an empty value"),
        (f"KÉY={CANARY}\n", "f.env:1: key may contain only ASCII letters"),
    ],
)
def test_bad_env_lines_name_file_line_and_key_never_the_value(text: str, problem: str) -> None:
    with pytest.raises(CliError) as caught:
        parse_env(text, source="f.env")
    assert str(caught.value).startswith(problem)
    assert caught.value.code == ExitCode.USAGE
    assert CANARY not in str(caught.value)


def test_positions_are_one_based_characters_and_unknown_parts_are_left_out() -> None:
    text = "ok\nY=é{{ .Secrets.K }}\n"
    where, error = _position("app.env", text, {"file": "envFile", "line": 2, "column": 15})
    # 15 bytes precede it, 14 characters ("é" is two bytes): it is the 15th character.
    assert where == "app.env:2:15"
    assert (error["file"], error["line"], error["column"]) == ("app.env", 2, 15)
    where, _ = _position("app.env", text, {"file": "envFile", "line": 2, "column": 0})
    assert where == "app.env:2:1"
    where, error = _position("app.env", text, {"file": "envFile", "line": 1, "column": None})
    assert where == "app.env:1"
    assert error["column"] is None
    where, error = _position("app.env", text, {"file": "envFile", "line": None, "column": 3})
    assert where == "app.env"
    assert (error["line"], error["column"]) == (None, None)
    where, _ = _position("app.env", text, {"file": "envFile", "line": 0, "column": 0})
    assert where == "app.env"


def test_exit_codes_follow_the_http_status() -> None:
    assert [exit_for_status(s) for s in (401, 403, 404, 409, 422, 503, 500)] == [
        ExitCode.PERMISSION,
        ExitCode.PERMISSION,
        ExitCode.NOT_FOUND,
        ExitCode.CONFLICT,
        ExitCode.USAGE,
        ExitCode.UNAVAILABLE,
        ExitCode.OTHER,
    ]


def test_token_roles_match_the_contract() -> None:
    assert tuple(role.value for role in Role) == ROLES


def test_hand_signed_tokens_verify_with_pyjwt() -> None:
    key = "k" * 48
    token = issue_token(key, org="acme", role="admin", customer_org="c-1", sub="alice")
    claims = jwt.decode(token, key, algorithms=["HS256"])
    assert (claims["org"], claims["role"], claims["customer_org"], claims["sub"]) == (
        "acme",
        "admin",
        "c-1",
        "alice",
    )
    header, payload, signature = encode_hs256({"a": 1}, key).split(".")
    expected = hmac.new(key.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    assert jwt.utils.base64url_decode(signature) == expected
    assert json.loads(jwt.utils.base64url_decode(header)) == {"alg": "HS256", "typ": "JWT"}


def test_a_listening_port_is_reported_with_its_flag() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        problem = taken_port(host="127.0.0.1", port=port, nats_port=None)
        assert problem is not None
        assert f"port {port}" in problem
        assert "--port" in problem
        nats = taken_port(host="127.0.0.1", port=0, nats_port=port)
        assert nats is not None
        assert "--nats-port" in nats
    assert taken_port(host="127.0.0.1", port=port, nats_port=None) is None


def test_banner_commands_name_the_data_dir_and_port(tmp_path: Path) -> None:
    any_address = "0.0.0.0"  # what --host may be; the banner must not print it
    token_line, use_line = banner_commands(data_dir=tmp_path / "my dir", host=any_address, port=9)
    assert f"--data-dir '{tmp_path / 'my dir'}' token --org ORG --role admin" in token_line
    assert "SIGIL_URL=http://127.0.0.1:9 " in use_line


def test_a_data_dir_that_is_a_file_is_one_usage_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from sigil_cli.main import main

    for name in ("SIGIL_JWT_KEY", "SIGIL_JWT_KEY_FILE", "SIGIL_TOKEN", "SIGIL_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    assert main(["token", "--org", "a", "--role", "admin", "--data-dir", str(not_a_dir)]) == 2
    assert main(["secrets", "list", "--url", "http://127.0.0.1:9"]) == 2  # no token
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "Not a directory" in err
    assert "no token" in err


def test_a_large_env_file_parses_in_linear_time() -> None:
    # 100,000 lines: a per-line rescan from the start (quadratic) would blow the test timeout.
    text = "".join(f"KEY_{i}=value-{i}\n" for i in range(100_000))
    entries = parse_env(text, source="big.env")
    assert len(entries) == 100_000
    assert (entries[-1].key, entries[-1].line) == ("KEY_99999", 100_000)


def test_values_over_64_kib_are_refused_before_sending(tmp_path: Path) -> None:
    from sigil_cli.values import read_value

    big = "v" * (64 * 1024 + 1)
    value_file = tmp_path / "big"
    value_file.write_text(big)
    with pytest.raises(CliError) as caught:
        read_value("K", str(value_file), keep_newline=False)
    assert caught.value.code == ExitCode.USAGE
    assert "larger than 64 KiB" in caught.value.message
    exact = tmp_path / "exact"
    exact.write_text("v" * (64 * 1024) + "\n")
    assert len(read_value("K", str(exact), keep_newline=False)) == 64 * 1024
    with pytest.raises(CliError) as in_file:
        parse_env(f"OK=1234\nK={big}\n", source="f.env")
    assert str(in_file.value).startswith("f.env:2: K: the value is larger than 64 KiB")


def test_json_failures_are_an_error_object_on_stdout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from sigil_cli.main import main

    missing = str(tmp_path / "missing")
    # The named file is read before any request: no server is needed to refuse it.
    args = ["secrets", "update", "K", "--value-file", missing, "--json", "--token", "t"]
    assert main([*args, "--url", "http://127.0.0.1:9"]) == 2
    captured = capsys.readouterr()
    assert json.loads(captured.out)["error"]["code"] == "usage"
    assert captured.err == f"sigil: value file {missing} does not exist\n"
