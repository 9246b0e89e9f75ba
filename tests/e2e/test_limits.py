"""Limits of src/base/limits.h at their boundary, end to end: Contact entries in one
REGISTER (SW_MAX_CONTACTS_PER_MSG) and bytes of one Contact URI (SW_MAX_CONTACT_URI).
Connections per IP are covered in test_tls.py, message size and header limits in
test_malformed.py and the parser unit tests."""

from conftest import DOMAIN, PASSWORDS
from sipclient import bindings

SW_MAX_CONTACTS_PER_MSG = 16  # src/base/limits.h
SW_MAX_CONTACT_URI = 512      # src/base/limits.h
ALICE_PW = PASSWORDS[("alice", DOMAIN)]


def contacts(n):
    return ["<sip:dev%02d@127.0.0.1:5070>" % i for i in range(n)]


def uri_of_len(n):
    host = "@127.0.0.1:5070"
    return "sip:" + "u" * (n - len("sip:") - len(host)) + host


def test_contacts_per_message_boundary(sipwarden):
    """Exactly SW_MAX_CONTACTS_PER_MSG contacts in one REGISTER are all bound; one more
    is refused with 403 and nothing of it is stored."""
    d = sipwarden(["--max-contacts", "64"])
    with d.client() as c:
        r = c.register("alice", DOMAIN, ALICE_PW, contacts=contacts(SW_MAX_CONTACTS_PER_MSG))
        assert r.status == 200, r.start_line
        assert len(bindings(r)) == SW_MAX_CONTACTS_PER_MSG
        r = c.register("bob", DOMAIN, PASSWORDS[("bob", DOMAIN)],
                       contacts=contacts(SW_MAX_CONTACTS_PER_MSG + 1))
        assert r.status in (400, 403), r.start_line
        r = c.register("bob", DOMAIN, PASSWORDS[("bob", DOMAIN)], contacts=[])
        assert r.status == 200 and bindings(r) == {}, r.start_line


def test_contact_uri_length_boundary(sipwarden):
    """A Contact URI of exactly SW_MAX_CONTACT_URI bytes is bound as sent; one byte more
    is refused with 400 (never stored truncated)."""
    d = sipwarden()
    longest = uri_of_len(SW_MAX_CONTACT_URI)
    assert len(longest) == SW_MAX_CONTACT_URI
    with d.client() as c:
        r = c.register("alice", DOMAIN, ALICE_PW, contacts=["<%s>" % longest])
        assert r.status == 200, r.start_line
        assert longest in bindings(r), list(bindings(r))
        r = c.register("bob", DOMAIN, PASSWORDS[("bob", DOMAIN)],
                       contacts=["<%s>" % uri_of_len(SW_MAX_CONTACT_URI + 1)])
        assert r.status in (400, 403), r.start_line
        r = c.register("bob", DOMAIN, PASSWORDS[("bob", DOMAIN)], contacts=[])
        assert r.status == 200 and bindings(r) == {}, r.start_line


def test_refused_connections_are_logged_once_per_period(sipwarden):
    """Connections over max_connections_per_ip are refused; a peer that keeps
    trying gets one log line per SW_CONN_LIMIT_LOG_S (10 s) per worker, not
    one per attempt (bounded: 40 attempts)."""
    import socket
    import time
    d = sipwarden(args=["--workers", "1"], auth=None)
    conf = d.dir / "limits.conf"
    conf.write_text("[server]\nmax_connections_per_ip = 2\n")
    d.stop()
    d.extra_args = ["--config", str(conf)] + d.extra_args
    d.start()
    held = []
    try:
        for _ in range(2):
            s = socket.create_connection(("127.0.0.1", d.port), timeout=2)
            held.append(s)
        time.sleep(0.2)
        refused = 0
        for _ in range(40):
            s = socket.create_connection(("127.0.0.1", d.port), timeout=2)
            s.settimeout(2)
            try:
                if s.recv(1) == b"":
                    refused += 1
            except ConnectionResetError:
                refused += 1
            finally:
                s.close()
        assert refused == 40
        lines = [l for l in d.log_text().splitlines() if "per IP) reached" in l]
        assert len(lines) == 1, lines
        # The client can still register over UDP meanwhile.
        with d.client() as c:
            assert c.options().status == 200
    finally:
        for s in held:
            s.close()
