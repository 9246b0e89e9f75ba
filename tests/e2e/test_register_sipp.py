"""RFC 3665 §2.1 registration driven by SIPp (Debian package sip-tester)."""

import subprocess
from pathlib import Path

import pytest

from conftest import DOMAIN, LEGACY_MD5_FIRST, PASSWORDS, free_port, require_tool
from sipclient import bindings

SCENARIOS = Path(__file__).resolve().parent / "sipp"
SIPP_TIMEOUT = 60  # hard bound on one sipp run (its own -timeout is shorter)


def write_csv(path, users):
    """SIPp injection file: user;domain;[authentication ...] per line."""
    lines = ["SEQUENTIAL"]
    for user, domain, password in users:
        lines.append("%s;%s;[authentication username=%s password=%s]" % (user, domain, user, password))
    path.write_text("\n".join(lines) + "\n")


def run_sipp(daemon, scenario, csv, calls, rate, transport="u1", limit=None, timeout_s=30):
    """Run sipp against the daemon; return (exit code, stats dict of the last dump, local port)."""
    sipp = require_tool("sipp")
    port = free_port()
    stat = daemon.dir / ("sipp_%s_%d.csv" % (scenario, port))
    errors = daemon.dir / ("sipp_%s_%d_errors.log" % (scenario, port))
    cmd = [sipp, "127.0.0.1:%d" % daemon.port,
           "-sf", str(SCENARIOS / (scenario + ".xml")),
           "-inf", str(csv),
           "-auth_uri", DOMAIN,
           "-t", transport,
           "-i", "127.0.0.1", "-p", str(port), "-mp", str(free_port()),
           "-m", str(calls), "-r", str(rate),
           "-timeout", "%ds" % timeout_s, "-timeout_error",
           "-nostdin", "-trace_stat", "-stf", str(stat),
           "-trace_err", "-error_file", str(errors)]
    if limit:
        cmd += ["-l", str(limit)]
    try:
        p = subprocess.run(cmd, cwd=daemon.dir, capture_output=True, text=True,
                           timeout=SIPP_TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail("sipp did not finish within %d s" % SIPP_TIMEOUT)
    stats = {}
    if stat.exists():
        rows = [ln for ln in stat.read_text().splitlines() if ln.strip()]
        if len(rows) >= 2:
            names, values = rows[0].split(";"), rows[-1].split(";")
            stats = dict(zip(names, values))
    err = errors.read_text("utf-8", "replace")[-3000:] if errors.exists() else ""
    info = "sipp exit %d\ncmd: %s\nstdout tail:\n%s\nstderr:\n%s\nerrors:\n%s" % (
        p.returncode, " ".join(cmd), p.stdout[-2500:], p.stderr[-1500:], err)
    return p.returncode, stats, port, info


@pytest.fixture
def daemon(sipwarden):
    """SIPp speaks MD5 only and answers the first challenge: MD5 is offered first."""
    return sipwarden(auth=LEGACY_MD5_FIRST)


@pytest.mark.parametrize("transport", ["u1", "t1"], ids=["udp", "tcp"])
def test_sipp_register_and_unregister(daemon, transport):
    """20 full RFC 3665 §2.1 flows (401, answer, 200 with ;expires, un-REGISTER 200 without
    Contact) all succeed, over UDP and TCP; alice has no binding left afterwards."""
    csv = daemon.dir / "alice.csv"
    write_csv(csv, [("alice", DOMAIN, PASSWORDS[("alice", DOMAIN)])])
    calls = 20
    rc, stats, _, info = run_sipp(daemon, "register_auth", csv, calls, rate=20,
                                  transport=transport, limit=1)
    assert rc == 0, info
    assert int(stats.get("SuccessfulCall(C)", -1)) == calls, info
    assert int(stats.get("FailedCall(C)", -1)) == 0, info
    with daemon.client() as c:
        r = c.register("alice", DOMAIN, PASSWORDS[("alice", DOMAIN)], contacts=[])
        assert r is not None and r.status == 200
        assert bindings(r) == {}, r.get_all("contact")


def test_sipp_wrong_password_fails(daemon):
    """The same scenario with a wrong password fails every call (sipp exit 1, no success)."""
    csv = daemon.dir / "bad.csv"
    write_csv(csv, [("alice", DOMAIN, "wrong-password")])
    rc, stats, _, info = run_sipp(daemon, "register_auth", csv, 3, rate=10, limit=1, timeout_s=15)
    assert rc == 1, info
    assert int(stats.get("SuccessfulCall(C)", -1)) == 0, info


def test_sipp_200_users_then_bindings(sipwarden):
    """200 different users register through SIPp from a CSV; each one's binding is then
    listed by the registrar, and after SIGTERM all 200 are in the database."""
    n = 200
    users = [("user%03d" % i, DOMAIN, "pw-%03d-x" % i) for i in range(n)]
    d = sipwarden(users=users, auth=LEGACY_MD5_FIRST)
    csv = d.dir / "users.csv"
    write_csv(csv, users)
    rc, stats, sipp_port, info = run_sipp(d, "register_only", csv, n, rate=100, limit=50)
    assert rc == 0, info
    assert int(stats.get("SuccessfulCall(C)", -1)) == n, info

    with d.client() as c:
        for user, domain, password in users[::20]:
            r = c.register(user, domain, password, contacts=[])
            assert r is not None and r.status == 200, (user, r and r.start_line)
            b = bindings(r)
            want = "sip:%s@127.0.0.1:%d" % (user, sipp_port)
            assert want in b and 3500 <= b[want] <= 3600, (user, b)
    d.stop()
    listing = d.ctl("reg", "list").stdout
    missing = [u for u, dom, _ in users if "%s@%s" % (u, dom) not in listing]
    assert not missing, "not in `reg list` after shutdown: %s" % missing[:10]
    one = d.ctl("reg", "list", "user007@%s" % DOMAIN).stdout
    assert "sip:user007@127.0.0.1:%d" % sipp_port in one, one
    assert "user008@" not in one
