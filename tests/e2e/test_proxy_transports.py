"""The proxy between transports: a call from a UDP phone to a TLS phone (and
back) is record-routed twice, once per side (RFC 5658 §4), so requests inside
the dialog come back over the transport each side uses; every listen address
(UDP, TCP, TLS) counts as ours for Route and for loop detection; RFC 3263
picks the transport for a foreign domain from the Request-URI (sips: ->
_sips._tcp over TLS, ;transport=tcp -> _sip._tcp); host names in a preloaded
Route or in a dialog's remote target go through DNS too, ACKs through its
cache. Loopback only; every wait is bounded; helper threads end by themselves."""

import re
import socket
import ssl
import threading
import time

import pytest

from conftest import DOMAIN, PASSWORDS, ipv6_loopback_available, require_tool
from sipclient import Message, authorization_value, rand_token
from test_proxy import RawUas
from test_proxy_routing import TinyDns, dns_daemon
from test_proxy_streams import NextHop, final, next_request, register_stream, response_bytes, start, stream_client
from test_tls import make_ca, make_leaf


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A CA with the daemon's certificate (example.com, 127.0.0.1) and one for
    the foreign domain far.example only (no IP address in it)."""
    require_tool("openssl")
    d = tmp_path_factory.mktemp("pki")
    make_ca(d, "ca")
    make_leaf(d, "ca", "server", "DNS:%s,IP:127.0.0.1" % DOMAIN)
    make_leaf(d, "ca", "far", "DNS:far.example")
    return d


def authed(c, user, method, ruri, body=b"", headers=()):
    """method to ruri as user, answering the 407 (the second request is sent,
    not awaited). Returns (call_id, the second request as a Message)."""
    call_id = rand_token(8) + "@transports.test"
    contacts = ["<sip:%s@%s>" % (user, c.local_hostport)] if method == "INVITE" else []

    def build(cseq, extra=()):
        return c.build(method, ruri, ruri, from_uri="sip:%s@%s" % (user, DOMAIN), call_id=call_id, cseq=cseq,
                       contacts=contacts, body=body, headers=list(headers) + list(extra))
    first = c.transact(build(1))
    assert first is not None and first.status == 407, first
    auth = authorization_value(first.challenges("proxy-authenticate")[0], user, PASSWORDS[(user, DOMAIN)],
                               method, ruri)
    data = build(2, ["Proxy-Authorization: " + auth])
    c.send_raw(data)
    return call_id, Message(data)


def in_dialog(c, method, ruri, from_hdr, to_hdr, call_id, cseq, routes):
    """An in-dialog request from c: From/To as the sender sees them, Route set given."""
    lines = ["%s %s SIP/2.0" % (method, ruri), "Via: %s" % c.via(), "Max-Forwards: 70",
             "From: %s" % from_hdr, "To: %s" % to_hdr, "Call-ID: %s" % call_id,
             "CSeq: %d %s" % (cseq, method)]
    lines += ["Route: %s" % r for r in routes]
    lines += ["Content-Length: 0", "", ""]
    c.send_raw("\r\n".join(lines))


def unsigned(rr):
    """Record-Route entries without our token (;sw=, the same in each entry)."""
    tokens = {m.group(1) for m in (re.search(r";sw=([0-9a-f]{32})>$", e) for e in rr) if m}
    assert len(tokens) == 1 and all(";sw=" in e for e in rr), rr
    return [re.sub(r";sw=[0-9a-f]{32}>$", ">", e) for e in rr]


def final_cseq(c, call_id, method, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = c.recv(deadline - time.monotonic())
        if m is None:
            return None
        if m.status and m.status >= 200 and m.get("call-id") == call_id and method in m.get("cseq"):
            return m
    return None


# ---------------------------------------------------------------- RFC 5658 double Record-Route

def test_udp_caller_tls_callee_is_record_routed_twice(sipwarden, pki):
    """alice (UDP) calls bob (registered over TLS): bob's INVITE carries our TLS
    entry on top and our UDP entry below; so does the 200 alice gets. bob's BYE
    with that route set goes over his TLS connection and reaches alice over UDP;
    alice's ACK with the reversed set reaches bob over TLS."""
    d, tls_port = start(sipwarden, pki)
    with stream_client(d, pki, "tls", tls_port) as bob, d.client() as alice:
        bob_contact = "sip:bob@%s;transport=tls" % bob.local_hostport
        register_stream(bob, "bob", bob_contact)
        call_id, sent = authed(alice, "alice", "INVITE", "sip:bob@%s" % DOMAIN)
        inv = next_request(bob, "INVITE")
        assert inv is not None, "INVITE not delivered over TLS\n" + d.log_tail()
        want = inv.get_all("record-route")
        assert unsigned(want) == ["<sips:127.0.0.1:%d;lr>" % tls_port, "<sip:127.0.0.1:%d;lr>" % d.port], inv.raw
        bob.send_raw(response_bytes(inv, 200, "OK", contact=bob_contact))
        ok = final(alice, call_id)
        assert ok is not None and ok.status == 200, ok
        assert ok.get_all("record-route") == want, ok.raw

        # alice: route set = Record-Route reversed (RFC 3261 §12.1.2); first hop our UDP side.
        alice_routes = list(reversed(want))
        in_dialog(alice, "ACK", bob_contact, sent.get("from"), ok.get("to"), call_id, 2, alice_routes)
        ack = next_request(bob, "ACK")
        assert ack is not None, "ACK not delivered over TLS\n" + d.log_tail()
        assert ack.get("via").startswith("SIP/2.0/TLS 127.0.0.1:%d;" % tls_port), ack.get("via")
        assert not ack.get_all("route"), ack.raw

        # bob: route set = Record-Route as received (RFC 3261 §12.1.1); first hop our TLS side.
        alice_contact = "sip:alice@%s" % alice.local_hostport
        in_dialog(bob, "BYE", alice_contact, ok.get("to"), sent.get("from"), call_id, 1, want)
        bye = next_request(alice, "BYE")
        assert bye is not None, "bob's BYE did not reach alice over UDP\n" + d.log_tail()
        assert bye.get("via").startswith("SIP/2.0/UDP 127.0.0.1:%d;" % d.port), bye.get("via")
        assert not bye.get_all("route"), bye.raw
        alice.send_raw(response_bytes(bye, 200, "OK"))
        r = final_cseq(bob, call_id, "BYE")
        assert r is not None and r.status == 200, r


