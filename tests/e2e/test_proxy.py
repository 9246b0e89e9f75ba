"""The authenticating proxy end to end (RFC 3261 §16, §17, §22.3; seed 001 route[AUTH]).

Callers are SIPp (tests/e2e/sipp/uac_*.xml) or the suite's raw client; callees
are SIPp UAS processes (uas_*.xml) or a raw UDP socket when a test must read
exactly what the proxy forwarded. Every callee registers through the daemon
with a Contact naming its own port.
"""

import socket
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from conftest import DOMAIN, PASSWORDS, free_port, require_tool
from sipclient import Message, SipClient, authorization_value, rand_token

SCENARIOS = Path(__file__).resolve().parent / "sipp"
SIPP_TIMEOUT = 60


# ---------------------------------------------------------------- helpers

@pytest.fixture
def daemon(sipwarden, tmp_path):
    """Default users; MD5 and qop=auth only, the digest SIPp 3.6 answers."""
    conf = tmp_path / "proxy.conf"
    conf.write_text("[auth]\nalgorithms = MD5\nqop = auth\n")
    return sipwarden(args=["--config", str(conf)])


def register_contact(daemon, user, port, host="127.0.0.1"):
    with daemon.client() as c:
        r = c.register(user, DOMAIN, PASSWORDS[(user, DOMAIN)],
                       contacts=["<sip:%s@%s:%d>" % (user, host, port)])
        assert r is not None and r.status == 200, r


def write_csv(path, caller, callee, password=None):
    password = password or PASSWORDS[(caller, DOMAIN)]
    path.write_text("SEQUENTIAL\n%s;%s;[authentication username=%s password=%s];%s\n"
                    % (caller, DOMAIN, caller, password, callee))


def start_uas(daemon, scenario, port, calls=1):
    sipp = require_tool("sipp")
    log = open(daemon.dir / ("uas_%s_%d.log" % (scenario, port)), "w")
    cmd = [sipp, "-sf", str(SCENARIOS / (scenario + ".xml")), "-i", "127.0.0.1",
           "-p", str(port), "-mp", str(free_port()), "-m", str(calls), "-t", "u1",
           "-nostdin", "-timeout", "40s", "-timeout_error", "-trace_err",
           "-error_file", str(daemon.dir / ("uas_%d_err.log" % port))]
    return subprocess.Popen(cmd, cwd=daemon.dir, stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL)


def stop(proc, timeout=15):
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
        return None


def run_uac(daemon, scenario, csv, calls=1, rate=10, limit=None, timeout_s=30, callee="bob"):
    sipp = require_tool("sipp")
    port = free_port()
    stat = daemon.dir / ("uac_%s_%d.csv" % (scenario, port))
    errors = daemon.dir / ("uac_%s_%d_err.log" % (scenario, port))
    cmd = [sipp, "127.0.0.1:%d" % daemon.port, "-sf", str(SCENARIOS / (scenario + ".xml")),
           "-inf", str(csv), "-auth_uri", "%s@%s" % (callee, DOMAIN), "-t", "u1", "-i", "127.0.0.1", "-p", str(port),
           "-mp", str(free_port()), "-m", str(calls), "-r", str(rate),
           "-timeout", "%ds" % timeout_s, "-timeout_error", "-nostdin",
           "-trace_stat", "-stf", str(stat), "-trace_err", "-error_file", str(errors)]
    if limit:
        cmd += ["-l", str(limit)]
    t0 = time.monotonic()
    p = subprocess.run(cmd, cwd=daemon.dir, capture_output=True, text=True, timeout=SIPP_TIMEOUT)
    elapsed = time.monotonic() - t0
    stats = {}
    if stat.exists():
        rows = [ln for ln in stat.read_text().splitlines() if ln.strip()]
        if len(rows) >= 2:
            stats = dict(zip(rows[0].split(";"), rows[-1].split(";")))
    err = errors.read_text("utf-8", "replace")[-3000:] if errors.exists() else ""
    info = "sipp exit %d\ncmd: %s\nstdout:\n%s\nerrors:\n%s" % (
        p.returncode, " ".join(cmd), p.stdout[-2500:], err)
    return p.returncode, stats, elapsed, info


