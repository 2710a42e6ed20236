"""``sigil render validate`` with a bounded answer (red-team N2): errors the answer only
counts still fail the check, and the count is said."""

from pathlib import Path
from typing import Any

import pytest

from sigil_cli import commands
from sigil_cli.exitcodes import ExitCode


class _Api:
    def __init__(self, answer: dict[str, Any]) -> None:
        self.answer = answer

    def call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        del method, path, kwargs
        return self.answer


def _run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, answer: dict[str, Any]) -> int:
    monkeypatch.setattr(commands, "_api", lambda opts: _Api(answer))
    env = tmp_path / "app.env"
    env.write_text("A={{ .Secrets.N }}\n", encoding="utf-8")
    return commands.render_validate(
        None,  # type: ignore[arg-type]
        [str(env)],
        customer_org=None,
        file_type="auto",
        as_json=False,
    )


def test_only_counted_errors_still_fail(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    answer = {"valid": False, "errors": [], "references": [], "missing": [], "errorsOmitted": 1}
    assert _run(monkeypatch, tmp_path, answer) == ExitCode.PROBLEMS
    assert "1 more error(s) not listed" in capsys.readouterr().out


def test_a_valid_answer_passes(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    answer = {"valid": True, "errors": [], "references": ["N"], "missing": [], "errorsOmitted": 0}
    assert _run(monkeypatch, tmp_path, answer) == ExitCode.OK
    assert "1 file(s) valid" in capsys.readouterr().out