def test_tls_caller_udp_callee_is_record_routed_twice(sipwarden, pki):
    """The reverse: bob (TLS) calls alice (registered over UDP): alice sees our
    UDP entry on top, our TLS entry below; her BYE reaches bob over his TLS
    connection, his ACK reaches her over UDP."""
    d, tls_port = start(sipwarden, pki)
    with stream_client(d, pki, "tls", tls_port) as bob, d.client() as alice:
        alice_contact = "sip:alice@%s" % alice.local_hostport
        r = alice.register("alice", DOMAIN, PASSWORDS[("alice", DOMAIN)], contacts=["<%s>" % alice_contact])
        assert r is not None and r.status == 200, r
        bob_contact = "sip:bob@%s;transport=tls" % bob.local_hostport
        register_stream(bob, "bob", bob_contact)
        call_id, sent = authed(bob, "bob", "INVITE", "sip:alice@%s" % DOMAIN,
                               headers=())
        inv = next_request(alice, "INVITE")
        assert inv is not None, "INVITE not delivered over UDP\n" + d.log_tail()
        want = inv.get_all("record-route")
        assert unsigned(want) == ["<sip:127.0.0.1:%d;lr>" % d.port, "<sips:127.0.0.1:%d;lr>" % tls_port], inv.raw
        assert inv.get("via").startswith("SIP/2.0/UDP 127.0.0.1:%d;" % d.port)
        alice.send_raw(response_bytes(inv, 200, "OK", contact=alice_contact))
        ok = final(bob, call_id)
        assert ok is not None and ok.status == 200, ok
        assert ok.get_all("record-route") == want, ok.raw

        in_dialog(bob, "ACK", alice_contact, sent.get("from"), ok.get("to"), call_id, 2, list(reversed(want)))
        ack = next_request(alice, "ACK")
        assert ack is not None, "bob's ACK did not reach alice over UDP\n" + d.log_tail()
        assert not ack.get_all("route"), ack.raw

        in_dialog(alice, "BYE", bob_contact, ok.get("to"), sent.get("from"), call_id, 1, want)
        bye = next_request(bob, "BYE")
        assert bye is not None, "alice's BYE did not reach bob over TLS\n" + d.log_tail()
        assert bye.get("via").startswith("SIP/2.0/TLS 127.0.0.1:%d;" % tls_port), bye.get("via")
        bob.send_raw(response_bytes(bye, 200, "OK"))
        r = final_cseq(alice, call_id, "BYE")
        assert r is not None and r.status == 200, r


