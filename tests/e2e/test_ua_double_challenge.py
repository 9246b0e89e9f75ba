"""Two realms on one call path (seed 000, RFC 3261 §22.3): sipwarden challenges
alice's INVITE with 407 (realm example.com), the callee, a SIPp UAS registered
as bob (sipp/uas_double_auth.xml), challenges it again with 401 (realm
bobrealm). sipwarden-ua must put both answers in one re-sent INVITE;
sipwarden consumes its Proxy-Authorization and forwards the Authorization,
which the UAS verifies before answering 200 (alice over UDP, and over TLS to
sipwarden with a certificate from scripts/make-cert). The scenario itself is checked
too: it refuses a missing or wrong Authorization and a leaked
Proxy-Authorization, and SIPp's exit code then says so."""

import subprocess
import time
from pathlib import Path

import pytest

from conftest import DOMAIN, PASSWORDS, binary, free_port, require_tool
from sipclient import SipClient, authorization_value, rand_token

SCENARIO = Path(__file__).resolve().parent / "sipp" / "uas_double_auth.xml"
MAKE_CERT = Path(__file__).resolve().parents[2] / "scripts" / "make-cert"
ALICE_PW = PASSWORDS[("alice", DOMAIN)]
BOB_SIDE_PW = "bob-side-secret"  # what the scenario verifies for user alice, realm bobrealm


