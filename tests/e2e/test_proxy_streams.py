"""The proxy over TCP and TLS (RFC 3261 §18 connection reuse, §26.2 TLS):
a callee registered over TLS or TCP gets its requests over the very connection
it registered on (a phone behind NAT has no other way in), its answers reach
the UDP caller, a closed connection makes the call fail with 480, and a
tcp:/tls: next hop gets forwarded requests over a connection the proxy opens
(TLS with the server certificate verified). Loopback only; every wait is
bounded; test listeners are threads that end by themselves."""

import socket
import ssl
import subprocess
import threading
import time

import pytest

from conftest import DOMAIN, PASSWORDS, free_port, require_tool
from sipclient import Message, SipClient, authorization_value, rand_token
from test_tls import client_ctx, make_ca, make_leaf

ALICE_PW = PASSWORDS[("alice", DOMAIN)]
BOB_PW = PASSWORDS[("bob", DOMAIN)]


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A CA with a server certificate for example.com / 127.0.0.1 (the daemon's and
    the next hop's), and a certificate from a CA nobody trusts."""
    require_tool("openssl")
    d = tmp_path_factory.mktemp("pki")
    make_ca(d, "ca")
    make_ca(d, "rogue-ca")
    make_leaf(d, "ca", "server", "DNS:%s,IP:127.0.0.1" % DOMAIN)
    make_leaf(d, "rogue-ca", "rogue", "DNS:%s,IP:127.0.0.1" % DOMAIN)
    return d


def start(sipwarden, pki, conf=""):
    """A daemon on udp+tcp (d.port) and tls (returned port); MD5 digest."""
    tls_port = free_port()
    path = pki / ("streams-%s.conf" % rand_token(4))
    # Four workers: a connection and the request meant for it often land on
    # different workers, so the hand-over between workers is exercised.
    path.write_text("[server]\nworkers = 4\n[auth]\nalgorithms = MD5\nqop = auth\n" + conf)
    d = sipwarden(args=["--config", str(path), "--listen", "tls:127.0.0.1:%d" % tls_port,
                        "--tls-cert", str(pki / "server.crt"), "--tls-key", str(pki / "server.key")])
    return d, tls_port


def stream_client(d, pki, proto, tls_port):
    if proto == "tls":
        return SipClient("127.0.0.1", tls_port, "tls", timeout=3.0, ssl_context=client_ctx(pki),
                         server_hostname=DOMAIN)
    return SipClient("127.0.0.1", d.port, "tcp", timeout=3.0)


def register_stream(c, user, contact=None):
    r = c.register(user, DOMAIN, PASSWORDS[(user, DOMAIN)], contacts=["<%s>" % contact] if contact else None)
    assert r is not None and r.status == 200, r
    return r


def authed_request(c, method, callee, callee_domain=DOMAIN, body=b""):
    """method from alice to callee, answering the 407; returns (call_id, bytes of the second request)."""
    ruri = "sip:%s@%s" % (callee, callee_domain)
    call_id = rand_token(8) + "@streams.test"
    contacts = ["<sip:alice@%s>" % c.local_hostport] if method == "INVITE" else []
    first = c.transact(c.build(method, ruri, ruri, from_uri="sip:alice@%s" % DOMAIN, call_id=call_id,
                               cseq=1, contacts=contacts, body=body))
    assert first is not None and first.status == 407, first
    ch = first.challenges("proxy-authenticate")
    auth = authorization_value(ch[0], "alice", ALICE_PW, method, ruri)
    data = c.build(method, ruri, ruri, from_uri="sip:alice@%s" % DOMAIN, call_id=call_id, cseq=2,
                   contacts=contacts, body=body, headers=["Proxy-Authorization: " + auth])
    c.send_raw(data)
    return call_id, data


def final(c, call_id, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = c.recv(deadline - time.monotonic())
        if m is None:
            return None
        if m.status and m.status >= 200 and m.get("call-id") == call_id:
            return m
    return None


def next_request(c, method, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = c.recv(deadline - time.monotonic())
        if m is None:
            return None
        if m.method == method:
            return m
    return None


def response_bytes(req, code, reason, tag="b1", contact=None):
    to = req.get("to") + ("" if "tag=" in req.get("to") else ";tag=" + tag)
    lines = ["SIP/2.0 %d %s" % (code, reason)]
    lines += ["Via: %s" % v for v in req.get_all("via")]
    lines += ["Record-Route: %s" % v for v in req.get_all("record-route")]
    lines += ["From: %s" % req.get("from"), "To: %s" % to, "Call-ID: %s" % req.get("call-id"),
              "CSeq: %s" % req.get("cseq")]
    if contact:
        lines.append("Contact: <%s>" % contact)
    lines += ["Content-Length: 0", "", ""]
    return "\r\n".join(lines).encode()


# ---------------------------------------------------------------- callee on a stream

def test_message_to_tls_registered_callee(sipwarden, pki):
    """bob registers over TLS; alice's MESSAGE (UDP) reaches him over that TLS
    connection with our Via saying TLS; his 200 reaches alice."""
    d, tls_port = start(sipwarden, pki)
    with stream_client(d, pki, "tls", tls_port) as bob:
        register_stream(bob, "bob")
        for i in range(6):  # from six source ports: spread over the workers
            with d.client() as alice:
                text = b"hello over tls %d" % i
                call_id, _ = authed_request(alice, "MESSAGE", "bob", body=text)
                req = next_request(bob, "MESSAGE")
                assert req is not None, "MESSAGE not delivered on bob's TLS connection\n" + d.log_tail()
                assert req.get("via").startswith("SIP/2.0/TLS 127.0.0.1:%d;" % tls_port), req.get("via")
                assert req.body == text
                assert "Proxy-Authorization" not in req.raw.decode()
                bob.send_raw(response_bytes(req, 200, "OK"))
                r = final(alice, call_id)
                assert r is not None and r.status == 200, r


@pytest.mark.parametrize("proto", ["tcp", "tls"])
@pytest.mark.parametrize("nat", [False, True], ids=["own-address", "behind-nat"])
def test_call_to_stream_registered_callee(sipwarden, pki, proto, nat):
    """bob registers over TCP or TLS; alice (UDP) calls: INVITE over bob's
    connection (Via SIP/2.0/TCP or TLS), 180 and 200 back to alice, her ACK for
    the 2xx and her BYE follow the dialog to bob over the same connection, also
    when bob's Contact is a private address nobody can connect to (a phone
    behind NAT)."""
    d, tls_port = start(sipwarden, pki)
    with stream_client(d, pki, proto, tls_port) as bob, d.client() as alice:
        if nat:
            bob_contact = "sip:bob@10.255.1.2:5060;transport=%s" % proto
        else:
            bob_contact = "sip:bob@%s;transport=%s" % (bob.local_hostport, proto)
        register_stream(bob, "bob", bob_contact)
        call_id, _ = authed_request(alice, "INVITE", "bob")
        inv = next_request(bob, "INVITE")
        assert inv is not None, "INVITE not delivered on bob's connection\n" + d.log_tail()
        our_port = tls_port if proto == "tls" else d.port
        assert inv.get("via").startswith("SIP/2.0/%s 127.0.0.1:%d;" % (proto.upper(), our_port)), inv.get("via")
        assert inv.start_line.split()[1] == bob_contact
        bob.send_raw(response_bytes(inv, 180, "Ringing"))
        bob.send_raw(response_bytes(inv, 200, "OK", contact=bob_contact))
        ok = final(alice, call_id)
        assert ok is not None and ok.status == 200, ok
        rr = ok.get_all("record-route")
        assert rr, ok.raw
        route = ["Route: %s" % v for v in rr]
        to = ok.get("to")
        for method, cseq in (("ACK", 2), ("BYE", 3)):
            lines = ["%s %s SIP/2.0" % (method, bob_contact), "Via: %s" % alice.via(),
                     "Max-Forwards: 70", "From: <sip:alice@%s>;tag=a1" % DOMAIN, "To: %s" % to,
                     "Call-ID: %s" % call_id, "CSeq: %d %s" % (cseq, method)] + route + [
                     "Content-Length: 0", "", ""]
            alice.send_raw("\r\n".join(lines))
            got = next_request(bob, method)
            assert got is not None, "%s not delivered to bob over %s\n%s" % (method, proto, d.log_tail())
            assert got.get("via").startswith("SIP/2.0/%s" % proto.upper()), got.get("via")
        bob.send_raw(response_bytes(got, 200, "OK"))
        r = final(alice, call_id)
        assert r is not None and r.status == 200 and "BYE" in r.get("cseq"), r


def test_no_retransmission_over_tcp_and_cancel(sipwarden, pki):
    """Over a reliable transport the proxy does not retransmit (RFC 3261
    §17.1.1.2: no timer A): bob sees the INVITE once; alice's CANCEL reaches
    him over the same connection and the 487 reaches her."""
    d, _ = start(sipwarden, pki)
    with stream_client(d, pki, "tcp", 0) as bob, d.client() as alice:
        register_stream(bob, "bob")
        call_id, data = authed_request(alice, "INVITE", "bob")
        inv = next_request(bob, "INVITE")
        assert inv is not None, "INVITE not delivered on bob's TCP connection\n" + d.log_tail()
        # Timer A would resend after 0.5 s and 1.5 s over UDP.
        assert next_request(bob, "INVITE", timeout=1.7) is None, "INVITE retransmitted over TCP"
        bob.send_raw(response_bytes(inv, 180, "Ringing"))
        deadline = time.monotonic() + 3
        ringing = None
        while ringing is None and time.monotonic() < deadline:
            m = alice.recv(deadline - time.monotonic())
            if m is not None and m.status == 180:
                ringing = m
        assert ringing is not None, "180 not relayed to alice"
        via = Message(data).get("via")
        ruri = "sip:bob@%s" % DOMAIN
        lines = ["CANCEL %s SIP/2.0" % ruri, "Via: %s" % via, "Max-Forwards: 70",
                 "From: %s" % Message(data).get("from"), "To: <%s>" % ruri, "Call-ID: %s" % call_id,
                 "CSeq: 2 CANCEL", "Content-Length: 0", "", ""]
        alice.send_raw("\r\n".join(lines))
        cancel = next_request(bob, "CANCEL")
        assert cancel is not None, "CANCEL not delivered over TCP\n" + d.log_tail()
        assert cancel.get("via") == inv.get_all("via")[0], (cancel.get("via"), inv.get("via"))
        bob.send_raw(response_bytes(cancel, 200, "OK"))
        bob.send_raw(response_bytes(inv, 487, "Request Terminated"))
        deadline = time.monotonic() + 5
        got = None
        while got is None and time.monotonic() < deadline:
            m = alice.recv(deadline - time.monotonic())
            if m is not None and m.status == 487:
                got = m
        assert got is not None, "487 not relayed to alice"
        ack = next_request(bob, "ACK")
        assert ack is not None, "no hop-by-hop ACK for the 487 over TCP"


def test_closed_connection_gets_480(sipwarden, pki):
    """bob's TLS connection is gone: his binding remains but cannot be reached,
    so alice's call fails at once with 480 (no new connection toward a phone)."""
    d, tls_port = start(sipwarden, pki)
    bob = stream_client(d, pki, "tls", tls_port)
    register_stream(bob, "bob")
    bob.close()
    time.sleep(0.5)  # the daemon reads the end of the stream and drops the connection
    with d.client() as alice:
        call_id, _ = authed_request(alice, "INVITE", "bob")
        t0 = time.monotonic()
        r = final(alice, call_id)
        assert r is not None and r.status == 480, r
        assert time.monotonic() - t0 < 2.0


def test_sips_request_uri_needs_tls(sipwarden, pki):
    """A sips: Request-URI is never delivered over plain TCP (RFC 3261 §26.2.2)."""
    d, _ = start(sipwarden, pki)
    with stream_client(d, pki, "tcp", 0) as bob, d.client() as alice:
        register_stream(bob, "bob")
        ruri = "sips:bob@%s" % DOMAIN
        first = alice.transact(alice.build("MESSAGE", ruri, ruri, from_uri="sip:alice@%s" % DOMAIN, cseq=1))
        assert first is not None and first.status == 407, first
        auth = authorization_value(first.challenges("proxy-authenticate")[0], "alice", ALICE_PW, "MESSAGE", ruri)
        call_id = first.get("call-id")
        alice.send_raw(alice.build("MESSAGE", ruri, ruri, from_uri="sip:alice@%s" % DOMAIN, call_id=call_id,
                                   cseq=2, headers=["Proxy-Authorization: " + auth]))
        r = final(alice, call_id)
        assert r is not None and r.status == 480, r
        assert next_request(bob, "MESSAGE", timeout=0.5) is None


# ---------------------------------------------------------------- tcp:/tls: next hop

class NextHop:
    """A one-connection TCP or TLS SIP server on a free port: records each request
    and answers it 200 on the same connection. Ends after timeout seconds."""

    def __init__(self, pki, tls=False, cert="server", timeout=8.0):
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(4)
        self.port = self.lsock.getsockname()[1]
        self.requests = []
        self.error = None
        self.closed_by_peer = None  # monotonic time the proxy closed the connection
        self.ctx = None
        if tls:
            self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.ctx.load_cert_chain(str(pki / ("%s.crt" % cert)), str(pki / ("%s.key" % cert)))
        self.timeout = timeout
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        deadline = time.monotonic() + self.timeout
        try:
            self.lsock.settimeout(self.timeout)
            conn, _ = self.lsock.accept()
            if self.ctx:
                conn.settimeout(3)
                conn = self.ctx.wrap_socket(conn, server_side=True)
            conn.settimeout(0.2)
            buf = b""
            while time.monotonic() < deadline:
                try:
                    chunk = conn.recv(65536)
                except (socket.timeout, ssl.SSLWantReadError):
                    continue
                if not chunk:
                    self.closed_by_peer = time.monotonic()
                    break
                buf += chunk
                while b"\r\n\r\n" in buf:
                    head, _, rest = buf.partition(b"\r\n\r\n")
                    m = Message(head + b"\r\n\r\n")
                    n = int(m.get("content-length") or 0)
                    if len(rest) < n:
                        break
                    buf = rest[n:]
                    m = Message(head + b"\r\n\r\n" + rest[:n])
                    self.requests.append(m)
                    if m.method != "ACK":
                        conn.sendall(response_bytes(m, 200, "OK"))
            conn.close()
        except Exception as e:  # recorded for the test to report
            self.error = e
        finally:
            self.lsock.close()

    def join(self):
        self.thread.join(self.timeout + 2)


@pytest.mark.parametrize("proto,name", [("tcp", None), ("tls", DOMAIN), ("tls", None)])
def test_next_hop_over_stream(sipwarden, pki, proto, name):
    """[proxy] outbound = tcp:/tls:IP:PORT: a request to a foreign domain goes
    out over a connection the proxy opens (TLS: server certificate checked
    against ca_file and the configured name, else the IP address), and the
    answer comes back on it."""
    hop = NextHop(pki, tls=proto == "tls")
    conf = "[proxy]\noutbound = %s:127.0.0.1:%d\n" % (proto, hop.port)
    if name:
        conf += "outbound_tls_name = %s\n" % name
    if proto == "tls":
        conf += "[tls]\nca_file = %s\n" % (pki / "ca.crt")
    d, tls_port = start(sipwarden, pki, conf)
    with d.client() as alice:
        call_id, _ = authed_request(alice, "MESSAGE", "carol", callee_domain="other.test", body=b"hi")
        r = final(alice, call_id)
        assert r is not None and r.status == 200, "%r\n%s" % (r, d.log_tail())
    hop.join()
    assert hop.error is None, hop.error
    assert hop.requests and hop.requests[0].method == "MESSAGE"
    our_port = tls_port if proto == "tls" else d.port
    via = hop.requests[0].get("via")
    assert via.startswith("SIP/2.0/%s 127.0.0.1:%d;" % (proto.upper(), our_port)), via


def test_tls_next_hop_with_untrusted_certificate(sipwarden, pki):
    """A next hop whose certificate does not chain to ca_file never sees the
    request; the caller gets a final error soon (not after timer F)."""
    hop = NextHop(pki, tls=True, cert="rogue", timeout=5.0)
    conf = "[proxy]\noutbound = tls:127.0.0.1:%d\n[tls]\nca_file = %s\n" % (hop.port, pki / "ca.crt")
    d, _ = start(sipwarden, pki, conf)
    with d.client() as alice:
        call_id, _ = authed_request(alice, "MESSAGE", "carol", callee_domain="other.test")
        t0 = time.monotonic()
        r = final(alice, call_id, timeout=8)
        assert r is not None and r.status >= 400, r
        assert time.monotonic() - t0 < 5
    hop.join()
    assert not hop.requests
    assert "TLS handshake with 127.0.0.1:%d failed" % hop.port in d.log_text()


def test_tls_next_hop_without_verification(sipwarden, pki):
    """verify_server = no (lab use) accepts the untrusted certificate."""
    hop = NextHop(pki, tls=True, cert="rogue")
    conf = "[proxy]\noutbound = tls:127.0.0.1:%d\n[tls]\nverify_server = no\n" % hop.port
    d, _ = start(sipwarden, pki, conf)
    with d.client() as alice:
        call_id, _ = authed_request(alice, "MESSAGE", "carol", callee_domain="other.test")
        r = final(alice, call_id)
        assert r is not None and r.status == 200, "%r\n%s" % (r, d.log_tail())
    hop.join()
    assert hop.requests


def test_stream_next_hop_needs_a_listen_address(sipwarden, tmp_path):
    """A tls: next hop without a tls: listen address (nothing to put in Via) is a config error."""
    conf = tmp_path / "nh.conf"
    conf.write_text("[proxy]\noutbound = tls:127.0.0.1:5999\n")
    d = sipwarden(args=["--config", str(conf)], start=False)
    r = subprocess.run(d.argv(), capture_output=True, text=True, timeout=20, env=d.env())
    assert r.returncode != 0
    assert "outbound" in (r.stdout + r.stderr)


def test_unreachable_next_hop_fails_fast(sipwarden, pki):
    """A tcp: next hop that refuses the connection: the branch fails as soon as
    the connect does, not after timer F (32 s)."""
    port = free_port()  # nobody listens there
    d, _ = start(sipwarden, pki, "[proxy]\noutbound = tcp:127.0.0.1:%d\n" % port)
    with d.client() as alice:
        call_id, _ = authed_request(alice, "MESSAGE", "carol", callee_domain="other.test")
        t0 = time.monotonic()
        r = final(alice, call_id, timeout=8)
        assert r is not None and r.status >= 400, r
        assert time.monotonic() - t0 < 3
    assert "tcp connection to 127.0.0.1:%d failed" % port in d.log_text()


def test_outbound_connection_idle_timeout(sipwarden, pki):
    """tcp_idle_timeout applies to connections the proxy opened."""
    hop = NextHop(pki, timeout=8.0)
    conf = "[proxy]\noutbound = tcp:127.0.0.1:%d\n" % hop.port
    d, _ = start(sipwarden, pki, conf.replace("[proxy]", "[server]\ntcp_idle_timeout = 1\n[proxy]"))
    with d.client() as alice:
        call_id, _ = authed_request(alice, "MESSAGE", "carol", callee_domain="other.test")
        r = final(alice, call_id)
        assert r is not None and r.status == 200, r
        t0 = time.monotonic()
    hop.join()
    assert hop.closed_by_peer is not None, "the idle outbound connection was never closed"
    assert hop.closed_by_peer - t0 < 4