def test_same_transport_is_record_routed_once(sipwarden, pki):
    """alice and bob both over TCP: one entry, naming our TCP side."""
    d, tls_port = start(sipwarden, pki)
    with stream_client(d, pki, "tcp", tls_port) as bob, stream_client(d, pki, "tcp", tls_port) as alice:
        bob_contact = "sip:bob@%s;transport=tcp" % bob.local_hostport
        register_stream(bob, "bob", bob_contact)
        call_id, sent = authed(alice, "alice", "INVITE", "sip:bob@%s" % DOMAIN)
        inv = next_request(bob, "INVITE")
        assert inv is not None, "INVITE not delivered over TCP\n" + d.log_tail()
        want = inv.get_all("record-route")
        assert unsigned(want) == ["<sip:127.0.0.1:%d;transport=tcp;lr>" % d.port], inv.raw
        bob.send_raw(response_bytes(inv, 200, "OK", contact=bob_contact))
        ok = final(alice, call_id)
        assert ok is not None and ok.status == 200, ok
        in_dialog(alice, "BYE", bob_contact, sent.get("from"), ok.get("to"), call_id, 3, want)
        bye = next_request(bob, "BYE")
        assert bye is not None, "BYE not delivered over TCP\n" + d.log_tail()
        assert not bye.get_all("route"), bye.raw


def test_ipv4_caller_ipv6_callee_is_record_routed_twice(sipwarden):
    """UDP both ways but a change of address family (127.0.0.1 in, ::1 out):
    two entries too, the IPv6 one on top; bob's BYE over IPv6 with that route
    set reaches alice over IPv4."""
    if not ipv6_loopback_available():
        pytest.skip("::1 not available")
    d = sipwarden(ipv6=True)
    with d.client("udp", host="::1") as bob, d.client() as alice:
        bob_contact = "sip:bob@%s" % bob.local_hostport
        r = bob.register("bob", DOMAIN, PASSWORDS[("bob", DOMAIN)], contacts=["<%s>" % bob_contact])
        assert r is not None and r.status == 200, r
        call_id, sent = authed(alice, "alice", "INVITE", "sip:bob@%s" % DOMAIN)
        inv = next_request(bob, "INVITE")
        assert inv is not None, "INVITE not delivered over IPv6\n" + d.log_tail()
        want = inv.get_all("record-route")
        assert unsigned(want) == ["<sip:[::1]:%d;lr>" % d.port, "<sip:127.0.0.1:%d;lr>" % d.port], inv.raw
        bob.send_raw(response_bytes(inv, 200, "OK", contact=bob_contact))
        ok = final(alice, call_id)
        assert ok is not None and ok.status == 200, ok
        in_dialog(bob, "BYE", "sip:alice@%s" % alice.local_hostport, ok.get("to"), sent.get("from"), call_id, 1,
                  want)
        bye = next_request(alice, "BYE")
        assert bye is not None, "bob's BYE did not reach alice over IPv4\n" + d.log_tail()
        assert bye.get("via").startswith("SIP/2.0/UDP 127.0.0.1:%d;" % d.port), bye.get("via")
        assert not bye.get_all("route"), bye.raw


# ---------------------------------------------------------------- loops through a TLS Via

class LoopHop:
    """A one-connection TLS server that sends the first request it gets straight
    back on the same connection (its own Via on top) and records what comes
    next: the statuses of responses, the methods of requests."""

    def __init__(self, pki, timeout=6.0):
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(2)
        self.port = self.lsock.getsockname()[1]
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(str(pki / "server.crt"), str(pki / "server.key"))
        self.got = []
        self.error = None
        self.timeout = timeout
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        deadline = time.monotonic() + self.timeout
        try:
            self.lsock.settimeout(self.timeout)
            conn, _ = self.lsock.accept()
            conn.settimeout(3)
            conn = self.ctx.wrap_socket(conn, server_side=True)
            conn.settimeout(0.2)
            buf, sent_back = b"", False
            while time.monotonic() < deadline and len(self.got) < 2:
                try:
                    chunk = conn.recv(65536)
                except (socket.timeout, ssl.SSLWantReadError):
                    continue
                if not chunk:
                    break
                buf += chunk
                while b"\r\n\r\n" in buf:
                    head, _, rest = buf.partition(b"\r\n\r\n")
                    n = int(Message(head + b"\r\n\r\n").get("content-length") or 0)
                    if len(rest) < n:
                        break
                    raw, buf = head + b"\r\n\r\n" + rest[:n], rest[n:]
                    m = Message(raw)
                    if not sent_back:
                        sent_back = True
                        first, _, tail = raw.partition(b"\r\n")
                        conn.sendall(first + b"\r\nVia: SIP/2.0/TLS 127.0.0.1:%d;branch=z9hG4bKhop%s\r\n"
                                     % (self.port, rand_token(6).encode()) + tail)
                    else:
                        self.got.append(m.status or m.method)
            conn.close()
        except Exception as e:  # recorded for the test to report
            self.error = e
        finally:
            self.lsock.close()