class RawUas:
    """A UDP socket standing in for a phone: reads requests, answers them."""

    def __init__(self, host="127.0.0.1"):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.port = self.sock.getsockname()[1]

    def recv(self, timeout=3.0):
        self.sock.settimeout(timeout)
        while True:
            try:
                data, src = self.sock.recvfrom(65535)
            except socket.timeout:
                return None
            if data.strip():
                return Message(data, src)

    def answer(self, req, code, reason, tag="uas1"):
        to = req.get("to") + ("" if "tag=" in req.get("to") else ";tag=" + tag)
        lines = ["SIP/2.0 %d %s" % (code, reason)]
        lines += ["Via: %s" % v for v in req.get_all("via")]
        lines += ["Record-Route: %s" % v for v in req.get_all("record-route")]
        lines += ["From: %s" % req.get("from"), "To: %s" % to, "Call-ID: %s" % req.get("call-id"),
                  "CSeq: %s" % req.get("cseq"), "Content-Length: 0", "", ""]
        self.sock.sendto("\r\n".join(lines).encode(), req.source)

    def close(self):
        self.sock.close()


def invite_bytes(c, caller, callee, cseq=1, call_id=None, headers=(), from_uri=None, via=None,
                 callee_domain=DOMAIN):
    ruri = "sip:%s@%s" % (callee, callee_domain)
    return c.build("INVITE", ruri, ruri, from_uri=from_uri or "sip:%s@%s" % (caller, DOMAIN),
                   call_id=call_id, cseq=cseq, contacts=["<sip:%s@%s>" % (caller, c.local_hostport)],
                   headers=headers, via=via)


def authed_invite(c, caller, callee, password=None, auth_user=None, headers=(), from_uri=None,
                  call_id=None, via=None):
    """Send an INVITE, expect 407, answer it; return (first response, bytes sent second)."""
    call_id = call_id or rand_token(8) + "@proxy.test"
    first = c.transact(invite_bytes(c, caller, callee, 1, call_id, headers, from_uri))
    assert first is not None and first.status == 407, first
    ch = first.challenges("proxy-authenticate")
    assert ch, first.raw
    ruri = "sip:%s@%s" % (callee, DOMAIN)
    auth = authorization_value(ch[-1] if ch[-1].get("algorithm", "MD5").upper() == "MD5" else ch[0],
                               auth_user or caller, password or PASSWORDS[(auth_user or caller, DOMAIN)],
                               "INVITE", ruri)
    data = invite_bytes(c, caller, callee, 2, call_id, list(headers) + ["Proxy-Authorization: " + auth],
                        from_uri, via=via)
    c.send_raw(data)
    return first, data


def final(c, timeout=3.0, cseq="2"):
    """The next final response to CSeq cseq (retransmitted 407s of CSeq 1 skipped)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = c.recv(deadline - time.monotonic())
        if m is None:
            return None
        if m.status and m.status >= 200 and (m.get("cseq") or "").split()[0] == cseq:
            return m
    return None


# ---------------------------------------------------------------- SIPp flows

def test_call_challenged_answered_and_hung_up(daemon):
    """alice's INVITE gets 407, the answer is relayed to bob (SIPp UAS), 200/ACK/BYE complete."""
    uas_port = free_port()
    register_contact(daemon, "bob", uas_port)
    uas = start_uas(daemon, "uas_answer", uas_port, calls=1)
    time.sleep(0.3)
    csv = daemon.dir / "call.csv"
    write_csv(csv, "alice", "bob")
    rc, stats, _, info = run_uac(daemon, "uac_auth_call", csv, calls=1, rate=1)
    assert rc == 0, info
    assert int(stats.get("SuccessfulCall(C)", -1)) == 1, info
    assert stop(uas) == 0, (daemon.dir / ("uas_uas_answer_%d.log" % uas_port)).read_text()[-2000:]


