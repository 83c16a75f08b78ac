"""SshEngine.heartbeat on an engine closed by the rollout (an `ok` host) must not open a
new SSH connection to the host (it did: Session.run -> transport -> open())."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import paramiko

from deployer.targets.ssh import SshEngine
from tests.unit.remote.test_connect_pacing import Front, conn_to


def test_a_heartbeat_on_a_closed_engine_does_not_connect_again(
    tmp_path: Path, ssh_server: Callable[[paramiko.PKey], Front]
) -> None:
    key = paramiko.RSAKey.generate(2048)
    f = ssh_server(key)
    engine = SshEngine(conn_to(f.port, tmp_path, key), session=None)
    engine.session.connect_timeout = 5
    engine.session.open()
    engine.close()  # what rollout does for an ok host right after its finalize
    try:
        engine.heartbeat("run-id")  # a heartbeat round that listed it just before
    except Exception:  # noqa: BLE001 - the test server runs no commands
        pass
    try:
        assert engine.connections == 1, "the heartbeat opened a second SSH connection"
        assert f.accepted == 1
    finally:
        engine.close()
