"""An in-dialog request is not a way around authentication: a stranger who
sends a request with a To tag and a Route naming the proxy must not get it
relayed to a host of its choosing (RFC 3261 §16.12 routing applies only to a
route set the proxy itself recorded). Loopback only; bounded waits.

The proxy signs its Record-Route entries (;sw=, a keyed hash of the Call-ID)
and relays on its Route only with that token."""

import socket

import pytest

from conftest import DOMAIN, PASSWORDS
from sipclient import authorization_value, rand_token
from test_proxy import RawUas, final


@pytest.mark.parametrize("transport", ["", ";transport=tcp"])
def test_forged_in_dialog_request_is_not_relayed(sipwarden, transport):
    d = sipwarden(args=["--workers", "1"])
    target = RawUas()
    tcp_target = socket.socket()
    tcp_target.bind(("127.0.0.1", 0))
    tcp_target.listen(1)
    tcp_target.settimeout(2.0)
    c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    c.bind(("127.0.0.1", 0))
    try:
        port = tcp_target.getsockname()[1] if transport else target.port
        ruri = "sip:victim@127.0.0.1:%d%s" % (port, transport)
        msg = ("MESSAGE %s SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK%s;rport\r\n"
               "Route: <sip:127.0.0.1:%d;lr>\r\nMax-Forwards: 70\r\n"
               "From: <sip:anon@stranger.example>;tag=x1\r\nTo: <sip:victim@far.example>;tag=y1\r\n"
               "Call-ID: %s\r\nCSeq: 5 MESSAGE\r\nContent-Length: 2\r\n\r\nhi"
               % (ruri, c.getsockname()[1], rand_token(6), d.port, rand_token(8)))
        c.sendto(msg.encode(), ("127.0.0.1", d.port))
        if transport:
            try:
                conn, _ = tcp_target.accept()
                conn.close()
                relayed = True
            except socket.timeout:
                relayed = False
        else:
            relayed = target.recv(timeout=2.0) is not None
        assert not relayed, "a stranger's in-dialog request was relayed to %s" % ruri
    finally:
        c.close()
        tcp_target.close()
        target.close()


def in_dialog(c, method, ruri, call_id, routes, from_uri="sip:anon@stranger.example", to_uri="sip:carol@far.example",
              headers=(), cseq=5):
    """Bytes of a request inside a dialog (To tag) with the given Route set."""
    lines = ["%s %s SIP/2.0" % (method, ruri), "Via: %s" % c.via(), "Max-Forwards: 70",
             "From: <%s>;tag=f1" % from_uri, "To: <%s>;tag=t1" % to_uri, "Call-ID: %s" % call_id,
             "CSeq: %d %s" % (cseq, method)]
    lines += ["Route: %s" % r for r in routes] + list(headers) + ["Content-Length: 0", "", ""]
    return "\r\n".join(lines).encode()


def authed_call(d, alice, phone):
    """alice calls sip:carol@127.0.0.1:PORT (phone), answering the 407; phone
    answers 200. Returns (R-URI, Call-ID, the Record-Route phone saw)."""
    ruri = "sip:carol@127.0.0.1:%d" % phone.port
    call_id = rand_token(8) + "@relay.test"

    def invite(cseq, extra=()):
        return alice.build("INVITE", ruri, ruri, from_uri="sip:alice@%s" % DOMAIN, call_id=call_id, cseq=cseq,
                           contacts=["<sip:alice@%s>" % alice.local_hostport], headers=list(extra))
    first = alice.transact(invite(1))
    assert first is not None and first.status == 407, first
    auth = authorization_value(first.challenges("proxy-authenticate")[0], "alice", PASSWORDS[("alice", DOMAIN)],
                               "INVITE", ruri)
    alice.send_raw(invite(2, ["Proxy-Authorization: " + auth]))
    inv = phone.recv()
    assert inv is not None and inv.method == "INVITE", "INVITE not relayed\n" + d.log_tail()
    phone.answer(inv, 200, "OK")
    ok = final(alice)
    assert ok is not None and ok.status == 200, ok
    return ruri, call_id, inv.get_all("record-route")