def test_cancel_before_answer(daemon):
    """A CANCEL while bob rings reaches bob; alice gets 200 for the CANCEL and 487."""
    uas_port = free_port()
    register_contact(daemon, "bob", uas_port)
    uas = start_uas(daemon, "uas_cancel", uas_port, calls=1)
    time.sleep(0.3)
    csv = daemon.dir / "cancel.csv"
    write_csv(csv, "alice", "bob")
    rc, stats, _, info = run_uac(daemon, "uac_auth_cancel", csv, calls=1, rate=1)
    assert rc == 0, info
    assert stop(uas) == 0


def test_forking_to_two_contacts(daemon):
    """bob has two contacts: both ring in parallel; one answers, the other is cancelled."""
    p1, p2 = free_port(), free_port()
    with daemon.client() as c:
        r = c.register("bob", DOMAIN, PASSWORDS[("bob", DOMAIN)],
                       contacts=["<sip:bob@127.0.0.1:%d>" % p1, "<sip:bob@127.0.0.1:%d>" % p2])
        assert r.status == 200
    ringing = start_uas(daemon, "uas_cancel", p2, calls=1)
    answering = start_uas(daemon, "uas_answer", p1, calls=1)
    time.sleep(0.3)
    csv = daemon.dir / "fork.csv"
    write_csv(csv, "alice", "bob")
    rc, stats, _, info = run_uac(daemon, "uac_auth_call", csv, calls=1, rate=1)
    assert rc == 0, info
    assert stop(answering) == 0
    assert stop(ringing) == 0, "the ringing branch was not cancelled"


def test_calls_per_second(daemon, capsys):
    """Sustained authenticated calls through the proxy to a SIPp UAS; prints the rate reached."""
    uas_port = free_port()
    register_contact(daemon, "bob", uas_port)
    calls = 200
    uas = start_uas(daemon, "uas_answer", uas_port, calls=calls)
    time.sleep(0.3)
    csv = daemon.dir / "rate.csv"
    write_csv(csv, "alice", "bob")
    rc, stats, elapsed, info = run_uac(daemon, "uac_auth_call", csv, calls=calls, rate=100, limit=200)
    ok = int(stats.get("SuccessfulCall(C)", -1))
    stop(uas, timeout=20)
    with capsys.disabled():
        print("\nproxy: %d/%d calls in %.1f s (%.0f calls/s incl. 200 ms hold)" % (ok, calls, elapsed,
                                                                                 ok / elapsed))
    assert rc == 0, info
    assert ok == calls, info


def handed_over(daemon):
    r = daemon.ctl("status")
    assert r.returncode == 0, r.stderr
    line = [l for l in r.stdout.splitlines() if l.startswith("responses_handed_over=")]
    assert line, r.stdout
    return int(line[0].split("=", 1)[1])


def call_rounds(daemon, csv, scenario, rounds, until=None):
    """rounds x 10 calls alice -> bob, bob a SIPp callee on a new port each
    round (so its address hashes to any worker); every call must complete.
    Stops early once until() holds."""
    for round_ in range(rounds):
        uas_port = free_port()
        with daemon.client() as c:
            r = c.register("bob", DOMAIN, PASSWORDS[("bob", DOMAIN)], contacts=["*"], expires=0)
            assert r is not None and r.status == 200, r
        register_contact(daemon, "bob", uas_port)
        uas = start_uas(daemon, scenario, uas_port, calls=10)
        time.sleep(0.3)
        rc, stats, _, info = run_uac(daemon, "uac_auth_call", csv, calls=10, rate=20)
        assert rc == 0, "round %d\n%s" % (round_, info)
        assert int(stats.get("SuccessfulCall(C)", -1)) == 10, info
        assert stop(uas) == 0, (daemon.dir / ("uas_%s_%d.log" % (scenario, uas_port))).read_text()[-2000:]
        if until and until():
            return


