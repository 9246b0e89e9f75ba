"""Registrar behaviour (RFC 3261 §10.3, RFC 3665 §2.1) against the real daemon."""

import time

import pytest

from conftest import DOMAIN, PASSWORDS, ipv6_loopback_available
from sipclient import bindings, rand_token

ALICE_PW = PASSWORDS[("alice", DOMAIN)]
BOB_PW = PASSWORDS[("bob", DOMAIN)]


def expect(resp, status):
    assert resp is not None, "no response (expected %d)" % status
    assert resp.status == status, "expected %d, got %r\n%s" % (
        status, resp.start_line, resp.raw.decode("utf-8", "replace"))
    return resp


def is_stale(challenge):
    return challenge.get("stale", "").lower() == "true"


def challenge_shape(resp):
    """What must not differ between two 401s: status, reason, header names, challenge params."""
    ch = resp.challenges()
    params = [{k: (v if k not in ("nonce", "opaque") else "<%s>" % k) for k, v in c.items()}
              for c in ch]
    return (resp.status, resp.reason, sorted(resp.header_names()), params)


def query(client, user="alice", password=ALICE_PW, domain=DOMAIN):
    """Authenticated REGISTER without Contact: the current bindings."""
    return expect(client.register(user, domain, password, contacts=[]), 200)


# ---------------------------------------------------------------- basics

def test_options_answered_200(client):
    """OPTIONS to the server gets 200 echoing Call-ID, CSeq and the Via branch, with a To tag."""
    data = client.build("OPTIONS", "sip:%s" % client.hostport, "sip:%s" % client.hostport,
                        call_id="opt-1@test", cseq=7, via=client.via(branch="z9hG4bKopt1"))
    r = expect(client.transact(data), 200)
    assert r.get("call-id") == "opt-1@test"
    assert r.get("cseq").split() == ["7", "OPTIONS"]
    assert "branch=z9hG4bKopt1" in r.get("via")
    assert "tag=" in r.get("to")


@pytest.mark.parametrize("method", ["INVITE", "MESSAGE"])
def test_unserved_methods_get_final_answer(client, method):
    """Non-REGISTER requests get a final answer, never silence: from a local
    domain without credentials that is the proxy's 407 challenge."""
    uri = "sip:bob@%s" % DOMAIN
    r = client.request(method, uri, uri, contacts=["<%s>" % client.contact_uri("alice")])
    assert r is not None, "%s got no final response" % method
    assert r.status in (403, 407, 501), "%s -> %s" % (method, r.start_line)


def test_ack_gets_no_reply(client):
    """ACK is never answered; the server keeps serving afterwards."""
    uri = "sip:bob@%s" % DOMAIN
    client.send_raw(client.build("ACK", uri, uri, cseq=1))
    assert client.recv(0.7) is None, "ACK was answered"
    expect(client.options(), 200)


# ---------------------------------------------------------------- challenge

def test_challenge_shape(client):
    """REGISTER without credentials -> 401 with a Digest challenge for the To domain (qop=auth, MD5)."""
    data = client.build("REGISTER", "sip:%s" % DOMAIN, "sip:alice@%s" % DOMAIN,
                        call_id="ch-1@test", cseq=3, via=client.via(branch="z9hG4bKch1"),
                        contacts=["<%s>" % client.contact_uri("alice")])
    r = expect(client.transact(data), 401)
    assert r.get("call-id") == "ch-1@test"
    assert r.get("cseq").split() == ["3", "REGISTER"]
    assert "branch=z9hG4bKch1" in r.get("via")
    assert "tag=" in r.get("to"), "401 without a To tag"
    chs = r.challenges()
    assert len(chs) >= 1, r.get_all("www-authenticate")
    # one challenge per algorithm (RFC 7616 §3.7); old phones find their MD5 one among them
    md5 = [c for c in chs if c.get("algorithm", "MD5").upper() == "MD5"]
    assert len(md5) == 1, r.get_all("www-authenticate")
    ch = md5[0]
    assert ch.get("realm") == DOMAIN
    assert len(ch.get("nonce", "")) >= 16
    assert "opaque" in ch
    assert "auth" in [q.strip() for q in ch.get("qop", "").split(",")]
    assert not is_stale(ch)
    # each challenge carries its own nonce
    r2 = expect(client.register("alice", DOMAIN), 401)
    assert r2.challenges()[0]["nonce"] != ch["nonce"]