def test_route_token_holds_only_for_its_own_dialog(sipwarden):
    """The Route entry we recorded for one call (its ;sw= token) takes an
    in-dialog request through only with that call's Call-ID: another Call-ID
    or a changed token gets 403 Not relaying and nothing reaches the target."""
    d = sipwarden(args=["--workers", "1"])
    phone = RawUas()
    try:
        with d.client() as alice, d.client() as stranger:
            ruri, call_id, rr = authed_call(d, alice, phone)
            assert len(rr) == 1 and ";sw=" in rr[0], rr
            r = stranger.transact(in_dialog(stranger, "MESSAGE", ruri, "other-" + call_id, rr))
            assert r is not None and (r.status, r.reason) == (403, "Not relaying"), r
            token = rr[0].split(";sw=")[1].rstrip(">")
            bad = token[:-1] + ("0" if token[-1] != "0" else "1")
            r = stranger.transact(in_dialog(stranger, "MESSAGE", ruri, call_id, [rr[0].replace(token, bad)]))
            assert r is not None and (r.status, r.reason) == (403, "Not relaying"), r
            stranger.send_raw(in_dialog(stranger, "ACK", ruri, "other-" + call_id, rr))
            assert phone.recv(timeout=1.0) is None, "a request with a foreign token was relayed"
            # the dialog's own Call-ID: relayed (BYE from either side)
            bye = in_dialog(stranger, "BYE", ruri, call_id, rr)
            stranger.send_raw(bye)
            m = phone.recv()
            assert m is not None and m.method == "BYE", "BYE on our route set not relayed\n" + d.log_tail()
            assert not m.get_all("route"), m.raw
    finally:
        phone.close()


def test_forged_ack_is_dropped(sipwarden):
    """An ACK (no answer possible) with a To tag and our address as Route but
    no token of ours, or no Route at all, is not relayed."""
    d = sipwarden(args=["--workers", "1"])
    target = RawUas()
    try:
        with d.client() as c:
            ruri = "sip:victim@127.0.0.1:%d" % target.port
            c.send_raw(in_dialog(c, "ACK", ruri, rand_token(8), ["<sip:127.0.0.1:%d;lr>" % d.port]))
            c.send_raw(in_dialog(c, "ACK", ruri, rand_token(8), []))
            assert target.recv(timeout=1.5) is None, "a stranger's ACK was relayed"
    finally:
        target.close()


def test_local_caller_with_credentials_needs_no_token(sipwarden):
    """In-dialog requests are not challenged, but a local caller's valid
    Proxy-Authorization is proof enough for a Route without our token;
    without it the same request gets 403 Not relaying."""
    d = sipwarden(args=["--workers", "1"])
    phone = RawUas()
    try:
        with d.client() as alice:
            ruri = "sip:carol@127.0.0.1:%d" % phone.port
            route = ["<sip:127.0.0.1:%d;lr>" % d.port]
            alice_uri = "sip:alice@%s" % DOMAIN
            call_id = rand_token(8)
            r = alice.transact(in_dialog(alice, "MESSAGE", ruri, call_id, route, from_uri=alice_uri))
            assert r is not None and (r.status, r.reason) == (403, "Not relaying"), r
            first = alice.transact(alice.build("MESSAGE", ruri, ruri, from_uri=alice_uri))
            assert first is not None and first.status == 407, first
            auth = authorization_value(first.challenges("proxy-authenticate")[0], "alice",
                                       PASSWORDS[("alice", DOMAIN)], "MESSAGE", ruri)
            alice.send_raw(in_dialog(alice, "MESSAGE", ruri, call_id, route, from_uri=alice_uri, cseq=6,
                                     headers=["Proxy-Authorization: " + auth]))
            m = phone.recv()
            assert m is not None and m.method == "MESSAGE", "authenticated in-dialog request refused\n" + d.log_tail()
            assert "realm=\"%s\"" % DOMAIN not in m.raw.decode(errors="replace"), "our credentials not consumed"
    finally:
        phone.close()


def test_in_dialog_request_to_a_registered_contact_needs_no_token(sipwarden):
    """A Request-URI that is a contact registered under the To AOR is a local
    phone: an in-dialog request reaches it on our Route without a token."""
    d = sipwarden(args=["--workers", "1"])
    phone = RawUas()
    try:
        with d.client() as reg, d.client() as stranger:
            contact = "sip:bob@127.0.0.1:%d" % phone.port
            r = reg.register("bob", DOMAIN, PASSWORDS[("bob", DOMAIN)], contacts=["<%s>" % contact])
            assert r is not None and r.status == 200, r
            stranger.send_raw(in_dialog(stranger, "BYE", contact, rand_token(8), ["<sip:127.0.0.1:%d;lr>" % d.port],
                                        to_uri="sip:bob@%s" % DOMAIN))
            m = phone.recv()
            assert m is not None and m.method == "BYE", "BYE to a registered contact refused\n" + d.log_tail()
    finally:
        phone.close()