def test_responses_reach_the_owning_worker(sipwarden, tmp_path):
    """Four workers, callees on new ports. The callee's responses carry the
    owning worker in our branch, and the kernel delivers them straight to
    that worker (response steering): nothing is handed over, where the
    address hash alone would send most of them elsewhere. Responses whose
    Via comes after a long header are beyond the steering's reach: they
    arrive wherever the hash puts them and are handed to the owner (counted),
    and every call still completes."""
    conf = tmp_path / "proxy4.conf"
    conf.write_text("[server]\nworkers = 4\n[auth]\nalgorithms = MD5\nqop = auth\n")
    daemon = sipwarden(args=["--config", str(conf)])
    csv = daemon.dir / "owner.csv"
    write_csv(csv, "alice", "bob")
    call_rounds(daemon, csv, "uas_answer", 4)
    assert handed_over(daemon) == 0
    # Each round's callee hashes to the owner with chance 1/4; eight rounds
    # without a single hand-off would be a 1 in 65,536 event.
    call_rounds(daemon, csv, "uas_answer_late_via", 8, until=lambda: handed_over(daemon) > 0)
    assert handed_over(daemon) > 0


# ---------------------------------------------------------------- refusals

def test_wrong_password_is_challenged_again(daemon):
    with daemon.client() as c:
        first, _ = authed_invite(c, "alice", "bob", password="not-the-password")
        r = final(c)
        assert r is not None and r.status == 407, r


def test_spoofed_from_is_forbidden(daemon):
    """Credentials of alice with From bob: 403 Forbidden auth ID."""
    with daemon.client() as c:
        authed_invite(c, "bob", "alice", auth_user="alice")
        r = final(c)
        assert r is not None and r.status == 403, r
        assert r.reason == "Forbidden auth ID"


def test_open_relay_refused(daemon):
    with daemon.client() as c:
        data = invite_bytes(c, "mallory", "victim", from_uri="sip:mallory@evil.example.net",
                            callee_domain="elsewhere.example.org")
        r = c.transact(data)
        assert r is not None and r.status == 403 and r.reason == "Not relaying", r


def test_outsider_cannot_tell_unknown_from_unregistered(daemon):
    with daemon.client() as c:
        for callee in ("bob", "nobody"):
            r = c.transact(invite_bytes(c, "x", callee, from_uri="sip:x@outside.example.net"))
            assert r is not None and r.status == 404, (callee, r)
        # an authenticated local caller learns the difference
        authed_invite(c, "alice", "bob")
        r = final(c)
        assert r is not None and r.status == 480, r
        authed_invite(c, "alice", "nobody")
        r = final(c)
        assert r is not None and r.status == 404, r


# ---------------------------------------------------------------- transactions

def test_retransmitted_invite_is_absorbed(daemon):
    bob = RawUas()
    try:
        register_contact(daemon, "bob", bob.port)
        with daemon.client() as c:
            via = c.via()
            _, data = authed_invite(c, "alice", "bob", via=via)
            inv = bob.recv()
            assert inv is not None and inv.method == "INVITE"
            bob.answer(inv, 180, "Ringing")
            c.send_raw(data)  # the caller retransmits
            c.send_raw(data)
            assert bob.recv(timeout=1.5) is None, "a retransmission went through"
            bob.answer(inv, 486, "Busy Here")
            r = final(c)
            assert r is not None and r.status == 486, r
            ack = bob.recv()
            assert ack is not None and ack.method == "ACK", "no hop-by-hop ACK for the 486"
    finally:
        bob.close()


def ack_of_non2xx(invite, to_tag, branch):
    """The ACK of a non-2xx answer to the INVITE bytes (RFC 3261 §17.1.1.3), with
    the given top Via branch (the INVITE's, or another as some clients send)."""
    head = invite.decode().split("\r\n\r\n")[0].split("\r\n")
    out = ["ACK " + head[0].split(" ", 1)[1]]
    for ln in head[1:]:
        name = ln.split(":", 1)[0].strip().lower()
        if name == "via":
            out.append(ln.split("branch=")[0] + "branch=" + branch + ";rport")
        elif name in ("from", "call-id", "max-forwards"):
            out.append(ln)
        elif name == "to":
            out.append(ln + ";tag=" + to_tag)
        elif name == "cseq":
            out.append("CSeq: %s ACK" % ln.split(":", 1)[1].split()[0])
    return ("\r\n".join(out + ["Content-Length: 0", "", ""])).encode()