def test_register_success_lists_contact_with_expires(client):
    """Answering the challenge (qop=auth) -> 200 listing the contact with ;expires=N."""
    r = expect(client.register("alice", DOMAIN, ALICE_PW, expires=600), 200)
    assert client.last_first.status == 401
    b = bindings(r)
    uri = client.contact_uri("alice")
    assert uri in b, r.get_all("contact")
    assert b[uri] is not None and 590 <= b[uri] <= 600, b
    assert "tag=" in r.get("to")


def test_rfc2069_answer_accepted(client):
    """The RFC 2069 answer (no qop, nc, cnonce) with the right password -> 200."""
    r = expect(client.register("alice", DOMAIN, ALICE_PW, use_qop=False), 200)
    assert client.contact_uri("alice") in bindings(r)


def test_wrong_password_and_unknown_user_look_the_same(sipwarden):
    """Wrong password and unknown user both get a fresh 401 identical apart from nonce/tag values."""
    d = sipwarden()
    with d.client() as c:
        wrong = expect(c.register("alice", DOMAIN, "not-the-password"), 401)
        used = c.last_challenge["nonce"]
        unknown = expect(c.register("mallory", DOMAIN, "whatever"), 401)
        plain = expect(c.register("alice", DOMAIN), 401)
    assert challenge_shape(wrong) == challenge_shape(unknown)
    assert challenge_shape(wrong) == challenge_shape(plain)
    assert wrong.challenges()[0]["nonce"] != used, "401 after a wrong answer must carry a fresh nonce"
    assert not is_stale(wrong.challenges()[0])


def test_stale_nonce_then_fresh_one_works(sipwarden):
    """A right answer to an expired (well-signed) nonce -> 401 stale=true; the new nonce then works."""
    d = sipwarden(["--nonce-lifetime", "2"])
    with d.client() as c:
        old = c.challenge("alice", DOMAIN)
        time.sleep(3.2)
        r = expect(c.register("alice", DOMAIN, ALICE_PW, challenge=old), 401)
        fresh = r.challenges()[0]
        assert is_stale(fresh), r.get_all("www-authenticate")
        assert fresh["nonce"] != old["nonce"]
        expect(c.register("alice", DOMAIN, ALICE_PW, challenge=fresh), 200)


def test_stale_nonce_with_wrong_password_is_not_stale(sipwarden):
    """stale=true is only for the right answer: a wrong password on an expired nonce -> plain 401."""
    d = sipwarden(["--nonce-lifetime", "2"])
    with d.client() as c:
        old = c.challenge("alice", DOMAIN)
        time.sleep(3.2)
        r = expect(c.register("alice", DOMAIN, "wrong-password", challenge=old), 401)
        assert not is_stale(r.challenges()[0]), r.get_all("www-authenticate")


def test_forged_nonce_rejected_not_stale(client):
    """A nonce the server did not sign (answer computed correctly over it) -> 401 without stale."""
    real = client.challenge("alice", DOMAIN)
    n = real["nonce"]
    flipped = n[:-3] + ("A" if n[-3] != "A" else "B") + n[-2:]
    for nonce in (flipped, "00112233445566778899aabbccddeeff", rand_token(24)):
        forged = dict(real, nonce=nonce)
        r = expect(client.register("alice", DOMAIN, ALICE_PW, challenge=forged), 401)
        assert not is_stale(r.challenges()[0]), (nonce, r.get_all("www-authenticate"))
    q = query(client)  # nothing was registered by the forged answers
    assert bindings(q) == {}


def test_auth_user_differs_from_to_user(client):
    """Alice's valid credentials on bob's registration -> 403 naming the auth ID problem."""
    r = expect(client.register("bob", DOMAIN, ALICE_PW, auth_user="alice"), 403)
    assert "auth id" in r.reason.lower(), r.start_line
    q = query(client, "bob", BOB_PW)
    assert bindings(q) == {}


