"""The per-worker credential cache ([auth] credential_cache_size and
credential_cache_ttl) end to end: a repeated login is answered from the cache
(the status counters say so, and a row removed behind sipwarden-ctl's back
still logs in within the TTL); every sipwarden-ctl change to a subscriber
applies to the very next REGISTER; a password changed or a user added behind
its back works at once, because a failure decided from a cached row is
decided again from the database."""

import hashlib
import sqlite3

from conftest import DOMAIN, PASSWORDS

ALICE_PW = PASSWORDS[("alice", DOMAIN)]
MD5_ONLY = {"algorithms": "MD5"}


def expect(r, status):
    assert r is not None, "no answer (expected %d)" % status
    assert r.status == status, "expected %d, got %s\n%r" % (status, r.start_line, r.raw)
    return r


def status(d):
    r = d.ctl("status")
    return {k: int(v) for k, v in (line.split("=", 1) for line in r.stdout.splitlines() if "=" in line)
            if v.isdigit()}


def sql(d, statement, *args):
    con = sqlite3.connect(str(d.db))
    try:
        con.execute(statement, args)
        con.commit()
    finally:
        con.close()


def md5_ha1(user, password):
    return hashlib.md5(("%s:%s:%s" % (user, DOMAIN, password)).encode()).hexdigest()


def test_repeat_login_served_from_cache(sipwarden):
    d = sipwarden(args=["--workers", "1"], auth=MD5_ONLY)
    before = status(d)
    assert before["credential_cache_hits"] == 0
    with d.client() as c:
        expect(c.register("alice", DOMAIN, ALICE_PW), 200)
        first = status(d)
        assert first["credential_cache_misses"] == before["credential_cache_misses"] + 1
        expect(c.register("alice", DOMAIN, ALICE_PW), 200)
        second = status(d)
        assert second["credential_cache_hits"] == first["credential_cache_hits"] + 1
        assert second["credential_cache_misses"] == first["credential_cache_misses"]
        # removed behind sipwarden-ctl's back: still served within the TTL ...
        sql(d, "DELETE FROM subscriber WHERE username = 'alice'")
        expect(c.register("alice", DOMAIN, ALICE_PW), 200)
        # ... until the cache is flushed
        r = d.ctl("cache-flush")
        assert r.stdout == "" and r.stderr == ""
        expect(c.register("alice", DOMAIN, ALICE_PW), 401)
        assert status(d)["credential_cache_flushes"] >= 1


def test_ctl_changes_apply_to_the_next_register(sipwarden):
    d = sipwarden(args=["--workers", "1"], auth=MD5_ONLY)
    aor = "alice@%s" % DOMAIN
    with d.client() as c:
        for _ in range(2):
            expect(c.register("alice", DOMAIN, ALICE_PW), 200)
        for change, undo in ((("user", "disable", aor), ("user", "enable", aor)),
                             (("user", "lock", aor), ("user", "unlock", aor)),
                             (("user", "expire", aor, "2001-01-01"), ("user", "expire", aor, "never")),
                             (("user", "min-algo", aor, "SHA-256"), ("user", "min-algo", aor, "none"))):
            r = d.ctl(*change)
            assert r.stderr == ""
            expect(c.register("alice", DOMAIN, ALICE_PW), 403)
            d.ctl(*undo)
            expect(c.register("alice", DOMAIN, ALICE_PW), 200)
            expect(c.register("alice", DOMAIN, ALICE_PW), 200)
        d.ctl("user", "passwd", aor, "a-new-Secret-1")
        expect(c.register("alice", DOMAIN, ALICE_PW), 401)
        expect(c.register("alice", DOMAIN, "a-new-Secret-1"), 200)
        d.ctl("user", "del", aor)
        expect(c.register("alice", DOMAIN, "a-new-Secret-1"), 401)
        d.ctl("user", "add", aor, "back-Again-2")
        expect(c.register("alice", DOMAIN, "back-Again-2"), 200)


def test_outside_changes_that_can_succeed_apply_at_once(sipwarden):
    d = sipwarden(args=["--workers", "1"], auth=MD5_ONLY)
    with d.client() as c:
        for _ in range(2):
            expect(c.register("alice", DOMAIN, ALICE_PW), 200)
            expect(c.register("mallory", DOMAIN, "guess-Guess-1"), 401)  # cached as unknown
        # a new password written with plain SQL works at once, the old one fails
        sql(d, "UPDATE subscriber SET ha1 = ? WHERE username = 'alice'", md5_ha1("alice", "outside-Pw-1"))
        expect(c.register("alice", DOMAIN, "outside-Pw-1"), 200)
        expect(c.register("alice", DOMAIN, ALICE_PW), 401)
        # so does a user added with plain SQL, cached as unknown a moment ago
        sql(d, "INSERT INTO subscriber (username, domain, ha1) VALUES ('mallory', ?, ?)", DOMAIN,
            md5_ha1("mallory", "guess-Guess-1"))
        expect(c.register("mallory", DOMAIN, "guess-Guess-1"), 200)
        # and an account enabled with plain SQL after a refusal
        d.ctl("user", "disable", "alice@%s" % DOMAIN)
        expect(c.register("alice", DOMAIN, "outside-Pw-1"), 403)
        sql(d, "UPDATE subscriber SET status = 0 WHERE username = 'alice'")
        expect(c.register("alice", DOMAIN, "outside-Pw-1"), 200)
    assert status(d)["credential_cache_rereads"] >= 4


def test_cache_off(sipwarden):
    d = sipwarden(args=["--workers", "1"], auth=dict(MD5_ONLY, credential_cache_size="0"))
    with d.client() as c:
        expect(c.register("alice", DOMAIN, ALICE_PW), 200)
        sql(d, "DELETE FROM subscriber WHERE username = 'alice'")
        expect(c.register("alice", DOMAIN, ALICE_PW), 401)
    s = status(d)
    assert s["credential_cache_hits"] == 0 and s["credential_cache_misses"] == 0


def test_ctl_without_a_daemon_says_nothing(sipwarden):
    d = sipwarden(start=False)
    r = d.ctl("user", "disable", "alice@%s" % DOMAIN)
    assert r.stdout == "user alice@%s disabled\n" % DOMAIN
    assert r.stderr == ""
    r = d.ctl("cache-flush", check=False)
    assert r.returncode == 4 and "not running" in r.stderr