def test_far_end_cannot_use_the_token_to_reach_other_hosts(sipwarden):
    """The token is bound to the dialog's inside party (here the authenticated
    caller's address): the far end of alice's call (127.0.0.2) may send on our
    Route to alice's address, but not to a host of its choosing, even with the
    dialog's own Call-ID and token; alice may still reach the far end."""
    d = sipwarden(args=["--workers", "1"])
    far = RawUas(host="127.0.0.2")
    victim = RawUas(host="127.0.0.3")
    try:
        with d.client() as alice:
            ruri = "sip:carol@127.0.0.2:%d" % far.port
            call_id = rand_token(8) + "@relay.test"

            def invite(cseq, extra=()):
                return alice.build("INVITE", ruri, ruri, from_uri="sip:alice@%s" % DOMAIN, call_id=call_id,
                                   cseq=cseq, contacts=["<sip:alice@%s>" % alice.local_hostport],
                                   headers=list(extra))
            first = alice.transact(invite(1))
            assert first is not None and first.status == 407, first
            auth = authorization_value(first.challenges("proxy-authenticate")[0], "alice",
                                       PASSWORDS[("alice", DOMAIN)], "INVITE", ruri)
            alice.send_raw(invite(2, ["Proxy-Authorization: " + auth]))
            inv = far.recv()
            assert inv is not None and inv.method == "INVITE", "INVITE not relayed\n" + d.log_tail()
            far.answer(inv, 200, "OK")
            ok = final(alice)
            assert ok is not None and ok.status == 200, ok
            rr = inv.get_all("record-route")
            assert len(rr) == 1 and ";sw=" in rr[0], rr

            def from_far(method, target, cseq):
                v = "SIP/2.0/UDP 127.0.0.2:%d;branch=z9hG4bK%s;rport" % (far.port, rand_token(8))
                lines = ["%s %s SIP/2.0" % (method, target), "Via: " + v, "Max-Forwards: 70",
                         "From: <%s>;tag=uas1" % ruri, "To: <sip:alice@%s>;tag=f1" % DOMAIN,
                         "Call-ID: " + call_id, "CSeq: %d %s" % (cseq, method), "Route: " + rr[0],
                         "Content-Length: 0", "", ""]
                far.sock.sendto("\r\n".join(lines).encode(), ("127.0.0.1", d.port))

            # the far end aims the dialog's route at another host: refused
            from_far("MESSAGE", "sip:victim@127.0.0.3:%d" % victim.port, 10)
            r = far.recv()
            assert r is not None and (r.status, r.reason) == (403, "Not relaying"), r
            from_far("ACK", "sip:victim@127.0.0.3:%d" % victim.port, 11)
            assert victim.recv(timeout=1.0) is None, "the far end reached a host of its choosing"
            # toward alice (the inside party): relayed
            from_far("INFO", "sip:alice@%s" % alice.local_hostport, 12)
            m = alice.recv(3.0)
            while m is not None and m.status:  # 407 retransmissions of the first INVITE
                m = alice.recv(3.0)
            assert m is not None and m.method == "INFO", "far end's request to alice refused\n" + d.log_tail()
            # alice toward the far end: relayed
            alice.send_raw(in_dialog(alice, "BYE", ruri, call_id, rr, from_uri="sip:alice@%s" % DOMAIN,
                                     to_uri=ruri, cseq=3))
            m = far.recv()
            assert m is not None and m.method == "BYE", "alice's BYE not relayed\n" + d.log_tail()
    finally:
        far.close()
        victim.close()


def legacy_token(secret, ip, call_id):
    """The ;sw= token as earlier versions made it: HMAC-SHA256 under the route
    key derived from [auth] secret, of (4, IPv4 address, 'c', Call-ID), 16 bytes."""
    import hashlib
    import hmac
    node = hmac.new(secret.encode(), b"sipwarden nonce key v1", hashlib.sha256).digest()
    key = hmac.new(node, b"sipwarden record-route key v1", hashlib.sha256).digest()
    msg = b"\x04" + socket.inet_aton(ip) + b"c" + call_id.encode()
    return hmac.new(key, msg, hashlib.sha256).digest()[:16].hex()


def test_route_token_of_the_earlier_form_still_holds(sipwarden):
    """Dialogs recorded before an upgrade (HMAC-SHA256 tokens, same [auth]
    secret) keep working: their in-dialog requests are relayed; the same form
    under another secret is refused."""
    d = sipwarden(args=["--workers", "1", "--secret", "cluster-secret-1"])
    phone = RawUas()
    try:
        with d.client() as c:
            ruri = "sip:carol@127.0.0.1:%d" % phone.port
            call_id = rand_token(8) + "@upgrade.test"
            wrong = "<sip:127.0.0.1:%d;lr;sw=%s>" % (d.port, legacy_token("other-secret", "127.0.0.1", call_id))
            r = c.transact(in_dialog(c, "MESSAGE", ruri, call_id, [wrong]))
            assert r is not None and (r.status, r.reason) == (403, "Not relaying"), r
            route = "<sip:127.0.0.1:%d;lr;sw=%s>" % (d.port, legacy_token("cluster-secret-1", "127.0.0.1", call_id))
            c.send_raw(in_dialog(c, "BYE", ruri, call_id, [route]))
            m = phone.recv()
            assert m is not None and m.method == "BYE", "BYE on an earlier-form route not relayed\n" + d.log_tail()
    finally:
        phone.close()