def test_disabled_user(sipwarden):
    """Disabled subscriber: right password -> 403; wrong password -> same 401 as an unknown user."""
    carol_pw = "carol-Pw-1"
    d = sipwarden(users=[("alice", DOMAIN, ALICE_PW), ("carol", DOMAIN, carol_pw)],
                  disabled=[("carol", DOMAIN)])
    with d.client() as c:
        expect(c.register("carol", DOMAIN, carol_pw), 403)
        wrong = expect(c.register("carol", DOMAIN, "bad-password"), 401)
        unknown = expect(c.register("nobody", DOMAIN, "bad-password"), 401)
        assert challenge_shape(wrong) == challenge_shape(unknown)
        expect(c.register("alice", DOMAIN, ALICE_PW), 200)


def test_foreign_domain_forbidden(client):
    """REGISTER for a domain the server does not serve -> 403 (nothing registered)."""
    r = client.register("alice", "other.example.org", ALICE_PW)
    expect(r, 403)


# ---------------------------------------------------------------- bindings

def test_several_contacts_per_aor(client):
    """Two REGISTERs with different contacts, then one with two contacts: all listed."""
    c1, c2, c3, c4 = ["<sip:alice@127.0.0.1:%d>" % p for p in (40001, 40002, 40003, 40004)]
    expect(client.register("alice", DOMAIN, ALICE_PW, contacts=[c1]), 200)
    r = expect(client.register("alice", DOMAIN, ALICE_PW, contacts=[c2]), 200)
    assert set(bindings(r)) == {"sip:alice@127.0.0.1:40001", "sip:alice@127.0.0.1:40002"}
    r = expect(client.register("alice", DOMAIN, ALICE_PW, contacts=[c3, c4]), 200)
    assert set(bindings(r)) == {"sip:alice@127.0.0.1:%d" % p for p in (40001, 40002, 40003, 40004)}
    assert all(e is not None and e > 0 for e in bindings(r).values())


def test_register_without_contact_lists_bindings(client):
    """An authenticated REGISTER without Contact returns the bindings and changes nothing."""
    expect(client.register("alice", DOMAIN, ALICE_PW, expires=900), 200)
    q = query(client)
    assert list(bindings(q)) == [client.contact_uri("alice")]
    assert 880 <= bindings(q)[client.contact_uri("alice")] <= 900
    q2 = query(client, "bob", BOB_PW)
    assert q2.contacts() == []


def test_remove_one_contact_with_expires_zero(client):
    """;expires=0 on one contact removes that binding only."""
    a, b = "<sip:alice@127.0.0.1:41001>", "<sip:alice@127.0.0.1:41002>"
    expect(client.register("alice", DOMAIN, ALICE_PW, contacts=[a, b]), 200)
    r = expect(client.register("alice", DOMAIN, ALICE_PW, contacts=[a + ";expires=0"]), 200)
    assert set(bindings(r)) == {"sip:alice@127.0.0.1:41002"}


def test_star_contact_removes_all(client):
    """Contact: * with Expires: 0 removes every binding of the AOR."""
    contacts = ["<sip:alice@127.0.0.1:%d>" % p for p in (42001, 42002)]
    expect(client.register("alice", DOMAIN, ALICE_PW, contacts=contacts), 200)
    r = expect(client.register("alice", DOMAIN, ALICE_PW, contacts=["*"], expires=0), 200)
    assert bindings(r) == {}
    assert bindings(query(client)) == {}


@pytest.mark.parametrize("expires", [3600, None])
def test_star_contact_needs_expires_zero(client, expires):
    """Contact: * with a non-zero or missing Expires -> 400; bindings stay."""
    expect(client.register("alice", DOMAIN, ALICE_PW), 200)
    expect(client.register("alice", DOMAIN, ALICE_PW, contacts=["*"], expires=expires), 400)
    assert client.contact_uri("alice") in bindings(query(client))


