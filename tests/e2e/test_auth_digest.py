"""Digest authentication end to end (RFC 7616, RFC 8760, RFC 2617): one challenge
per configured algorithm, every algorithm and qop answered by the project's own
client (SIPp speaks MD5 only), userhash, Authentication-Info with rspauth and
nextnonce, nonce-count replay, stale and address-bound nonces, one-time nonces,
a nonce shared by two nodes, the alias table, account states and downgrade pins,
and byte-for-byte identical answers for an unknown user and a wrong password."""

import re
import time

import pytest

from conftest import DOMAIN, PASSWORDS
from sipclient import digest_response, hhex, pick_challenge, rand_token

ALICE_PW = PASSWORDS[("alice", DOMAIN)]
ALGORITHMS = ["MD5", "MD5-sess", "SHA-256", "SHA-256-sess", "SHA-512-256", "SHA-512-256-sess"]


def conf(tmp_path, **auth):
    """--config FILE with an [auth] section holding these keys."""
    path = tmp_path / ("auth-%s.conf" % rand_token(3))
    lines = ["[auth]"] + ["%s = %s" % (k, v) for k, v in auth.items()]
    path.write_text("\n".join(lines) + "\n")
    return ["--config", str(path)]


def expect(r, status):
    assert r is not None, "no answer (expected %d)" % status
    assert r.status == status, "expected %d, got %s\n%r" % (status, r.start_line, r.raw)
    return r


def algos_of(r, header="www-authenticate"):
    return [ch.get("algorithm", "MD5") for ch in r.challenges(header)]


def is_stale(ch):
    return ch.get("stale", "").lower() == "true"


def test_default_offers_sha256_then_md5(client):
    r = expect(client.register("alice", DOMAIN), 401)
    assert algos_of(r) == ["SHA-256", "MD5"]
    chs = r.challenges()
    assert chs[0]["nonce"] == chs[1]["nonce"]
    for ch in chs:
        assert [q.strip() for q in ch["qop"].split(",")] == ["auth", "auth-int"]
        assert "userhash" not in ch


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("qop", ["auth", "auth-int"])
def test_every_algorithm_and_qop(sipwarden, tmp_path, algorithm, qop):
    d = sipwarden(conf(tmp_path, algorithms=", ".join(ALGORITHMS)))
    with d.client() as c:
        r = expect(c.register("alice", DOMAIN, ALICE_PW, algorithm=algorithm, qop=qop), 200)
        assert algos_of(c.last_first) == ALGORITHMS
        info = r.get("authentication-info")
        assert info, "no Authentication-Info on 200"
        params = dict((k.lower(), v.strip('"')) for k, v in re.findall(r'(\w+)=("[^"]*"|[^,\s]+)', info))
        ch = c.last_challenge
        auth = dict((k.lower(), v.strip('"')) for k, v in re.findall(r'(\w+)=("[^"]*"|[^,\s]+)', c.last_auth))
        assert params["qop"] == qop and params["nc"] == auth["nc"] and params["cnonce"] == auth["cnonce"]
        # RFC 7616 §3.5: rspauth is the response computed with an empty method
        want = digest_response("alice", DOMAIN, ALICE_PW, "", "sip:%s" % DOMAIN, ch["nonce"], qop=qop,
                               nc=auth["nc"], cnonce=auth["cnonce"], algorithm=algorithm)
        assert params["rspauth"] == want
        assert "nextnonce" not in params


def test_wrong_password_each_algorithm(daemon):
    for algorithm in ("SHA-256", "MD5"):
        with daemon.client() as c:
            expect(c.register("alice", DOMAIN, "wrong", algorithm=algorithm), 401)


def test_unknown_user_and_wrong_password_identical(sipwarden, tmp_path):
    """Every algorithm: the answers to an unknown user and to a wrong password differ
    in nothing but the nonce and tag values."""
    d = sipwarden(conf(tmp_path, algorithms=", ".join(ALGORITHMS), max_failures=0))

    def shape(r):
        text = r.raw.decode()
        text = re.sub(r'nonce="[^"]*"', 'nonce="N"', text)
        text = re.sub(r"tag=[0-9a-f]+", "tag=T", text)
        return text

    for algorithm in ALGORITHMS:
        with d.client() as c:
            call = rand_token(6)
            ch = pick_challenge(expect(c.register("alice", DOMAIN), 401).challenges(), algorithm)
            from sipclient import authorization_value
            answers = []
            for user, pw in (("alice", "not-it"), ("nobody-here", "whatever")):
                auth = authorization_value(ch, user, pw, "REGISTER", "sip:%s" % DOMAIN)
                data = c.build("REGISTER", "sip:%s" % DOMAIN, "sip:alice@%s" % DOMAIN, call_id=call,
                               cseq=1, via=c.via(branch="z9hG4bKsame"),
                               headers=["Authorization: %s" % auth])
                answers.append(expect(c.transact(data), 401))
            assert shape(answers[0]) == shape(answers[1]), algorithm


