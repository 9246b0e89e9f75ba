"""Registration with sipsak's usrloc mode (sipsak uses the URI host as the domain, so the
user lives in domain 127.0.0.1 and the daemon serves that domain)."""

import subprocess

import pytest

from conftest import DEFAULT_USERS, LEGACY_MD5_FIRST, require_tool
from sipclient import bindings

HOST_DOMAIN = "127.0.0.1"
PW = "sipsak-Pw-42"
USERS = list(DEFAULT_USERS) + [("alice", HOST_DOMAIN, PW)]


def sipsak(daemon, *args):
    exe = require_tool("sipsak")
    # --auth-username: sipsak 0.9.8 otherwise answers as "alice@" in usrloc mode
    cmd = [exe, "-U", "-s", "sip:alice@%s:%d" % (HOST_DOMAIN, daemon.port),
           "--auth-username", "alice", "-x", "300", "-v"] + list(args)
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("sipsak did not finish within 30 s")


@pytest.fixture
def host_daemon(sipwarden):
    return sipwarden(users=USERS, domains=("example.com", HOST_DOMAIN), auth=LEGACY_MD5_FIRST)


def test_sipsak_registers(host_daemon):
    """sipsak -U with the right password completes (exit 0) and its binding is listed."""
    p = sipsak(host_daemon, "-a", PW)
    assert p.returncode == 0, "sipsak exit %d\n%s\n%s" % (p.returncode, p.stdout, p.stderr)
    with host_daemon.client() as c:
        r = c.register("alice", HOST_DOMAIN, PW, contacts=[])
        assert r is not None and r.status == 200, r and r.start_line
        b = bindings(r)
        mine = {u: e for u, e in b.items() if u.startswith("sip:alice@127.0.0.1:")}
        assert mine, b
        assert all(e is not None and 0 < e <= 300 for e in mine.values()), mine


def test_sipsak_wrong_password_fails(host_daemon):
    """sipsak -U with a wrong password fails (non-zero exit) and registers nothing."""
    p = sipsak(host_daemon, "-a", "not-" + PW)
    assert p.returncode != 0, "sipsak succeeded with a wrong password\n%s" % p.stdout
    with host_daemon.client() as c:
        r = c.register("alice", HOST_DOMAIN, PW, contacts=[])
        assert r is not None and r.status == 200
        assert bindings(r) == {}
