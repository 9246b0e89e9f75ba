"""Faults: the database disappearing (503 + Retry-After, logged once per incident,
recovery without a restart) and kill -9 during registrations (everything that got its
200 OK more than the write-back interval before the kill survives the restart)."""

import os
import sqlite3
import time

from conftest import DOMAIN, PASSWORDS
from sipclient import bindings

ALICE_PW = PASSWORDS[("alice", DOMAIN)]


def db_files(d):
    return [p for p in (d.db, d.db.with_name(d.db.name + "-wal"), d.db.with_name(d.db.name + "-shm"))
            if p.exists()]


def test_database_gone_answers_503_then_recovers(sipwarden):
    """With the database file moved away, an authenticated REGISTER gets 503 with
    Retry-After (never a 401 that would make the phone ask its user); the outage is logged
    a bounded number of times however many requests arrive; once the file is back,
    registration works again without a restart."""
    d = sipwarden(["--workers", "1"])
    with d.client() as c:
        assert c.register("alice", DOMAIN, ALICE_PW).status == 200
        moved = []
        for p in db_files(d):
            os.rename(p, str(p) + ".away")
            moved.append(p)
        time.sleep(1.2)  # the store notices a replaced/removed file within a second
        for _ in range(5):
            r = c.register("alice", DOMAIN, ALICE_PW)
            assert r is not None and r.status == 503, r and r.start_line
            assert r.get("Retry-After") is not None
        for p in moved:
            os.rename(str(p) + ".away", p)
        deadline = time.monotonic() + 10
        r = None
        while time.monotonic() < deadline:
            r = c.register("alice", DOMAIN, ALICE_PW)
            if r is not None and r.status == 200:
                break
            time.sleep(0.3)
        assert r is not None and r.status == 200, r and r.start_line
    log = d.log_text()
    assert log.count("unavailable, will retry") <= 3, log[-3000:]  # per connection, not per request
    assert "available again" in log


def test_kill_9_keeps_registrations_older_than_the_flush_interval(sipwarden):
    """Register 60 users' contacts, SIGKILL the daemon, restart on the same database:
    every binding whose 200 OK came more than 1 s before the kill is back."""
    users = [("u%03d" % i, DOMAIN, "pw-%03d" % i) for i in range(60)]
    d = sipwarden(users=users)
    acked = {}
    with d.client() as c:
        for user, dom, pw in users:
            r = c.register(user, dom, pw, expires=600)
            assert r is not None and r.status == 200
            acked[user] = (time.monotonic(), c.contact_uri(user))
    time.sleep(1.1)
    kill_time = time.monotonic()
    d.kill()
    # The database is intact (no torn WAL) and holds every binding.
    con = sqlite3.connect(str(d.db))
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()
    d.start()
    with d.client() as c:
        for user, dom, pw in users:
            t, contact = acked[user]
            if kill_time - t <= 1.0:
                continue
            r = c.register(user, dom, pw, contacts=[])
            assert r is not None and r.status == 200
            assert contact in bindings(r), "%s lost its binding after kill -9" % user