def test_interval_too_brief(sipwarden):
    """0 < requested < min-expires -> 423 with Min-Expires (header and contact-param forms)."""
    d = sipwarden(["--min-expires", "60"])
    with d.client() as c:
        r = expect(c.register("alice", DOMAIN, ALICE_PW, expires=30), 423)
        assert r.get("min-expires") is not None and r.get("min-expires").strip() == "60"
        contact = "<%s>;expires=10" % c.contact_uri("alice")
        r = expect(c.register("alice", DOMAIN, ALICE_PW, contacts=[contact]), 423)
        assert r.get("min-expires").strip() == "60"
        assert bindings(query(c)) == {}
        r = expect(c.register("alice", DOMAIN, ALICE_PW, expires=60), 200)
        assert bindings(r)[c.contact_uri("alice")] <= 60


def test_expires_precedence_and_default(sipwarden):
    """Contact ;expires beats the Expires header, which beats --default-expires."""
    d = sipwarden(["--default-expires", "900", "--min-expires", "10", "--max-expires", "5000"])
    with d.client() as c:
        uri = c.contact_uri("alice")
        r = expect(c.register("alice", DOMAIN, ALICE_PW), 200)
        assert 890 <= bindings(r)[uri] <= 900
        r = expect(c.register("alice", DOMAIN, ALICE_PW, expires=1200), 200)
        assert 1190 <= bindings(r)[uri] <= 1200
        r = expect(c.register("alice", DOMAIN, ALICE_PW, expires=1200,
                              contacts=["<%s>;expires=300" % uri]), 200)
        assert 290 <= bindings(r)[uri] <= 300


def test_max_expires_clamped(sipwarden):
    """A request above --max-expires is granted max-expires, not refused."""
    d = sipwarden(["--max-expires", "300", "--default-expires", "120"])
    with d.client() as c:
        r = expect(c.register("alice", DOMAIN, ALICE_PW, expires=7200), 200)
        e = bindings(r)[c.contact_uri("alice")]
        assert 290 <= e <= 300, e


def test_max_contacts(sipwarden):
    """More bindings than --max-contacts -> 403, and the refused contact is not stored."""
    d = sipwarden(["--max-contacts", "2"])
    with d.client() as c:
        ct = ["<sip:alice@127.0.0.1:%d>" % p for p in (43001, 43002, 43003)]
        expect(c.register("alice", DOMAIN, ALICE_PW, contacts=ct[:2]), 200)
        expect(c.register("alice", DOMAIN, ALICE_PW, contacts=ct[2:]), 403)
        assert set(bindings(query(c))) == {"sip:alice@127.0.0.1:43001", "sip:alice@127.0.0.1:43002"}
        # refreshing an existing binding is still fine at the limit
        expect(c.register("alice", DOMAIN, ALICE_PW, contacts=ct[:1]), 200)


def test_stale_cseq_rejected(client):
    """Same Call-ID with a CSeq not above the stored one -> 400; a higher CSeq -> 200."""
    call_id = "cseq-test@sipwarden.test"
    contact = "<%s>" % client.contact_uri("alice")
    expect(client.register("alice", DOMAIN, ALICE_PW, call_id=call_id, cseq=10), 200)  # stored CSeq 11
    for cseq in (11, 5):
        ch = client.challenge("alice", DOMAIN)
        r = client.register("alice", DOMAIN, ALICE_PW, call_id=call_id, cseq=cseq,
                            challenge=ch, contacts=[contact + ";expires=0"])
        expect(r, 400)
    assert client.contact_uri("alice") in bindings(query(client)), "stale REGISTER changed bindings"
    ch = client.challenge("alice", DOMAIN)
    expect(client.register("alice", DOMAIN, ALICE_PW, call_id=call_id, cseq=12, challenge=ch), 200)


def test_expired_contact_disappears_on_time(sipwarden):
    """A binding registered for 2 s is gone from the listing after ~3.5 s."""
    d = sipwarden(["--min-expires", "1"])
    with d.client() as c:
        r = expect(c.register("alice", DOMAIN, ALICE_PW, expires=2), 200)
        assert c.contact_uri("alice") in bindings(r)
        assert c.contact_uri("alice") in bindings(query(c))
        time.sleep(3.5)
        assert bindings(query(c)) == {}