def test_challenge_is_stateless(daemon):
    """RFC 3261 §8.2.7: the 407 to an INVITE without credentials keeps no
    transaction: it is not retransmitted while no ACK comes, a retransmitted
    INVITE gets a 407 of its own, and the ACK (whatever its branch) is
    ignored, never relayed to the callee."""
    bob = RawUas()
    try:
        register_contact(daemon, "bob", bob.port)
        with daemon.client() as c:
            call_id = rand_token(8) + "@stateless.test"
            data = invite_bytes(c, "alice", "bob", 1, call_id)
            first = c.transact(data, call_id=call_id, cseq=1)
            assert first is not None and first.status == 407, first
            # no ACK: a transaction would resend the 407 at 500 ms (timer G)
            m = c.recv(1.3)
            assert m is None, "407 retransmitted: %s" % (m and m.start_line)
            again = c.transact(data, call_id=call_id, cseq=1)
            assert again is not None and again.status == 407, again
            assert again.get("to") == first.get("to")  # the same To tag every time
            assert again.challenges("proxy-authenticate"), again.raw
            tag = first.get("to").split("tag=")[1]
            invite_branch = first.top_via_params()["branch"]
            for branch in (invite_branch, "z9hG4bKother" + rand_token(6)):
                c.send_raw(ack_of_non2xx(data, tag, branch))
            # an INVITE aimed at bob's phone itself: its ACK would be relayed
            # there if it were not known as the ACK of our own 407
            to_phone = rand_token(8) + "@stateless.test"
            direct = c.build("INVITE", "sip:bob@127.0.0.1:%d" % bob.port, "sip:bob@%s" % DOMAIN,
                             from_uri="sip:alice@%s" % DOMAIN, call_id=to_phone, cseq=1,
                             contacts=["<sip:alice@%s>" % c.local_hostport])
            r = c.transact(direct, call_id=to_phone, cseq=1)
            assert r is not None and r.status == 407, r
            c.send_raw(ack_of_non2xx(direct, r.get("to").split("tag=")[1], r.top_via_params()["branch"]))
            assert bob.recv(timeout=1.0) is None, "an ACK of our 407 reached bob"
            assert c.recv(0.3) is None, "the ACK was answered"
    finally:
        bob.close()


def test_indialog_refusal_is_stateless(daemon):
    """An in-dialog re-INVITE naming none of our Route entries gets 403 Not
    relaying without a transaction: the 403 is not resent while no ACK
    comes (a transaction would resend it at 500 ms, timer G), a resend of
    the INVITE gets the same answer, and the ACK is answered by nothing and
    relayed nowhere, not even to the local phone it names."""
    bob = RawUas()
    try:
        register_contact(daemon, "bob", bob.port)
        indialog_refusal(daemon, bob)
    finally:
        bob.close()


def indialog_refusal(daemon, bob):
    with daemon.client() as c:
        call_id = rand_token(8) + "@indialog.test"
        data = c.build("INVITE", "sip:bob@127.0.0.1:%d" % bob.port, "sip:bob@%s" % DOMAIN,
                       from_uri="sip:mallory@evil.example.net", call_id=call_id, cseq=7,
                       contacts=["<sip:mallory@%s>" % c.local_hostport])
        plain = data
        data = data.replace(b"To: <sip:bob@%s>" % DOMAIN.encode(), b"To: <sip:bob@%s>;tag=theirs1" % DOMAIN.encode())
        first = c.transact(data, call_id=call_id, cseq=7)
        assert first is not None and (first.status, first.reason) == (403, "Not relaying"), first
        assert first.get("to").endswith("tag=theirs1"), first.get("to")
        m = c.recv(1.3)
        assert m is None, "403 retransmitted: %s" % (m and m.start_line)
        again = c.transact(data, call_id=call_id, cseq=7)
        assert again is not None and (again.status, again.reason) == (403, "Not relaying"), again
        c.send_raw(ack_of_non2xx(plain, "theirs1", first.top_via_params()["branch"]))
        assert c.recv(0.3) is None, "the ACK was answered"
        assert bob.recv(timeout=1.0) is None, "the ACK of our 403 reached bob"


