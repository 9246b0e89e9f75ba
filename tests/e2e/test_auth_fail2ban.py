"""The shipped fail2ban filter against the real daemon's log, read by the real
fail2ban-regex (the fail2ban service is never started): wrong passwords,
unknown users, a hostile user name and a block give security events; every
failure event (auth_failed, blocked) is matched once, with the right host and
time, and nothing else is (account_refused after a right password, replays).
Loopback only: sources 127.0.0.2 / .3 / .4 are client sockets bound to them."""

import re
import subprocess
import time

from conftest import DOMAIN, PASSWORDS, REPO, require_tool
from sipclient import SipClient

ALICE_PW = PASSWORDS[("alice", DOMAIN)]
BOB_PW = PASSWORDS[("bob", DOMAIN)]
FILTER = REPO / "contrib" / "fail2ban" / "filter.d" / "sipwarden.conf"
LIMITS = {"max_failures": 4, "max_source_failures": 30, "failure_window": 60, "block_time": 60}
FAILURE_EVENT = re.compile(r" security event=(auth_failed|blocked) src=(\S+) ")


def client_from(d, ip):
    return SipClient(d.host, d.port, "udp", timeout=2.0, bind_ip=ip)


def fail_until_blocked(d, ip, user, limit=12):
    """Wrong answers from ip until 403 (bounded); a slowed attempt gets no answer and is retried a second later."""
    with client_from(d, ip) as c:
        for _ in range(limit):
            r = c.register(user, DOMAIN, "wrong-password", timeout=1.2)
            if r is None:
                time.sleep(1.05)
                continue
            if r.status == 403:
                return r
            assert r.status == 401, r.start_line
    raise AssertionError("no block after %d wrong answers\n%s" % (limit, d.log_tail()))


def fail2ban_regex(log, *opts):
    exe = require_tool("fail2ban-regex")
    r = subprocess.run([exe] + list(opts) + [str(log), str(FILTER)], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, "fail2ban-regex failed (%d)\n%s\n%s" % (r.returncode, r.stdout, r.stderr)
    return r.stdout


def test_fail2ban_regex_counts_every_failure_with_its_host(sipwarden):
    require_tool("fail2ban-regex")
    d = sipwarden(auth=LIMITS, disabled=(("bob", DOMAIN),))
    t_start = int(time.time()) - 1
    with client_from(d, "127.0.0.3") as c:
        assert c.register("alice", DOMAIN, "wrong").status == 401           # wrong password
        assert c.register("nobody", DOMAIN, "whatever").status == 401       # unknown user
        # a hostile user name cannot smuggle another address into the line
        assert c.register("alice", DOMAIN, "x", auth_user="x src=6.6.6.6 user=y").status == 401
    with client_from(d, "127.0.0.4") as c:
        # right password, disabled account: a security event, but no failure to ban for
        assert c.register("bob", DOMAIN, BOB_PW).status == 403
    with client_from(d, "127.0.0.2") as c:
        assert c.register("ghost", DOMAIN, "x").status == 401
    fail_until_blocked(d, "127.0.0.2", "alice")
    t_end = int(time.time()) + 1

    log = d.log_path
    lines = log.read_text("utf-8", "replace").splitlines()
    events = [m.group(2) for m in map(FAILURE_EVENT.search, lines) if m]
    assert events.count("127.0.0.3") == 3, events
    assert events.count("127.0.0.2") >= 5, events  # ghost, four wrong answers, the block
    assert any("event=blocked src=127.0.0.2 " in l for l in lines)
    assert any("event=account_refused src=127.0.0.4 " in l for l in lines)

    summary = fail2ban_regex(log)
    total = re.search(r"^Failregex: (\d+) total", summary, re.M)
    matched = re.search(r"^Lines: \d+ lines, \d+ ignored, (\d+) matched", summary, re.M)
    assert total and matched, summary
    print("failure events in the log: %d; fail2ban-regex: %s total, %s lines matched"
          % (len(events), total.group(1), matched.group(1)))
    assert int(total.group(1)) == len(events), summary
    assert int(matched.group(1)) == len(events), summary

    # One row per match: [host, time, {...}], in log order.
    rows = re.findall(r"^\['([^']+)',\s*(\d+)", fail2ban_regex(log, "-o", "row"), re.M)
    assert [h for h, _ in rows] == events, (rows, events)
    assert all(t_start <= int(t) <= t_end for _, t in rows), (rows, t_start, t_end)
    assert "6.6.6.6" not in [h for h, _ in rows]
