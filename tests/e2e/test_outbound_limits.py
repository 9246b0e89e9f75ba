"""Connections the proxy opens itself have a budget of their own: a caller
who names many TCP targets in Request-URIs makes the proxy open connections
to them, and those must never take the slots that clients connecting to us
need. Loopback only; listeners are sockets that never accept (the kernel
completes the handshakes), every count and wait is bounded."""

import socket
import time

from conftest import DOMAIN, PASSWORDS
from sipclient import authorization_value, rand_token

ALICE_PW = PASSWORDS[("alice", DOMAIN)]
MAX_CONNS = 8      # [server] max_tcp_connections of the daemon under test
TARGETS = 12       # more TCP targets than the daemon may hold connections


def send_to_target(c, port):
    """An authenticated MESSAGE from alice to a TCP target on 127.0.0.1:port."""
    ruri = "sip:t%d@127.0.0.1:%d;transport=tcp" % (port, port)
    call_id = rand_token(8) + "@outbound-limits.test"
    first = c.transact(c.build("MESSAGE", ruri, ruri, from_uri="sip:alice@%s" % DOMAIN, call_id=call_id, cseq=1),
                       call_id=call_id)
    assert first is not None and first.status == 407, first
    auth = authorization_value(first.challenges("proxy-authenticate")[0], "alice", ALICE_PW, "MESSAGE", ruri)
    c.send_raw(c.build("MESSAGE", ruri, ruri, from_uri="sip:alice@%s" % DOMAIN, call_id=call_id, cseq=2,
                       headers=["Proxy-Authorization: " + auth]))


def inbound_served(d):
    """True when a new TCP client gets an answer to OPTIONS."""
    s = socket.create_connection((d.host, d.port), timeout=3)
    try:
        s.settimeout(2.0)
        call_id = rand_token(8)
        s.sendall(("OPTIONS sip:%s SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bK%s\r\n"
                   "Max-Forwards: 70\r\nFrom: <sip:probe@%s>;tag=p1\r\nTo: <sip:%s>\r\n"
                   "Call-ID: %s\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
                   % (DOMAIN, rand_token(6), DOMAIN, DOMAIN, call_id)).encode())
        try:
            data = s.recv(4096)
        except OSError:
            return False
        return data.startswith(b"SIP/2.0 ")
    finally:
        s.close()


def test_outbound_connections_leave_room_for_clients(sipwarden, tmp_path):
    conf = tmp_path / "limits.conf"
    conf.write_text("[server]\nworkers = 1\nmax_tcp_connections = %d\nmax_connections_per_ip = 1000\n"
                    "[auth]\nalgorithms = MD5\n" % MAX_CONNS)
    listeners = []
    try:
        for _ in range(TARGETS):
            ls = socket.socket()
            ls.bind(("127.0.0.1", 0))
            ls.listen(8)
            listeners.append(ls)
        d = sipwarden(args=["--config", str(conf)])
        with d.client() as alice:
            for ls in listeners:
                send_to_target(alice, ls.getsockname()[1])
            # the proxy has opened what it may and refused the rest
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and "no outbound tcp connection" not in d.log_text():
                time.sleep(0.1)
        assert "no outbound tcp connection" in d.log_text(), d.log_tail()
        # refused connects are a remote's doing: a few log lines, not one per request
        assert d.log_text().count("no outbound tcp connection") == 1, d.log_tail()
        assert inbound_served(d), "outbound connections took every slot:\n" + d.log_tail()
        assert d.running()
    finally:
        for ls in listeners:
            ls.close()


def test_outbound_connections_do_not_use_up_an_address_clients_connect_from(sipwarden, tmp_path):
    """Connections the proxy opens to an address are counted apart from the
    connections accepted from it: a caller naming TCP targets on a client's
    address (here 127.0.0.1, where the test connects from) must not exhaust
    max_connections_per_ip for that client."""
    per_ip = 4
    conf = tmp_path / "per-ip.conf"
    conf.write_text("[server]\nworkers = 1\nmax_connections_per_ip = %d\n[auth]\nalgorithms = MD5\n" % per_ip)
    listeners = []
    try:
        for _ in range(per_ip + 2):
            ls = socket.socket()
            ls.bind(("127.0.0.1", 0))
            ls.listen(8)
            listeners.append(ls)
        d = sipwarden(args=["--config", str(conf)])
        with d.client() as alice:
            for ls in listeners:
                send_to_target(alice, ls.getsockname()[1])
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and "no outbound tcp connection" not in d.log_text():
                time.sleep(0.1)
        assert "no outbound tcp connection" in d.log_text(), d.log_tail()
        assert inbound_served(d), "outbound connections used up the clients' per-address limit:\n" + d.log_tail()
        assert d.running()
    finally:
        for ls in listeners:
            ls.close()