def test_refusals_keep_no_transaction(daemon):
    """Answers decided before any branch starts (an unknown callee, a relay
    attempt) go without a transaction and without a 100 Trying first: the
    final answer is the first thing sent, it is not resent while no ACK
    comes (timer G), and a resent INVITE is answered again the same way. A
    call that is forwarded still gets its 100 Trying at once."""
    with daemon.client() as c:
        for callee, domain, status in (("nobody", DOMAIN, 404), ("victim", "elsewhere.example.org", 403)):
            call_id = rand_token(8) + "@refusal.test"
            data = invite_bytes(c, "mallory", callee, 1, call_id, from_uri="sip:mallory@evil.example.net",
                                callee_domain=domain)
            c.send_raw(data)
            first = c.recv(2.0)
            assert first is not None and first.status == status, first and first.start_line
            m = c.recv(1.3)
            assert m is None, "%d resent or more sent: %s" % (status, m and m.start_line)
            again = c.transact(data, call_id=call_id, cseq=1)
            assert again is not None and again.status == status, again
            assert again.get("to") == first.get("to")
            c.send_raw(ack_of_non2xx(data, first.get("to").split("tag=")[1], first.top_via_params()["branch"]))
            assert c.recv(0.3) is None, "the ACK was answered"
    bob = RawUas()
    try:
        register_contact(daemon, "bob", bob.port)
        with daemon.client() as c:
            authed_invite(c, "alice", "bob")
            trying = c.recv(2.0)
            assert trying is not None and trying.status == 100, trying and trying.start_line
            inv = bob.recv()
            assert inv is not None and inv.method == "INVITE"
            bob.answer(inv, 486, "Busy Here")
            r = final(c)
            assert r is not None and r.status == 486, r
    finally:
        bob.close()


def test_credentials_consumed_and_record_routed(daemon):
    bob = RawUas()
    try:
        register_contact(daemon, "bob", bob.port)
        with daemon.client() as c:
            other = 'Digest username="a", realm="other.example", nonce="n", uri="sip:x", response="0"'
            authed_invite(c, "alice", "bob", headers=["Proxy-Authorization: " + other])
            inv = bob.recv()
            assert inv is not None
            pa = inv.get_all("proxy-authorization")
            assert pa == [other], pa
            assert any(";lr" in v for v in inv.get_all("record-route"))
            assert inv.get("max-forwards") == "69"
            bob.answer(inv, 603, "Decline")
            r = final(c)
            assert r is not None and r.status == 603
    finally:
        bob.close()


# ---------------------------------------------------------------- identity

def test_privacy_makes_the_caller_anonymous(daemon):
    bob = RawUas()
    try:
        register_contact(daemon, "bob", bob.port)
        with daemon.client() as c:
            _, data = authed_invite(c, "alice", "bob", headers=["Privacy: id"])
            sent = Message(data)
            inv = bob.recv()
            assert inv is not None
            frm = inv.get("from")
            assert frm.startswith('"Anonymous" <sip:anonymous@anonymous.invalid>'), frm
            assert sent.get("from").split("tag=")[1] in frm, "the From tag must stay"
            assert "alice" not in inv.raw.decode().split("\r\n\r\n")[0].lower().replace(
                "contact: <sip:alice", ""), inv.raw
            assert inv.get("p-asserted-identity") is None
            bob.answer(inv, 480, "Gone")
    finally:
        bob.close()


def test_rpid_replaces_caller_id(daemon):
    con = sqlite3.connect(str(daemon.db))
    con.execute("UPDATE subscriber SET rpid=? WHERE username='alice'",
                ('"Alice Smith" <sip:+15551234@example.com>',))
    con.commit()
    con.close()
    bob = RawUas()
    try:
        register_contact(daemon, "bob", bob.port)
        with daemon.client() as c:
            authed_invite(c, "alice", "bob")
            inv = bob.recv()
            assert inv is not None
            assert inv.get("from").startswith('"Alice Smith" <sip:+15551234@example.com>;tag='), inv.get("from")
            bob.answer(inv, 486, "Busy")
    finally:
        bob.close()


# ---------------------------------------------------------------- trusted peers