def test_userhash(sipwarden, tmp_path):
    d = sipwarden(conf(tmp_path, userhash="yes", algorithms="SHA-512-256, SHA-256, MD5"))
    with d.client() as c:
        r = expect(c.register("alice", DOMAIN, ALICE_PW, userhash=True), 200)
        assert all(ch.get("userhash") == "true" for ch in c.last_first.challenges())
        assert hhex("SHA-512-256", "alice:%s" % DOMAIN) in c.last_auth
        assert "alice" not in c.last_auth.split("username=")[1].split(",")[0]
        assert r.get("authentication-info")
        # the registration is alice's
        q = expect(c.register("alice", DOMAIN, ALICE_PW, contacts=[], userhash=True), 200)
        assert c.contact_uri("alice") in [u for u, _ in q.contacts()]
        expect(c.register("alice", DOMAIN, "wrong", userhash=True), 401)


def test_replayed_header_gets_fresh_challenge(client):
    r = expect(client.register("alice", DOMAIN, ALICE_PW), 200)
    replay = client.build("REGISTER", "sip:%s" % DOMAIN, "sip:alice@%s" % DOMAIN,
                          call_id=client.call_ids[("alice", DOMAIN)], cseq=50,
                          contacts=["<%s>" % client.contact_uri("alice")],
                          headers=["Authorization: %s" % client.last_auth])
    again = expect(client.transact(replay), 401)
    assert not is_stale(again.challenges()[0]), "a replay is answered like a wrong answer, not stale"
    assert again.challenges()[0]["nonce"] != client.last_challenge["nonce"]
    assert r.status == 200


def test_nonce_counts_increase_on_one_nonce(client):
    """nc=2, 3 on the same nonce are accepted once each (RFC 7616 §3.4)."""
    from sipclient import authorization_value
    ch = client.challenge("alice", DOMAIN)
    call = rand_token(6)
    for nc, want in ((1, 200), (2, 200), (2, 401), (3, 200)):
        auth = authorization_value(ch, "alice", ALICE_PW, "REGISTER", "sip:%s" % DOMAIN, nc=nc,
                                   cnonce="fixedcnonce")
        r = client.request("REGISTER", "sip:%s" % DOMAIN, "sip:alice@%s" % DOMAIN, call_id=call,
                           contacts=["<%s>" % client.contact_uri("alice")],
                           headers=["Authorization: %s" % auth])
        expect(r, want)


def test_next_nonce_and_one_time(sipwarden, tmp_path):
    d = sipwarden(conf(tmp_path, next_nonce="yes", one_time_nonce="yes"))
    with d.client() as c:
        r = expect(c.register("alice", DOMAIN, ALICE_PW), 200)
        m = re.search(r'nextnonce="([^"]+)"', r.get("authentication-info") or "")
        assert m, r.get("authentication-info")
        old = c.last_challenge
        # one-time: the used nonce (next nc) is stale; the nextnonce works at once
        from sipclient import authorization_value
        auth = authorization_value(old, "alice", ALICE_PW, "REGISTER", "sip:%s" % DOMAIN, nc=2)
        again = expect(c.request("REGISTER", "sip:%s" % DOMAIN, "sip:alice@%s" % DOMAIN,
                                 headers=["Authorization: %s" % auth]), 401)
        assert is_stale(again.challenges()[0])
        expect(c.register("alice", DOMAIN, ALICE_PW, challenge=dict(old, nonce=m.group(1))), 200)


def test_stale_nonce_is_flagged(sipwarden):
    d = sipwarden(["--nonce-lifetime", "1"])
    with d.client() as c:
        old = c.challenge("alice", DOMAIN)
        time.sleep(2.2)
        r = expect(c.register("alice", DOMAIN, ALICE_PW, challenge=old), 401)
        assert all(is_stale(ch) for ch in r.challenges())
        expect(c.register("alice", DOMAIN, ALICE_PW, challenge=r.challenges()[0]), 200)


def test_nonce_bound_to_source_address(sipwarden, tmp_path):
    d = sipwarden(conf(tmp_path, bind_nonce_to_ip="yes"))
    with d.client() as a:
        ch = a.challenge("alice", DOMAIN)
    with _bound_client(d, "127.0.0.2") as b:
        r = expect(b.register("alice", DOMAIN, ALICE_PW, challenge=ch), 401)
        assert not is_stale(r.challenges()[0])
        expect(b.register("alice", DOMAIN, ALICE_PW, challenge=r.challenges()[0]), 200)
    assert "nonce invalid" in d.log_text()


def _bound_client(d, ip):
    from sipclient import SipClient
    return SipClient(d.host, d.port, "udp", timeout=3.0, bind_ip=ip)


