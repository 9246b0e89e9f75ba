"""The cap on pending transactions per worker ([proxy] max_transactions,
SW_DEFAULT_MAX_TRANSACTIONS in src/base/limits.h) at its boundary: each
ringing call holds two pending transactions (ours toward the caller and the
branch toward the phone), so with the cap at 10 five calls ring and the sixth
INVITE gets 503 + Retry-After; CANCEL, retransmissions and ACK still work
over the cap, and once the calls end new ones go through again."""

import time

from conftest import DOMAIN, PASSWORDS
from sipclient import SipClient, authorization_value, rand_token
from test_proxy import RawUas, register_contact

CAP = 10


def invite(c, call_id, cseq, headers=()):
    ruri = "sip:bob@%s" % DOMAIN
    return c.build("INVITE", ruri, ruri, from_uri="sip:alice@%s" % DOMAIN, call_id=call_id, cseq=cseq,
                   contacts=["<sip:alice@%s>" % c.local_hostport], headers=headers)


def start_call(c):
    """Authenticated INVITE to bob; returns (call_id, bytes of the INVITE sent)."""
    call_id = rand_token(8) + "@cap.test"
    first = c.transact(invite(c, call_id, 1), call_id=call_id)
    assert first is not None and first.status == 407, first
    auth = authorization_value(first.challenges("proxy-authenticate")[-1], "alice",
                               PASSWORDS[("alice", DOMAIN)], "INVITE", "sip:bob@%s" % DOMAIN)
    data = invite(c, call_id, 2, ["Proxy-Authorization: " + auth])
    c.send_raw(data)
    return call_id, data


def cancel_of(data):
    lines = data.decode().split("\r\n\r\n")[0].split("\r\n")
    out = ["CANCEL " + lines[0].split(" ", 1)[1]]
    for ln in lines[1:]:
        name = ln.split(":", 1)[0].lower()
        if name in ("via", "from", "to", "call-id", "max-forwards"):
            out.append(ln)
        elif name == "cseq":
            out.append("CSeq: %s CANCEL" % ln.split(":", 1)[1].split()[0])
    return ("\r\n".join(out + ["Content-Length: 0", "", ""])).encode()


def response(c, call_id, method="INVITE", cseq="2", final=True, timeout=3.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = c.recv(deadline - time.monotonic())
        if m is None:
            return None
        cs = (m.get("cseq") or "").split()
        if m.status and m.get("call-id") == call_id and cs == [cseq, method] and (m.status >= 200 or (not final and m.status > 100)):
            return m
    return None


def recv_request(uas, method, timeout=3.0):
    """The next method request bob's phone receives (hop-by-hop ACKs skipped)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = uas.recv(deadline - time.monotonic())
        if m is None or m.method == method:
            return m
    return None


def test_sixth_ringing_call_over_the_cap_gets_503(sipwarden, tmp_path):
    conf = tmp_path / "cap.conf"
    conf.write_text("[auth]\nalgorithms = MD5\nqop = auth\n[proxy]\nmax_transactions = %d\n" % CAP)
    d = sipwarden(args=["--config", str(conf), "--workers", "1"])
    bob = RawUas()
    try:
        register_contact(d, "bob", bob.port)
        with SipClient("127.0.0.1", d.port) as c:
            calls, ringing = [], []
            for _ in range(CAP // 2):
                call_id, data = start_call(c)
                inv = bob.recv()
                assert inv is not None and inv.method == "INVITE", "call %d not forwarded" % len(calls)
                bob.answer(inv, 180, "Ringing", tag="r%d" % len(calls))
                assert response(c, call_id, final=False).status == 180
                calls.append((call_id, data))
                ringing.append(inv)

            # One more INVITE: over the cap (before any challenge work).
            call_id = rand_token(8) + "@cap.test"
            data = invite(c, call_id, 1)
            c.send_raw(data)
            r = response(c, call_id, cseq="1")
            assert r is not None and r.status == 503, r
            assert r.get("retry-after") == "5", r.raw
            assert recv_request(bob, "INVITE", timeout=0.5) is None, "refused INVITE reached bob"
            # Refused without a transaction: the 503 is not resent (timer G
            # would at 500 ms) although no ACK comes.
            m = c.recv(1.3)
            assert m is None, "503 resent: %s" % (m and m.start_line)
            # Its retransmission is refused again: the same 503, nothing new.
            c.send_raw(data)
            r2 = response(c, call_id, cseq="1")
            assert r2 is not None and r2.status == 503 and r2.get("to") == r.get("to")

            # CANCEL still works over the cap: 200, then 487 after bob's answer.
            cid0, data0 = calls[0]
            c.send_raw(cancel_of(data0))
            r = response(c, cid0, method="CANCEL")
            assert r is not None and r.status == 200, r
            can = bob.recv()
            assert can is not None and can.method == "CANCEL", can
            bob.answer(can, 200, "OK", tag="r0")
            bob.answer(ringing[0], 487, "Request Terminated", tag="r0")
            assert response(c, cid0).status == 487
            # The other calls end too (bob declines them).
            for i in range(1, len(calls)):
                bob.answer(ringing[i], 486, "Busy Here", tag="r%d" % i)
                r = response(c, calls[i][0])
                assert r is not None and r.status == 486, r

            # Calls ended: a new one is forwarded again.
            call_id, _ = start_call(c)
            inv = recv_request(bob, "INVITE")
            assert inv is not None and inv.method == "INVITE", "no new call after the others ended"
            bob.answer(inv, 486, "Busy Here", tag="again")
            assert response(c, call_id).status == 486
    finally:
        bob.close()