def test_loop_through_our_tls_address_is_detected(sipwarden, pki):
    """A next hop (over TLS) that sends the request back unchanged: our Via
    names the TLS listen address, and the request is answered 482."""
    hop = LoopHop(pki)
    conf = "[proxy]\noutbound = tls:127.0.0.1:%d\n[tls]\nca_file = %s\n" % (hop.port, pki / "ca.crt")
    d, _ = start(sipwarden, pki, conf)
    with d.client() as alice:
        authed(alice, "alice", "MESSAGE", "sip:carol@other.test", body=b"hi")
        hop.thread.join(hop.timeout + 2)
    assert hop.error is None, hop.error
    assert hop.got and hop.got[0] == 482, "%r\n%s" % (hop.got, d.log_tail())


# ---------------------------------------------------------------- RFC 3263 transport selection

def dns_conf(dns, pki):
    return "[proxy]\ndns_server = 127.0.0.1:%d\n[tls]\nca_file = %s\n" % (dns.port, pki / "ca.crt")


def test_sips_uri_goes_to_sips_srv_over_tls(sipwarden, pki):
    """sips:carol@far.example: SRV _sips._tcp.far.example, a TLS connection to
    its target whose certificate must name far.example (it names no IP)."""
    hop = NextHop(pki, tls=True, cert="far")
    dns = TinyDns({("_sips._tcp.far.example", 33): (60, [(10, 5, hop.port, "sip1.far.example")])},
                  additional={"sip1.far.example": [(60, "127.0.0.1")]})
    try:
        d, tls_port = start(sipwarden, pki, dns_conf(dns, pki))
        with d.client() as alice:
            call_id, _ = authed(alice, "alice", "MESSAGE", "sips:carol@far.example", body=b"secure hi")
            r = final(alice, call_id)
            assert r is not None and r.status == 200, "%r\n%s" % (r, d.log_tail())
        hop.join()
        assert hop.error is None, hop.error
        assert dns.queries[0] == ("_sips._tcp.far.example", 33), dns.queries
        req = hop.requests[0]
        assert req.start_line.split()[1] == "sips:carol@far.example"
        assert req.get("via").startswith("SIP/2.0/TLS 127.0.0.1:%d;" % tls_port), req.get("via")
        assert req.body == b"secure hi"
    finally:
        dns.close()


def test_transport_tcp_uri_goes_to_tcp_srv(sipwarden, pki):
    """sip:carol@far.example;transport=tcp: SRV _sip._tcp.far.example, over TCP."""
    hop = NextHop(pki)
    dns = TinyDns({("_sip._tcp.far.example", 33): (60, [(10, 5, hop.port, "sip1.far.example")])},
                  additional={"sip1.far.example": [(60, "127.0.0.1")]})
    try:
        d, _ = start(sipwarden, pki, dns_conf(dns, pki))
        with d.client() as alice:
            call_id, _ = authed(alice, "alice", "MESSAGE", "sip:carol@far.example;transport=tcp", body=b"hi")
            r = final(alice, call_id)
            assert r is not None and r.status == 200, "%r\n%s" % (r, d.log_tail())
        hop.join()
        assert hop.error is None, hop.error
        assert dns.queries[0] == ("_sip._tcp.far.example", 33), dns.queries
        assert hop.requests[0].get("via").startswith("SIP/2.0/TCP 127.0.0.1:%d;" % d.port)
    finally:
        dns.close()


# ---------------------------------------------------------------- host names inside a dialog