# ---------------------------------------------------------------- transport

def test_rport_and_received_in_reply_via(client):
    """Top Via of replies gets received= and rport=<source port>; the reply goes to the source
    port even though sent-by names another host and port (RFC 3581)."""
    via = client.via(sent_by="192.0.2.1:5999", rport=True)
    data = client.build("REGISTER", "sip:%s" % DOMAIN, "sip:alice@%s" % DOMAIN, via=via,
                        call_id="rport@test", contacts=["<%s>" % client.contact_uri("alice")])
    r = client.transact(data)
    assert r is not None, "reply did not come back to the source port"
    p = r.top_via_params()
    assert p.get("received") == "127.0.0.1", r.get("via")
    assert p.get("rport") == str(client.local_port), r.get("via")


def test_received_added_without_rport(client):
    """Without rport, a sent-by host differing from the source still gets received=."""
    via = client.via(sent_by="%s:%d" % ("localhost.invalid", client.local_port), rport=False)
    data = client.build("OPTIONS", "sip:%s" % client.hostport, "sip:%s" % client.hostport,
                        via=via, call_id="norport@test")
    r = client.transact(data)
    # the reply goes to received (127.0.0.1) and the sent-by port, which is ours
    assert r is not None, "no reply to received:sent-by-port"
    assert r.top_via_params().get("received") == "127.0.0.1", r.get("via")


def test_reply_without_rport_goes_to_sent_by_port(daemon):
    """Without rport, a UDP reply goes to received= and the Via sent-by port (RFC 3261
    §18.2.2), not to the source port of the request."""
    with daemon.client() as listener, daemon.client() as sender:
        via = sender.via(sent_by="127.0.0.1:%d" % listener.local_port, rport=False)
        data = sender.build("OPTIONS", "sip:%s" % sender.hostport, "sip:%s" % sender.hostport,
                            via=via, call_id="sentby@test")
        sender.send_raw(data)
        r = listener.recv(2.0)
        stray = sender.recv(0.2)
    assert r is not None, "no reply at the sent-by port%s" % (
        " (it went to the source port)" if stray is not None else "")
    assert r.status == 200 and r.get("call-id") == "sentby@test", r.start_line


def test_register_over_tcp(daemon):
    """Full challenge/answer registration over TCP on one connection."""
    with daemon.client("tcp") as c:
        r = expect(c.register("alice", DOMAIN, ALICE_PW), 200)
        assert c.contact_uri("alice") in bindings(r)
        assert "SIP/2.0/TCP" in r.get("via")
    with daemon.client("udp") as u:
        q = query(u)
        assert any("transport=tcp" in uri for uri in bindings(q))


def test_register_over_ipv6(sipwarden):
    """Registration over UDP and TCP on ::1."""
    if not ipv6_loopback_available():
        pytest.skip("::1 not available")
    d = sipwarden(ipv6=True)
    for proto in ("udp", "tcp"):
        with d.client(proto, host="::1") as c:
            r = expect(c.register("alice", DOMAIN, ALICE_PW), 200)
            assert c.contact_uri("alice") in bindings(r), r.get_all("contact")


def test_registrations_survive_restart(sipwarden):
    """Bindings are flushed at SIGTERM (exit 0) and come back after a restart on the same DB."""
    d = sipwarden()
    with d.client() as c:
        uri = c.contact_uri("alice")
        expect(c.register("alice", DOMAIN, ALICE_PW, expires=600), 200)
        expect(c.register("bob", DOMAIN, BOB_PW, contacts=["<sip:bob@127.0.0.1:44001>"],
                          expires=300), 200)
    d.stop()
    d.start()
    with d.client() as c:
        b = bindings(query(c))
        assert uri in b and 560 <= b[uri] <= 600, b
        b = bindings(query(c, "bob", BOB_PW))
        assert "sip:bob@127.0.0.1:44001" in b and 260 <= b["sip:bob@127.0.0.1:44001"] <= 300, b