def test_trusted_peer_is_not_challenged(sipwarden, tmp_path):
    conf = tmp_path / "trusted.conf"
    conf.write_text("[proxy]\ntrusted = 127.0.0.2/32 name=gw1\n[auth]\nalgorithms = MD5\n")
    d = sipwarden(args=["--config", str(conf)])
    bob = RawUas()
    try:
        register_contact(d, "bob", bob.port)
        with SipClient("127.0.0.1", d.port) as c:  # not trusted: challenged
            r = c.transact(invite_bytes(c, "alice", "bob"))
            assert r is not None and r.status == 407
        gw = SipClient("127.0.0.1", d.port)
        gw.sock.close()
        gw.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        gw.sock.bind(("127.0.0.2", 0))
        gw.local_ip, gw.local_port = gw.sock.getsockname()[:2]
        try:
            gw.send_raw(invite_bytes(gw, "alice", "bob"))
            inv = bob.recv()
            assert inv is not None and inv.method == "INVITE", "trusted peer's INVITE not relayed"
            bob.answer(inv, 486, "Busy Here")
            r = final(gw, cseq="1")
            assert r is not None and r.status == 486, r
        finally:
            gw.close()
        assert "gw1" in d.log_text()
    finally:
        bob.close()


# ---------------------------------------------------------------- guests

def guest_invite(c, callee):
    return c.transact(invite_bytes(c, "carol", callee, from_uri="sip:carol@other.example.net"))


def test_guest_reaches_local_user_by_default(daemon):
    """allow_guest = yes (default): a caller from another domain reaches a local user unchallenged."""
    bob = RawUas()
    try:
        register_contact(daemon, "bob", bob.port)
        with daemon.client() as c:
            c.send_raw(invite_bytes(c, "carol", "bob", from_uri="sip:carol@other.example.net"))
            inv = bob.recv()
            assert inv is not None and inv.method == "INVITE", "guest INVITE not relayed"
            bob.answer(inv, 486, "Busy Here")
            r = final(c, cseq="1")
            assert r is not None and r.status == 486, r
    finally:
        bob.close()


def test_guests_refused_when_not_allowed(sipwarden, tmp_path):
    """allow_guest = no: guests get one 403 whoever they call; local users and trusted peers still get through."""
    conf = tmp_path / "noguest.conf"
    conf.write_text("[proxy]\nallow_guest = no\ntrusted = 127.0.0.2/32 name=gw1\n"
                    "[auth]\nalgorithms = MD5\nqop = auth\n")
    d = sipwarden(args=["--config", str(conf)])
    bob = RawUas()
    try:
        register_contact(d, "bob", bob.port)
        with d.client() as g:
            for callee in ("bob", "nobody"):  # registered, unknown: the same answer
                r = guest_invite(g, callee)
                assert r is not None and (r.status, r.reason) == (403, "Guests Not Allowed"), (callee, r)
            assert bob.recv(timeout=0.5) is None, "a guest's INVITE reached the phone"
        with d.client() as c:  # its own socket: no 403 retransmissions in the way
            # a local caller still proves who it is and gets through
            authed_invite(c, "alice", "bob")
            inv = bob.recv()
            assert inv is not None and inv.method == "INVITE", "authenticated INVITE not relayed"
            bob.answer(inv, 486, "Busy Here")
            r = final(c)
            assert r is not None and r.status == 486, r
            ack = bob.recv()  # the proxy's hop-by-hop ACK for the 486
            assert ack is not None and ack.method == "ACK", ack
        gw = SipClient("127.0.0.1", d.port)
        gw.sock.close()
        gw.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        gw.sock.bind(("127.0.0.2", 0))
        gw.local_ip, gw.local_port = gw.sock.getsockname()[:2]
        try:
            gw.send_raw(invite_bytes(gw, "carol", "bob", from_uri="sip:carol@other.example.net"))
            inv = bob.recv()
            assert inv is not None and inv.method == "INVITE", "trusted peer's INVITE not relayed"
            bob.answer(inv, 486, "Busy Here")
            r = final(gw, cseq="1")
            assert r is not None and r.status == 486, r
        finally:
            gw.close()
    finally:
        bob.close()
