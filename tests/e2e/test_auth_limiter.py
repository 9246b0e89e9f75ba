"""Brute-force limiter end to end, on loopback only: distinct sources are
127.0.0.2 / 127.0.0.3 (client sockets bound to them). Failures per (user,
source) and per source lead to a block (403 or silence) that ends by itself or
with sipwarden-ctl block del; other sources are untouched; security events
match the shipped fail2ban filter. Every loop is bounded."""

import configparser
import re
import time
from pathlib import Path

from conftest import DOMAIN, PASSWORDS, REPO
from sipclient import SipClient

ALICE_PW = PASSWORDS[("alice", DOMAIN)]
LIMITS = {"max_failures": 4, "max_source_failures": 8, "failure_window": 60, "block_time": 4}


def client_from(d, ip):
    return SipClient(d.host, d.port, "udp", timeout=2.0, bind_ip=ip)


def fail_until_blocked(d, ip, user="alice", limit=12):
    """Wrong answers from ip until 403 (bounded); slowed attempts get no answer and are retried a second later."""
    with client_from(d, ip) as c:
        for _ in range(limit):
            r = c.register(user, DOMAIN, "wrong-password", timeout=1.2)
            if r is None:
                time.sleep(1.05)  # slowed: no answer within the same second
                continue
            if r.status == 403:
                return r
            assert r.status == 401, r.start_line
    raise AssertionError("no block after %d wrong answers\n%s" % (limit, d.log_tail()))


def test_block_then_expiry_other_sources_untouched(sipwarden):
    d = sipwarden(auth=LIMITS)
    r = fail_until_blocked(d, "127.0.0.2")
    assert r.reason == "Forbidden"
    time.sleep(1.1)  # past the source's slow-down second
    # blocked even with the right password, but only alice from 127.0.0.2
    with client_from(d, "127.0.0.2") as c:
        assert c.register("alice", DOMAIN, ALICE_PW).status == 403
        assert c.register("bob", DOMAIN, PASSWORDS[("bob", DOMAIN)]).status == 200
    with client_from(d, "127.0.0.3") as c:
        assert c.register("alice", DOMAIN, ALICE_PW).status == 200
    log = d.log_text()
    assert re.search(r'security event=blocked src=127\.0\.0\.2 user="alice" failures=4 ', log), log
    # the block ends by itself
    time.sleep(LIMITS["block_time"] + 1.5)
    with client_from(d, "127.0.0.2") as c:
        assert c.register("alice", DOMAIN, ALICE_PW).status == 200
    assert re.search(r'security event=unblocked src=127\.0\.0\.2 user="alice" reason=expired', d.log_text())


def test_source_wide_block_and_drop(sipwarden):
    d = sipwarden(auth=dict(LIMITS, block_response="drop", max_source_failures=3))
    with client_from(d, "127.0.0.2") as c:
        answers = []
        for user in ("u1", "u2", "u3", "u4", "u5"):  # enumeration: one try per name
            answers.append(c.register(user, DOMAIN, "x", timeout=1.0))
        assert answers[-1] is None, "a blocked source must get no answer with block_response = drop"
        assert c.options(timeout=1.0) is not None  # only authentication is refused
    with client_from(d, "127.0.0.3") as c:
        assert c.register("alice", DOMAIN, ALICE_PW).status == 200


def test_trusted_network_exempt(sipwarden):
    d = sipwarden(auth=dict(LIMITS, trusted_networks="127.0.0.2/32"))
    with client_from(d, "127.0.0.2") as c:
        for _ in range(8):
            assert c.register("alice", DOMAIN, "wrong").status == 401
        assert c.register("alice", DOMAIN, ALICE_PW).status == 200


def test_ctl_block_list_and_del(sipwarden):
    d = sipwarden(auth=dict(LIMITS, block_time=600))
    fail_until_blocked(d, "127.0.0.2")
    deadline = time.monotonic() + 5
    while "127.0.0.2" not in d.ctl("block", "list").stdout and time.monotonic() < deadline:
        time.sleep(0.2)
    listing = d.ctl("block", "list").stdout
    assert "127.0.0.2" in listing and "alice" in listing, listing
    d.ctl("block", "del", "127.0.0.2", "alice")
    deadline = time.monotonic() + 5
    status = None
    while time.monotonic() < deadline:
        with client_from(d, "127.0.0.2") as c:
            status = c.register("alice", DOMAIN, ALICE_PW).status
        if status == 200:
            break
        time.sleep(0.5)
    assert status == 200, "a block lifted with sipwarden-ctl is still in force"
    assert 'security event=unblocked src=127.0.0.2 user="alice" reason=admin' in d.log_text()


def fail2ban_regexes():
    """The filter's failregex lines as Python regexes (<HOST> -> (?P<host>\\S+))."""
    cp = configparser.RawConfigParser()
    cp.read(REPO / "contrib" / "fail2ban" / "filter.d" / "sipwarden.conf")
    lines = [l.strip() for l in cp.get("Definition", "failregex").splitlines() if l.strip()]
    assert lines
    return [re.compile(l.replace("<HOST>", r"(?P<host>\S+)")) for l in lines]


def test_fail2ban_filter_matches_real_lines(sipwarden):
    assert (REPO / "contrib" / "fail2ban" / "jail.d" / "sipwarden.local").exists()
    d = sipwarden(auth=LIMITS)
    with client_from(d, "127.0.0.3") as c:
        # a hostile user name cannot smuggle another address into the line
        c.register("alice", DOMAIN, "x", auth_user="x src=6.6.6.6 user=y")
    fail_until_blocked(d, "127.0.0.2")
    regexes = fail2ban_regexes()
    hosts = []
    for line in d.log_text().splitlines():
        # fail2ban cuts the timestamp out before applying failregex
        # (test_auth_fail2ban.py runs the real fail2ban-regex)
        rest = line.split(" ", 1)[-1]
        for rx in regexes:
            m = rx.search(rest)
            if m:
                hosts.append(m.group("host"))
    assert "127.0.0.2" in hosts and "127.0.0.3" in hosts, hosts
    assert set(hosts) <= {"127.0.0.2", "127.0.0.3"}, hosts
    assert hosts.count("127.0.0.2") >= 5  # the failures and the block