def test_ack_and_bye_to_a_host_name_use_dns(sipwarden, tmp_path):
    """carol's server answers with Contact <sip:carol@far.example> (a name): the
    ACK for the 2xx goes there from the DNS cache the INVITE filled, the BYE
    through the same lookup; neither asks DNS again."""
    phone = RawUas()
    dns = TinyDns({("_sip._udp.far.example", 33): (60, [(10, 5, phone.port, "sip1.far.example")])},
                  additional={"sip1.far.example": [(60, "127.0.0.1")]})
    try:
        d = dns_daemon(sipwarden, tmp_path, dns, workers=1)
        with d.client() as alice:
            call_id, sent = authed(alice, "alice", "INVITE", "sip:carol@far.example")
            inv = phone.recv()
            assert inv is not None and inv.method == "INVITE", inv
            to = inv.get("to") + ";tag=c1"
            rr = inv.get_all("record-route")
            lines = ["SIP/2.0 200 OK"] + ["Via: %s" % v for v in inv.get_all("via")]
            lines += ["Record-Route: %s" % v for v in rr]
            lines += ["From: %s" % inv.get("from"), "To: %s" % to, "Call-ID: %s" % call_id,
                      "CSeq: %s" % inv.get("cseq"), "Contact: <sip:carol@far.example>", "Content-Length: 0", "", ""]
            phone.sock.sendto("\r\n".join(lines).encode(), inv.source)
            ok = final(alice, call_id)
            assert ok is not None and ok.status == 200, ok
            routes = list(reversed(ok.get_all("record-route")))
            in_dialog(alice, "ACK", "sip:carol@far.example", sent.get("from"), ok.get("to"), call_id, 2, routes)
            ack = phone.recv()
            assert ack is not None and ack.method == "ACK", "ACK to a host name dropped\n" + d.log_tail()
            in_dialog(alice, "BYE", "sip:carol@far.example", sent.get("from"), ok.get("to"), call_id, 3, routes)
            bye = phone.recv()
            assert bye is not None and bye.method == "BYE", "BYE to a host name not forwarded\n" + d.log_tail()
            phone.answer(bye, 200, "OK", tag="c1")
            r = final_cseq(alice, call_id, "BYE")
            assert r is not None and r.status == 200, r
            assert dns.queries == [("_sip._udp.far.example", 33)], dns.queries
    finally:
        dns.close()
        phone.close()


def test_preloaded_route_with_a_host_name(sipwarden, tmp_path):
    """Route: <us>, <sip:edge.far.example;lr>: the next hop is found in DNS
    (_sip._udp.edge.far.example), our entry removed, the rest kept."""
    phone = RawUas()
    dns = TinyDns({("_sip._udp.edge.far.example", 33): (60, [(10, 5, phone.port, "e1.far.example")])},
                  additional={"e1.far.example": [(60, "127.0.0.1")]})
    try:
        d = dns_daemon(sipwarden, tmp_path, dns, workers=1)
        with d.client() as alice:
            routes = ["Route: <sip:127.0.0.1:%d;lr>, <sip:edge.far.example;lr>" % d.port]
            call_id, _ = authed(alice, "alice", "MESSAGE", "sip:carol@far.example", body=b"hi", headers=routes)
            m = phone.recv()
            assert m is not None and m.method == "MESSAGE", "not forwarded\n" + d.log_tail()
            assert m.get_all("route") == ["<sip:edge.far.example;lr>"], m.raw
            assert m.start_line.split()[1] == "sip:carol@far.example"
            phone.answer(m, 200, "OK")
            r = final(alice, call_id)
            assert r is not None and r.status == 200, r
            assert dns.queries == [("_sip._udp.edge.far.example", 33)], dns.queries
    finally:
        dns.close()
        phone.close()


def test_ack_to_a_host_name_goes_to_the_configured_next_hop(sipwarden, pki):
    """With [proxy] outbound set, an ACK for a 2xx whose target is a host name
    goes there, as the dialog's other requests do."""
    hop = NextHop(pki, timeout=4.0)
    d, _ = start(sipwarden, pki, "[proxy]\noutbound = tcp:127.0.0.1:%d\n" % hop.port)
    with d.client() as alice:
        call_id, sent = authed(alice, "alice", "INVITE", "sip:carol@other.test")
        ok = final(alice, call_id)
        assert ok is not None and ok.status == 200, "%r\n%s" % (ok, d.log_tail())
        routes = list(reversed(ok.get_all("record-route")))
        assert routes, ok.raw
        in_dialog(alice, "ACK", "sip:carol@other.test", sent.get("from"), ok.get("to"), call_id, 2, routes)
        hop.join()
    assert hop.error is None, hop.error
    assert [m.method for m in hop.requests] == ["INVITE", "ACK"], [m.method for m in hop.requests]
