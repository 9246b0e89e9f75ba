"""Bindings restored from the location table at start live in the in-memory
table in its compact form (a canonical "proto:IPv4:port" received source in 7
bytes, every other string as given) and are written back byte for byte when
their AOR is written again; the proxy-facing fields (received, q, expiry) and
the ones shown by sipwarden-ctl (user agent) are all kept."""
import re
import sqlite3
import time

from conftest import DOMAIN, PASSWORDS
from sipclient import bindings

ALICE_PW = PASSWORDS[("alice", DOMAIN)]
AOR = "alice@%s" % DOMAIN

# received forms: packed (first three), kept as text (the rest)
RECEIVED = ["udp:192.0.2.1:5060", "tcp:10.0.0.255:65535", "tls:0.0.0.0:1",
            "udp:127.0.0.01:5060", "udp:[2001:db8::1]:5060", "", "udp:192.0.2.9:0"]
Q = [-1, 500, 1000, 0, 123, -1, 1]
UA = ["phone/1.0", "", "u" * 127, "x", "Yealink SIP-T46S 66.86.0.15", "sipp-bench", "z"]


def rows(now):
    return [(AOR, "sip:alice@192.0.2.%d:5060;line=%d" % (i + 1, i), rcv, "cid-%d@host.test" % i, 7 + i,
             now + 600 + i, Q[i], UA[i]) for i, rcv in enumerate(RECEIVED)]


def stored(db):
    con = sqlite3.connect(str(db))
    try:
        return sorted(con.execute("SELECT aor, contact, received, call_id, cseq, expires, q, user_agent"
                                  " FROM location").fetchall())
    finally:
        con.close()


def insert_rows(db, rows_):
    """Put location rows into the table behind the daemon's back (it is not running)."""
    con = sqlite3.connect(str(db))
    with con:
        con.executemany("INSERT INTO location (aor, contact, received, call_id, cseq, expires, q, user_agent)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows_)
    con.close()


def test_restored_bindings_written_back_unchanged(sipwarden):
    d = sipwarden(start=False)
    d.ctl("reg", "list")  # the schema
    now = int(time.time())
    want = rows(now)
    insert_rows(d.db, want)

    d.start()
    with d.client() as c:
        # A new contact makes the write-back rewrite every binding of the AOR from memory.
        r = c.register("alice", DOMAIN, ALICE_PW, contacts=["<sip:alice@127.0.0.1:45999>"], expires=300)
        assert r is not None and r.status == 200, r and r.start_line
        b = bindings(r)
        assert len(b) == len(want) + 1, b
        for row in want:
            assert row[1] in b and 590 <= b[row[1]] <= 600 + len(want), (row, b)
        # q-values come back in the reply as registered
        qs = {uri: p.get("q") for uri, p in r.contacts()}
        assert qs["sip:alice@192.0.2.2:5060;line=1"] == "0.500", qs
        assert qs["sip:alice@192.0.2.3:5060;line=2"] == "1.000", qs
        assert qs["sip:alice@192.0.2.1:5060;line=0"] is None, qs
    d.stop()

    got = stored(d.db)
    new = [g for g in got if g[1] == "sip:alice@127.0.0.1:45999"]
    assert len(new) == 1 and re.fullmatch(r"udp:127\.0\.0\.1:\d+", new[0][2]), new
    assert [g for g in got if g[1] != "sip:alice@127.0.0.1:45999"] == sorted(want)

    # And once more through a restart with nothing changed in between.
    d.start()
    with d.client() as c:
        r = c.register("alice", DOMAIN, ALICE_PW, contacts=["<sip:alice@127.0.0.1:45998>"], expires=300)
        assert r is not None and r.status == 200, r and r.start_line
    d.stop()
    got2 = stored(d.db)
    assert [g for g in got2 if g[1] != "sip:alice@127.0.0.1:45998"] == got


def test_persist_no_keeps_bindings_in_memory_only(sipwarden, tmp_path):
    """[registrar] persist = no (usrloc-in-memory style): the binding serves at
    once, nothing reaches the location table, a restart starts empty and rows
    already in the table are neither restored nor touched."""
    conf = tmp_path / "mem.conf"
    conf.write_text("[registrar]\npersist = no\nflush_interval_ms = 20\n")
    d = sipwarden(args=["--config", str(conf)], start=False)
    d.ctl("reg", "list")  # the schema
    now = int(time.time())
    old = (AOR, "sip:alice@192.0.2.50:5060", "", "cid-old@host.test", 1, now + 600, -1, "old")
    insert_rows(d.db, [old])

    d.start()
    with d.client() as c:
        r = c.register("alice", DOMAIN, ALICE_PW, contacts=["<sip:alice@127.0.0.1:45997>"], expires=300)
        assert r is not None and r.status == 200, r and r.start_line
        # only the new contact: the row in the table was not loaded
        assert list(bindings(r)) == ["sip:alice@127.0.0.1:45997"], bindings(r)
        time.sleep(0.3)  # many flush intervals
    assert stored(d.db) == [old]
    d.stop()
    assert stored(d.db) == [old]

    d.start()
    with d.client() as c:
        r = c.register("alice", DOMAIN, ALICE_PW, contacts=[], expires=None)  # a query
        assert r is not None and r.status == 200, r and r.start_line
        assert bindings(r) == {}, bindings(r)
    d.stop()