def test_two_nodes_share_the_secret(sipwarden, tmp_path):
    """A nonce issued by one node is accepted by another with the same [auth] secret."""
    secret = ["--secret", "cluster-" + rand_token(8)]
    a = sipwarden(secret)
    b = sipwarden(secret)
    other = sipwarden(["--secret", "another-secret"])
    with a.client() as ca:
        ch = ca.challenge("alice", DOMAIN)
    with b.client() as cb:
        expect(cb.register("alice", DOMAIN, ALICE_PW, challenge=ch), 200)
    with other.client() as co:
        r = expect(co.register("alice", DOMAIN, ALICE_PW, challenge=ch), 401)
        assert not is_stale(r.challenges()[0])


def test_alias_table(daemon):
    with daemon.client() as c:
        # alice may not register as sales until an alias is granted
        c.call_ids[("sales", DOMAIN)] = rand_token(8)
        expect(c.register("sales", DOMAIN, ALICE_PW, auth_user="alice"), 403)
        daemon.add_user("sales", DOMAIN, "sales-pw-1")
        daemon.ctl("alias", "add", "alice@%s" % DOMAIN, "sales@%s" % DOMAIN)
        expect(c.register("sales", DOMAIN, ALICE_PW, auth_user="alice"), 200)
        assert "sales" in daemon.ctl("alias", "list").stdout
        # bob has no such alias
        expect(c.register("sales", DOMAIN, PASSWORDS[("bob", DOMAIN)], auth_user="bob"), 403)
        daemon.ctl("alias", "del", "alice@%s" % DOMAIN, "sales@%s" % DOMAIN)
        expect(c.register("sales", DOMAIN, ALICE_PW, auth_user="alice"), 403)


def test_account_states_only_after_right_password(daemon):
    u = "alice@%s" % DOMAIN
    for setup, reason, undo in (
            (("user", "lock", u), "Account Locked", ("user", "unlock", u)),
            (("user", "expire", u, "2001-01-01"), "Account Expired", ("user", "expire", u, "never")),
            (("user", "disable", u), "Account Disabled", ("user", "enable", u))):
        daemon.ctl(*setup)
        with daemon.client() as c:
            r = expect(c.register("alice", DOMAIN, ALICE_PW), 403)
            assert r.reason == reason
            # a wrong password still sees exactly the unknown-user answer
            expect(c.register("alice", DOMAIN, "wrong"), 401)
        daemon.ctl(*undo)
    with daemon.client() as c:
        expect(c.register("alice", DOMAIN, ALICE_PW), 200)


def reported_md5_only(daemon, aor, timeout=5.0):
    """Whether `user report` lists aor within timeout: a first MD5 login is
    recorded by the write-back thread (every flush interval, 200 ms)."""
    deadline = time.monotonic() + timeout
    while True:
        if aor in daemon.ctl("user", "report").stdout:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


def test_downgrade_pin_and_reset(daemon):
    u = "alice@%s" % DOMAIN
    with daemon.client() as c:
        expect(c.register("alice", DOMAIN, ALICE_PW, algorithm="MD5"), 200)
        assert reported_md5_only(daemon, u)  # MD5 only so far
        expect(c.register("alice", DOMAIN, ALICE_PW, algorithm="SHA-256"), 200)
        assert "alice" not in daemon.ctl("user", "report").stdout
        r = expect(c.register("alice", DOMAIN, ALICE_PW, algorithm="MD5"), 403)
        assert "Stronger" in r.reason
        assert "algorithm_downgrade" in daemon.log_text()
        daemon.ctl("user", "reset-pin", u)
        expect(c.register("alice", DOMAIN, ALICE_PW, algorithm="MD5"), 200)


def test_pin_written_before_answer_and_first_use_kept_on_stop(sipwarden):
    """A SHA-256 pin is in the store when the 200 leaves (MD5 refused at once,
    long before the next write-back); a first MD5 login waits for the
    write-back thread, and one still queued at shutdown is written then."""
    d = sipwarden(args=["--flush-interval", "10000"])
    with d.client() as c:
        expect(c.register("alice", DOMAIN, ALICE_PW, algorithm="SHA-256"), 200)
        r = expect(c.register("alice", DOMAIN, ALICE_PW, algorithm="MD5"), 403)
        assert "Stronger" in r.reason
        assert "pinned-to: SHA-256" in d.ctl("user", "show", "alice@%s" % DOMAIN).stdout
        expect(c.register("bob", DOMAIN, PASSWORDS[("bob", DOMAIN)], algorithm="MD5"), 200)
    assert "pinned-to: none" in d.ctl("user", "show", "bob@%s" % DOMAIN).stdout
    d.stop()
    assert "pinned-to: MD5" in d.ctl("user", "show", "bob@%s" % DOMAIN).stdout


def test_min_algorithm_realm(sipwarden, tmp_path):
    d = sipwarden(conf(tmp_path, min_algorithm="SHA-256"))
    with d.client() as c:
        r = expect(c.register("alice", DOMAIN), 401)
        assert algos_of(r) == ["SHA-256"]
        expect(c.register("alice", DOMAIN, ALICE_PW), 200)
