"""The embedded nats-server's environment: Go's core count, unless the user chose one."""

import os

from sigil_cli.embedded import nats_server_environment


def test_go_runs_on_half_the_usable_cores_by_default() -> None:
    env = nats_server_environment({"PATH": "/bin"})
    assert env["GOMAXPROCS"] == str(max(1, len(os.sched_getaffinity(0)) // 2))
    assert env["PATH"] == "/bin"


def test_a_gomaxprocs_the_user_set_is_kept() -> None:
    assert nats_server_environment({"GOMAXPROCS": "7"})["GOMAXPROCS"] == "7"


def test_the_callers_environment_is_not_changed() -> None:
    environ = {"PATH": "/bin"}
    nats_server_environment(environ)
    assert environ == {"PATH": "/bin"}
