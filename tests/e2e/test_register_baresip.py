"""A real softphone: baresip registers with a password added by sipwarden-ctl, refreshes,
and unregisters when it quits; with a wrong password it never gets a binding."""

import subprocess
import time

import pytest

from conftest import DEFAULT_USERS, require_tool
from sipclient import SipClient, bindings

HOST_DOMAIN = "127.0.0.1"
PW = "baresip-Pw-7"
USERS = list(DEFAULT_USERS) + [("carol", HOST_DOMAIN, PW)]


@pytest.fixture
def host_daemon(sipwarden):
    # baresip 1.0 (libre) gives up with ENOSYS on any non-MD5 challenge in a
    # response instead of skipping it (RFC 7616 §3.7): offer it MD5 alone.
    return sipwarden(users=USERS, domains=("example.com", HOST_DOMAIN), auth={"algorithms": "MD5"})


def run_baresip(tmp_path, port, password, seconds):
    """Run baresip headless for `seconds` (then it quits by itself) with one account."""
    exe = require_tool("baresip")
    conf = tmp_path / "baresip"
    conf.mkdir(exist_ok=True)
    (conf / "accounts").write_text(
        "<sip:carol@%s:%d;transport=udp>;auth_pass=%s;regint=60\n" % (HOST_DOMAIN, port, password))
    (conf / "config").write_text(
        "sip_listen\t127.0.0.1:0\nmodule_path\t/usr/lib/baresip/modules\n"
        "module\tstdio.so\nmodule\taccount.so\nmodule\tg711.so\n")
    try:
        return subprocess.run([exe, "-f", str(conf), "-t", str(seconds)], stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=seconds + 15)
    except subprocess.TimeoutExpired:
        pytest.fail("baresip did not quit")


def carol_bindings(daemon):
    # From another loopback address: after baresip's own retries with a wrong
    # password, the limiter may have blocked carol from 127.0.0.1.
    with SipClient(daemon.host, daemon.port, "udp", bind_ip="127.0.0.3") as c:
        r = c.register("carol", HOST_DOMAIN, PW, contacts=[])
        assert r is not None and r.status == 200, r and r.start_line
        return bindings(r)


def test_baresip_registers_and_unregisters(host_daemon, tmp_path):
    """baresip reports '200 OK' for its registration; the daemon logged its REGISTER
    challenged then accepted; after baresip quits (it unregisters) no binding is left."""
    p = run_baresip(tmp_path, host_daemon.port, PW, 3)
    out = p.stdout + p.stderr
    assert "200 OK" in out and "1 binding" in out, out[-2000:]
    log = host_daemon.log_text()
    assert "REGISTER sip:carol@127.0.0.1" in log and "-> 401" in log and "-> 200" in log
    assert carol_bindings(host_daemon) == {}


def test_baresip_wrong_password_gets_no_binding(host_daemon, tmp_path):
    """With a wrong password baresip's registration fails and the daemon keeps no binding.
    (baresip keeps retrying, so its source may end up blocked: ask from another address.)"""
    p = run_baresip(tmp_path, host_daemon.port, "wrong-" + PW, 3)
    out = p.stdout + p.stderr
    assert "200 OK" not in out, out[-2000:]
    assert carol_bindings(host_daemon) == {}
    assert "event=auth_failed" in host_daemon.log_text()