def start_uas(workdir, port):
    sipp = require_tool("sipp")
    log = open(Path(workdir) / ("uas_double_auth_%d.log" % port), "w")
    cmd = [sipp, "-sf", str(SCENARIO), "-i", "127.0.0.1", "-p", str(port), "-mp", str(free_port()),
           "-m", "1", "-t", "u1", "-nostdin", "-timeout", "30s", "-timeout_error", "-trace_err",
           "-error_file", str(Path(workdir) / ("uas_double_auth_%d_err.log" % port))]
    proc = subprocess.Popen(cmd, cwd=workdir, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    log.close()
    return proc


def uas_result(proc, workdir, port, timeout=20):
    """SIPp's exit code and its log (for messages); kills it when it hangs."""
    try:
        rc = proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
        rc = None
    text = ""
    for name in ("uas_double_auth_%d.log" % port, "uas_double_auth_%d_err.log" % port):
        p = Path(workdir) / name
        if p.exists():
            text += p.read_text("utf-8", "replace")[-2000:]
    return rc, text


def wait_listening(port, timeout=5.0):
    """Wait until SIPp has bound its UDP port (read from /proc/net/udp: probing it
    with a request would count as an unexpected message in the scenario)."""
    want = ":%04X" % port
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open("/proc/net/udp") as f:
            if any(line.split()[1].endswith(want) for line in f.readlines()[1:]):
                return
        time.sleep(0.05)
    pytest.fail("SIPp did not bind port %d" % port)


def register_bob(daemon, port):
    with daemon.client() as c:
        r = c.register("bob", DOMAIN, PASSWORDS[("bob", DOMAIN)], contacts=["<sip:bob@127.0.0.1:%d>" % port])
        assert r is not None and r.status == 200, r


def call(daemon, bob_side_pw, trace=True, tls=None):
    """alice calls bob through the daemon; tls=(port, ca file) for TLS to the daemon."""
    server = ["--server", "127.0.0.1:%d" % daemon.port]
    if tls:
        server = ["--server", "127.0.0.1:%d" % tls[0], "--transport", "tls", "--tls-ca", str(tls[1])]
    cmd = [str(binary("sipwarden-ua")), "call", "--user", "alice@%s" % DOMAIN, "--password", ALICE_PW,
           "--realm-credentials", "bobrealm=alice:%s" % bob_side_pw] + server + [
           "--to", "sip:bob@%s" % DOMAIN, "--timeout", "8", "--hold", "0.2"] + (["--trace"] if trace else [])
    return subprocess.run(cmd, capture_output=True, text=True, timeout=40)


def sent_invites(stderr):
    out = [m.split("---- received ----")[0] for m in stderr.split("---- sent ----\n")[1:]]
    return [m for m in out if m.startswith("INVITE ")]


def auth_lines(msg, name):
    return [l for l in msg.splitlines() if l.lower().startswith(name.lower() + ":")]


def tls_daemon(sipwarden, tmp_path):
    """A daemon with a tls: listen address and a certificate from scripts/make-cert."""
    r = subprocess.run([str(MAKE_CERT), str(tmp_path / "tls"), "localhost"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    crt, key = tmp_path / "tls" / "localhost.crt", tmp_path / "tls" / "localhost.key"
    port = free_port()
    d = sipwarden(args=["--listen", "tls:127.0.0.1:%d" % port, "--tls-cert", str(crt), "--tls-key", str(key)])
    return d, (port, crt)


@pytest.mark.parametrize("transport", ["udp", "tls"])
def test_double_challenge_answered_in_one_invite(sipwarden, tmp_path, transport):
    """alice reaches sipwarden over UDP or TLS; the callee leg is UDP either way."""
    if transport == "tls":
        require_tool("openssl")
        d, tls = tls_daemon(sipwarden, tmp_path)
    else:
        d, tls = sipwarden(), None
    port = free_port()
    uas = start_uas(d.dir, port)
    try:
        wait_listening(port)
        register_bob(d, port)
        r = call(d, BOB_SIDE_PW, tls=tls)
    finally:
        rc, log = uas_result(uas, d.dir, port)
    assert r.returncode == 0, "exit %d\n%s\n%s\nsipp: %s" % (r.returncode, r.stdout, r.stderr, log)
    assert r.stdout.strip().splitlines()[-1] == "200 OK", r.stdout
    assert "SIP/2.0 407 " in r.stderr and "SIP/2.0 401 " in r.stderr, r.stderr
    assert 'realm="bobrealm"' in r.stderr.split("SIP/2.0 401 ")[1].split("----")[0]
    assert "BYE: 200 OK" in r.stderr, r.stderr
    if tls:
        assert "TLS: TLSv1." in r.stderr and "Via: SIP/2.0/TLS" in r.stderr, r.stderr
    invites = sent_invites(r.stderr)
    # 1: no credentials -> 407; 2: Proxy-Authorization -> 401 from bob;
    # 3: both answers in one INVITE -> 200.
    assert len(invites) == 3, r.stderr
    last = invites[-1]
    pa, wa = auth_lines(last, "Proxy-Authorization"), auth_lines(last, "Authorization")
    assert len(pa) == 1 and 'realm="%s"' % DOMAIN in pa[0], last
    assert len(wa) == 1 and 'realm="bobrealm"' in wa[0] and 'username="alice"' in wa[0], last
    # ACK and BYE follow the route set the proxy recorded (RFC 3261 §12.1.2);
    # over TLS toward a UDP callee it recorded both sides, ours over TLS first.
    out = [m.split("---- received ----")[0] for m in r.stderr.split("---- sent ----\n")[1:]]
    in_dialog = [m for m in out if m.startswith("BYE ") or (m.startswith("ACK ") and "CSeq: 3 ACK" in m)]
    first_route = "\nRoute: <sips:" if tls else "\nRoute: <sip:"
    assert len(in_dialog) == 2 and all(first_route in m and ";lr" in m for m in in_dialog), r.stderr
    assert ALICE_PW not in r.stderr and BOB_SIDE_PW not in r.stderr
    assert rc == 0, "SIPp UAS did not accept the call:\n" + log


def test_wrong_callee_credentials_fail_both_sides(sipwarden):
    """The same flow with a wrong password for bobrealm: the UAS's check refuses
    it (403), sipwarden-ua exits 2 (credentials refused), SIPp exits non-zero."""
    d = sipwarden()
    port = free_port()
    uas = start_uas(d.dir, port)
    try:
        wait_listening(port)
        register_bob(d, port)
        r = call(d, "not-" + BOB_SIDE_PW)
    finally:
        rc, log = uas_result(uas, d.dir, port)
    assert r.returncode == 2, "exit %d\n%s\n%s" % (r.returncode, r.stdout, r.stderr)
    assert r.stdout.strip().splitlines()[-1].startswith("403 "), r.stdout
    assert rc not in (0, None), "SIPp accepted a wrong Authorization:\n" + log


def raw_call(c, port, headers_for):
    """Drive the UAS directly: INVITE -> 401, ACK, INVITE with headers_for(challenge)."""
    ruri = "sip:bob@127.0.0.1:%d" % port
    call_id = rand_token(8) + "@double.test"
    frm = "sip:alice@%s" % DOMAIN
    contact = ["<sip:alice@%s>" % c.local_hostport]
    r1 = c.transact(c.build("INVITE", ruri, ruri, from_uri=frm, call_id=call_id, cseq=1, contacts=contact),
                    call_id=call_id, cseq=1)
    assert r1 is not None and r1.status == 401, r1
    ch = r1.challenges()
    assert ch and ch[0]["realm"] == "bobrealm", r1
    c.send_raw(c.build("ACK", ruri, ruri, from_uri=frm, call_id=call_id, cseq=1))
    r2 = c.transact(c.build("INVITE", ruri, ruri, from_uri=frm, call_id=call_id, cseq=2, contacts=contact,
                            headers=headers_for(ch[0], ruri)), call_id=call_id, cseq=2)
    return r2, ruri, call_id, frm


@pytest.mark.parametrize("case", ["good", "missing", "wrong", "leaked"])
def test_scenario_checks_what_it_receives(tmp_path, case):
    """Without the proxy: the UAS answers 200 only to a right Authorization for
    bobrealm with no Proxy-Authorization for example.com beside it."""
    other = ('Digest username="alice", realm="%s", nonce="n", uri="sip:bob@%s", response="%s"'
             % (DOMAIN, DOMAIN, "0" * 32))

    def headers_for(ch, uri):
        good = "Authorization: " + authorization_value(ch, "alice", BOB_SIDE_PW, "INVITE", uri)
        return {"good": [good],
                "missing": ["Proxy-Authorization: " + other],
                "wrong": ["Authorization: " + authorization_value(ch, "alice", "x", "INVITE", uri)],
                "leaked": [good, "Proxy-Authorization: " + other]}[case]

    port = free_port()
    uas = start_uas(tmp_path, port)
    try:
        wait_listening(port)
        with SipClient("127.0.0.1", port, "udp", timeout=3) as c:
            r2, ruri, call_id, frm = raw_call(c, port, headers_for)
            assert r2 is not None, "no answer to the second INVITE"
            if case != "good":
                assert r2.status == 403, r2
                c.send_raw(c.build("ACK", ruri, ruri, from_uri=frm, call_id=call_id, cseq=2))
            else:
                assert r2.status == 200, r2
                to = r2.get("to")
                ack = c.build("ACK", ruri, ruri, from_uri=frm, call_id=call_id, cseq=2)
                c.send_raw(ack.replace(("To: <%s>" % ruri).encode(), ("To: %s" % to).encode()))
                bye = c.build("BYE", ruri, ruri, from_uri=frm, call_id=call_id, cseq=3)
                bye = bye.replace(("To: <%s>" % ruri).encode(), ("To: %s" % to).encode())
                r3 = c.transact(bye, call_id=call_id, cseq=3)
                assert r3 is not None and r3.status == 200, r3
    finally:
        rc, log = uas_result(uas, tmp_path, port)
    if case == "good":
        assert rc == 0, log
    else:
        assert rc not in (0, None), "SIPp passed a %s Authorization:\n%s" % (case, log)
