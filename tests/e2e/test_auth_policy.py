"""Per-realm policy and extra credential columns end to end, with the
project's own client (SIPp speaks MD5 only): [auth] realm_min_algorithm makes
one realm neither offer nor accept MD5 while another still does, the strictest
of global, realm and user minimum winning; [auth] load_columns / require read
extra subscriber columns in the credentials query and refuse, only after the
password is proven right, an account that fails a requirement with the answer
of a disabled account; a missing column or a bad column name stops the start."""

import sqlite3
import subprocess

import pytest

from conftest import DOMAIN, PASSWORDS
from sipclient import authorization_value

ALICE_PW = PASSWORDS[("alice", DOMAIN)]
BOB_PW = PASSWORDS[("bob", DOMAIN)]
OTHER = "other.example"


def expect(r, status):
    assert r is not None, "no answer (expected %d)" % status
    assert r.status == status, "expected %d, got %s\n%r" % (status, r.start_line, r.raw)
    return r


def algos_of(r):
    return [ch.get("algorithm", "MD5") for ch in r.challenges()]


def answer_with(c, user, domain, password, challenge, algorithm):
    """REGISTER answering challenge's nonce with a chosen algorithm, offered or not."""
    ch = dict(challenge, algorithm=algorithm)
    auth = authorization_value(ch, user, password, "REGISTER", "sip:%s" % domain)
    return c.request("REGISTER", "sip:%s" % domain, "sip:%s@%s" % (user, domain),
                     contacts=["<%s>" % c.contact_uri(user)], headers=["Authorization: %s" % auth])


def test_realm_minimum_md5_only_where_allowed(sipwarden):
    users = (("alice", DOMAIN, ALICE_PW), ("alice", OTHER, ALICE_PW))
    d = sipwarden(users=users, domains=(DOMAIN, OTHER),
                  auth={"realm_min_algorithm": "%s SHA-256" % DOMAIN})
    with d.client() as c:
        # realm A: MD5 is not offered ...
        first = expect(c.register("alice", DOMAIN), 401)
        assert algos_of(first) == ["SHA-256"]
        # ... nor accepted, even with the right password: a fresh challenge, no 200
        r = expect(answer_with(c, "alice", DOMAIN, ALICE_PW, first.challenges()[0], "MD5"), 401)
        assert algos_of(r) == ["SHA-256"]
        expect(c.register("alice", DOMAIN, ALICE_PW, algorithm="SHA-256"), 200)
        # realm B: both still offered, MD5 accepted
        first = expect(c.register("alice", OTHER), 401)
        assert algos_of(first) == ["SHA-256", "MD5"]
        expect(c.register("alice", OTHER, ALICE_PW, algorithm="MD5"), 200)
        # the user's own minimum is stricter than realm B's: it wins there
        d.ctl("user", "min-algo", "alice@%s" % OTHER, "SHA-256")
        r = expect(c.register("alice", OTHER, ALICE_PW, algorithm="MD5"), 403)
        assert "Stronger" in r.reason
    assert 'user="alice" realm="other.example" reason=algorithm_below_minimum' in d.log_text()


def test_realm_minimum_with_global_minimum(sipwarden):
    """The global minimum applies to every realm, whatever a realm's own says."""
    users = (("alice", DOMAIN, ALICE_PW), ("alice", OTHER, ALICE_PW))
    d = sipwarden(users=users, domains=(DOMAIN, OTHER),
                  auth={"algorithms": "SHA-512-256, SHA-256, MD5", "min_algorithm": "SHA-256",
                        "realm_min_algorithm": "%s SHA-512-256" % DOMAIN})
    with d.client() as c:
        assert algos_of(expect(c.register("alice", DOMAIN), 401)) == ["SHA-512-256"]
        assert algos_of(expect(c.register("alice", OTHER), 401)) == ["SHA-512-256", "SHA-256"]
        expect(c.register("alice", DOMAIN, ALICE_PW, algorithm="SHA-512-256"), 200)
        expect(c.register("alice", OTHER, ALICE_PW, algorithm="SHA-256"), 200)


def add_columns(db_path, sql):
    con = sqlite3.connect(str(db_path))
    try:
        con.executescript(sql)
        con.commit()
    finally:
        con.close()


def test_require_extra_column(sipwarden):
    d = sipwarden(start=False, auth={"load_columns": "rpid, plan", "require": "plan=gold"})
    add_columns(d.db, "ALTER TABLE subscriber ADD COLUMN plan VARCHAR(16) DEFAULT NULL;"
                      "UPDATE subscriber SET plan = 'gold' WHERE username = 'alice';")
    d.start()
    with d.client() as c:
        expect(c.register("alice", DOMAIN, ALICE_PW), 200)
        # bob's plan is NULL: refused like a disabled account, after proof only
        refused = expect(c.register("bob", DOMAIN, BOB_PW), 403)
        assert refused.reason == "Account Disabled"
        expect(c.register("bob", DOMAIN, "not-his-password"), 401)
    # the same answer as a really disabled account
    d.ctl("user", "disable", "alice@%s" % DOMAIN)
    with d.client() as c:
        disabled = expect(c.register("alice", DOMAIN, ALICE_PW), 403)
    assert disabled.reason == refused.reason
    d.ctl("user", "enable", "alice@%s" % DOMAIN)
    # the columns are read at each request: a change applies at once
    add_columns(d.db, "UPDATE subscriber SET plan = 'gold' WHERE username = 'bob';"
                      "UPDATE subscriber SET plan = 'Gold' WHERE username = 'alice';")
    with d.client() as c:
        expect(c.register("bob", DOMAIN, BOB_PW), 200)
        expect(c.register("alice", DOMAIN, ALICE_PW), 403)  # exact comparison
    log = d.log_text()
    assert 'event=account_refused src=127.0.0.1 user="bob" realm="example.com" reason=requirement_unmet' in log


def test_missing_column_stops_the_start(sipwarden):
    d = sipwarden(start=False, auth={"load_columns": "status, no_such_column"})
    with pytest.raises(AssertionError, match="exited with"):
        d.start()
    assert "table subscriber has no column no_such_column" in d.log_text()


def test_bad_column_name_is_a_config_error(sipwarden, tmp_path):
    d = sipwarden(start=False)
    conf = tmp_path / "bad.conf"
    conf.write_text("[auth]\nload_columns = status\nrequire = plan;drop=1\n")
    r = subprocess.run([str(d.bin), "--config", str(conf), "--db", d.db_url], capture_output=True,
                       text=True, timeout=30, env=d.env())
    assert r.returncode == 2, r
    assert "%s:3: require = plan;drop=1: expected column names" % conf in r.stderr, r.stderr
