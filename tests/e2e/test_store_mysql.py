"""The MariaDB/MySQL store: sipwarden-ctl and the daemon on mysql:// URLs.

A module-scoped fixture starts a private MariaDB server (its own data
directory, a port picked at run time on 127.0.0.1, a Unix socket for root)
and stops it by PID at the end whatever happened. Each test gets a fresh
database and reaches it as an ordinary user whose password needs
percent-encoding in the URL. Covered: users made with sipwarden-ctl
authenticate (MD5 and SHA-256), a wrong password and an unknown user look the
same, a disabled user gets 403, registrations survive a restart, every ctl
command works, an existing Kamailio database is used as it is, and the
database hung (SIGSTOP) or killed answers 503 + Retry-After within the
timeouts, service coming back by itself once the server is back. The C store
tests (tests/unit/test_store_mysql.c) also run against this server.
"""

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.parse
from pathlib import Path

import pytest

from conftest import DOMAIN, build_dir, free_port
from sipclient import authorization_value, bindings, md5hex

SERVER_BINS = ("mariadb-install-db", "mariadbd", "mariadb")
DB_USER = "swuser"
# Characters that must be percent-encoded in a URL, to prove the decoding.
DB_PASSWORD = "Pa@ss:w/o?r#d%&x"
ALICE_PW = "alice-Secr3t"
BOB_PW = "bob-pa55word"
START_TIMEOUT = 60.0


class MariaDB:
    """A private mariadbd: data directory, socket and port of its own."""

    def __init__(self):
        self.bins = {b: shutil.which(b) or shutil.which(b, path="/usr/sbin:/usr/bin") for b in SERVER_BINS}
        self.dir = Path(tempfile.mkdtemp(prefix="sw-mariadb-"))
        self.data = self.dir / "data"
        self.sock = self.dir / "sock"
        self.log = self.dir / "server.log"
        self.port = None
        self.proc = None
        self.ndb = 0
        self.root = os.geteuid() == 0
        if self.root:
            # The server runs as `mysql`: it must own its directory (tests run as root).
            shutil.chown(self.dir, "mysql", "mysql")

    def install(self):
        cmd = [self.bins["mariadb-install-db"], "--no-defaults", "--datadir=%s" % self.data,
               "--auth-root-authentication-method=normal", "--skip-test-db"]
        if self.root:
            cmd.append("--user=mysql")
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, "mariadb-install-db failed:\n%s\n%s" % (r.stdout[-2000:], r.stderr[-2000:])

    def start(self, port=None):
        """Start (on port, or a free one; a clash on a picked port is retried) and
        wait until root can run a query over the socket."""
        for attempt in range(3):
            self.port = port or free_port()
            cmd = [self.bins["mariadbd"], "--no-defaults", "--datadir=%s" % self.data,
                   "--socket=%s" % self.sock, "--port=%d" % self.port, "--bind-address=127.0.0.1",
                   "--skip-name-resolve", "--pid-file=%s" % (self.dir / "pid"),
                   "--log-error=%s" % self.log, "--skip-log-bin", "--innodb-buffer-pool-size=16M",
                   "--max-connections=200"]
            if self.root:
                cmd.append("--user=mysql")
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + START_TIMEOUT
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break
                if self.sock.exists() and self.sql("SELECT 1", check=False).returncode == 0:
                    return
                time.sleep(0.2)
            self.stop()
            log = self.log_tail()
            if port is None and attempt < 2 and "Address already in use" in log:
                continue
            raise AssertionError("mariadbd did not start\n%s" % log)

    def log_tail(self, n=40):
        try:
            return "\n".join(self.log.read_text("utf-8", "replace").splitlines()[-n:])
        except OSError:
            return ""

    def sql(self, statement, db=None, check=True):
        cmd = [self.bins["mariadb"], "--no-defaults", "-S", str(self.sock), "-uroot", "-N", "-B",
               "-e", statement]
        if db:
            cmd.append(db)
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        if check:
            assert r.returncode == 0, "%s: %s" % (statement, r.stderr)
        return r

    def value(self, statement, db):
        return self.sql(statement, db).stdout.strip()

    def new_database(self, charset="utf8mb4"):
        """A fresh database for one test, granted to the ordinary user; its URL."""
        self.ndb += 1
        name = "sw%d" % self.ndb
        self.sql("CREATE DATABASE %s CHARACTER SET %s; GRANT ALL ON %s.* TO '%s'@'127.0.0.1'"
                 % (name, charset, name, DB_USER))
        return name, self.url(name)

    def url(self, name, scheme="mysql"):
        return "%s://%s:%s@127.0.0.1:%d/%s" % (scheme, DB_USER, urllib.parse.quote(DB_PASSWORD, safe=""),
                                               self.port, name)

    def signal(self, sig):
        self.proc.send_signal(sig)

    def kill(self):
        """SIGKILL by PID: no clean shutdown (crash recovery at the next start)."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
            self.proc.wait(15)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        """By PID: resumed if stopped, SIGTERM, then SIGKILL after 20 s."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None


@pytest.fixture(scope="module")
def mariadb():
    missing = [b for b in SERVER_BINS if not (shutil.which(b) or shutil.which(b, path="/usr/sbin:/usr/bin"))]
    if missing:
        pytest.skip("MariaDB server not installed (%s missing; Debian package mariadb-server)" % ", ".join(missing))
    m = MariaDB()
    try:
        m.install()
        m.start()
        m.sql("CREATE USER '%s'@'127.0.0.1' IDENTIFIED BY '%s'" % (DB_USER, DB_PASSWORD))
        yield m
    finally:
        m.stop()
        shutil.rmtree(m.dir, ignore_errors=True)


@pytest.fixture
def mydb(mariadb):
    """(database name, mysql:// URL) of a fresh database on a running server."""
    if not mariadb.running():
        mariadb.start(mariadb.port)
    return mariadb.new_database()


def start_daemon(sipwarden, url, args=(), users=(("alice", ALICE_PW), ("bob", BOB_PW)), start=True, **kw):
    d = sipwarden(args, start=False, users=(), **kw)
    d.db_url = url
    for user, pw in users:
        d.add_user(user, DOMAIN, pw)
    if start:
        d.start()
    return d


def assert_nothing_secret_logged(d):
    # The harness writes each command line into the log first: not the daemon's words.
    log = "\n".join(line for line in d.log_text().splitlines() if not line.startswith("==== start:"))
    for secret in (DB_PASSWORD, urllib.parse.quote(DB_PASSWORD, safe=""), ALICE_PW, BOB_PW,
                   md5hex("alice:%s:%s" % (DOMAIN, ALICE_PW))):
        assert secret not in log, "secret in the daemon's log"
    assert "%s:***@127.0.0.1" % DB_USER in log  # the URL is logged, masked


def test_ctl_users_then_register_md5_and_sha256(sipwarden, mydb, mariadb):
    """Users added by sipwarden-ctl on mysql:// authenticate: 401 first, 200 with the
    right password (MD5 and SHA-256), the same 401 for a wrong password and for an
    unknown user; the store made its tables; nothing secret reaches the log."""
    name, url = mydb
    d = start_daemon(sipwarden, url, auth={"algorithms": "SHA-256, MD5", "max_failures": "0"})
    assert mariadb.value("SELECT COUNT(*) FROM subscriber", name) == "2"
    tables = set(mariadb.value("SHOW TABLES", name).split())
    assert {"subscriber", "location", "sw_alias", "sw_blocks"} <= tables
    # Only hashes stored; usernames compare exactly (a binary collation).
    assert mariadb.value("SELECT password FROM subscriber WHERE username = 'alice'", name) == ""
    assert mariadb.value("SELECT COUNT(*) FROM subscriber WHERE username = 'ALICE'", name) == "0"

    with d.client() as c:
        assert c.register("alice", DOMAIN).status == 401
        r = c.register("alice", DOMAIN, ALICE_PW, algorithm="MD5")
        assert r.status == 200, r.start_line
        assert c.contact_uri("alice") in bindings(r)
        r = c.register("alice", DOMAIN, ALICE_PW, algorithm="SHA-256")
        assert r.status == 200, r.start_line
    with d.client() as c:
        wrong = c.register("alice", DOMAIN, "not-the-password", algorithm="SHA-256")
    with d.client() as c:
        unknown = c.register("nobody", DOMAIN, "whatever", algorithm="SHA-256")
    assert wrong.status == 401 and unknown.status == 401

    def algos(r):
        return [ch.get("algorithm") for ch in r.challenges()]

    assert algos(wrong) == algos(unknown) == ["SHA-256", "MD5"]
    assert sorted(wrong.header_names()) == sorted(unknown.header_names())
    # A username in another case is another (unknown) user.
    with d.client() as c:
        assert c.register("Alice", DOMAIN, ALICE_PW, auth_user="Alice").status == 401
    d.stop()
    assert_nothing_secret_logged(d)


def test_mariadb_scheme_and_socket(sipwarden, mydb, mariadb):
    """mariadb:// is the same backend; socket= reaches the server over its Unix socket."""
    name, url = mydb
    d = start_daemon(sipwarden, mariadb.url(name, "mariadb"), start=False, users=(("alice", ALICE_PW),))
    d.db_url = "mysql://root@/%s?socket=%s" % (name, urllib.parse.quote(str(mariadb.sock), safe=""))
    r = d.ctl("user", "list")
    assert "alice@%s" % DOMAIN in r.stdout


def test_disabled_user_gets_403(sipwarden, mydb):
    _, url = mydb
    d = start_daemon(sipwarden, url, start=False)
    d.ctl("user", "disable", "alice@%s" % DOMAIN)
    d.start()
    with d.client() as c:
        r = c.register("alice", DOMAIN, ALICE_PW)
        assert r.status == 403, r.start_line
    with d.client() as c:
        assert c.register("alice", DOMAIN, "wrong").status == 401
    d.ctl("user", "enable", "alice@%s" % DOMAIN)
    with d.client() as c:
        assert c.register("alice", DOMAIN, ALICE_PW).status == 200


def test_registrations_survive_restart(sipwarden, mydb, mariadb):
    name, url = mydb
    d = start_daemon(sipwarden, url)
    with d.client() as c:
        r = c.register("alice", DOMAIN, ALICE_PW, expires=600)
        assert r.status == 200
        contact = c.contact_uri("alice")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # the write-back runs every 200 ms
        if mariadb.value("SELECT COUNT(*) FROM location WHERE aor = 'alice@%s'" % DOMAIN, name) == "1":
            break
        time.sleep(0.1)
    assert mariadb.value("SELECT contact FROM location WHERE aor = 'alice@%s'" % DOMAIN, name) == contact
    assert contact in d.ctl("reg", "list").stdout
    d.restart()
    assert "restored 1 registrations" in d.log_text()
    with d.client() as c:
        r = c.register("alice", DOMAIN, ALICE_PW, contacts=[])
        assert r.status == 200
        assert contact in bindings(r)
    # Removed by ctl (the running daemon keeps its copy until it expires).
    assert d.ctl("reg", "del", "alice@%s" % DOMAIN, contact).returncode == 0
    assert mariadb.value("SELECT COUNT(*) FROM location", name) == "0"


def test_ctl_commands(sipwarden, mydb, mariadb):
    """Everything sipwarden-ctl does on SQLite it does on mysql://."""
    name, url = mydb
    d = start_daemon(sipwarden, url, start=False)
    aor = "alice@%s" % DOMAIN
    r = d.ctl("user", "add", aor, "x", check=False)
    assert r.returncode == 2 and "already exists" in r.stderr
    r = d.ctl("user", "add", "Carol@EXAMPLE.COM", "--plaintext", "c-pw")
    assert mariadb.value("SELECT CONCAT(username, '@', domain, ' ', password) FROM subscriber"
                         " WHERE username = 'Carol'", name) == "Carol@example.com c-pw"
    out = d.ctl("user", "list").stdout
    assert out.index("Carol@example.com") < out.index("alice@example.com") < out.index("bob@example.com")
    assert "carol@example.com" not in d.ctl("user", "list", "EXAMPLE.com").stdout
    show = d.ctl("user", "show", aor).stdout
    assert "status:    active" in show and "sha-256:   present" in show
    assert md5hex("alice:%s:%s" % (DOMAIN, ALICE_PW)) not in show
    old = mariadb.value("SELECT ha1 FROM subscriber WHERE username = 'alice'", name)
    d.ctl("user", "passwd", aor, "new-pw")
    assert mariadb.value("SELECT ha1 FROM subscriber WHERE username = 'alice'", name) not in ("", old)
    d.ctl("user", "lock", aor)
    assert mariadb.value("SELECT locked_until > 0 FROM subscriber WHERE username = 'alice'", name) == "1"
    d.ctl("user", "unlock", aor)
    d.ctl("user", "min-algo", aor, "SHA-256")
    assert "min-algo:  SHA-256" in d.ctl("user", "show", aor).stdout
    d.ctl("user", "expire", aor, "2099-12-31")
    d.ctl("user", "reset-pin", aor)
    assert d.ctl("user", "report").returncode == 0

    d.ctl("alias", "add", aor, "sales@%s" % DOMAIN)
    assert d.ctl("alias", "add", aor, "sales@%s" % DOMAIN, check=False).returncode == 2
    assert "sales@%s" % DOMAIN in d.ctl("alias", "list").stdout
    d.ctl("alias", "del", aor, "sales@%s" % DOMAIN)
    assert d.ctl("alias", "del", aor, "sales@%s" % DOMAIN, check=False).returncode == 2

    until = int(time.time()) + 600
    mariadb.sql("INSERT INTO sw_blocks (src, username, since, `until`, reason) VALUES"
                " ('192.0.2.7', 'alice', %d, %d, 'failures')" % (until - 600, until), name)
    assert "192.0.2.7" in d.ctl("block", "list").stdout
    d.ctl("block", "del", "192.0.2.7")
    assert "192.0.2.7" not in d.ctl("block", "list").stdout
    assert d.ctl("block", "del", "192.0.2.7", check=False).returncode == 2

    now = int(time.time())
    mariadb.sql("INSERT INTO location (aor, contact, received, call_id, cseq, expires, q, user_agent) VALUES"
                " ('bob@example.com', 'sip:bob@192.0.2.3:5060', 'udp:192.0.2.3:5060', 'c3', 1, %d, -1, 'ua')"
                % (now + 60), name)
    assert "sip:bob@192.0.2.3:5060" in d.ctl("reg", "list", "bob@%s" % DOMAIN).stdout
    d.ctl("reg", "del", "bob@%s" % DOMAIN)
    assert d.ctl("reg", "del", "bob@%s" % DOMAIN, check=False).returncode == 2

    d.ctl("user", "del", "Carol@example.com")
    assert d.ctl("user", "del", "Carol@example.com", check=False).returncode == 2

    # A wrong password: a store error (exit 3) whose message masks the password.
    bad = url.replace(urllib.parse.quote(DB_PASSWORD, safe=""), "wrong-pw")
    r = subprocess.run([str(d.ctl_bin), "--db", bad, "user", "list"], capture_output=True, text=True,
                       timeout=30, env=d.env())
    assert r.returncode == 3 and "wrong-pw" not in r.stderr and "%s:***@" % DB_USER in r.stderr
    r = subprocess.run([str(d.ctl_bin), "--db", "mysql://nohost", "user", "list"], capture_output=True,
                       text=True, timeout=30, env=d.env())
    assert r.returncode == 1 and "mysql://" in r.stderr


def kamailio_database(mariadb):
    """A database as Kamailio's tools make it (latin1, its own `location`) with
    alice added the Kamailio way; (name, URL)."""
    name, url = mariadb.new_database(charset="latin1")
    mariadb.sql(
        "CREATE TABLE version (table_name VARCHAR(32) NOT NULL, table_version INT UNSIGNED DEFAULT 0 NOT NULL,"
        " CONSTRAINT table_name_idx UNIQUE (table_name));"
        "CREATE TABLE subscriber (id INT(10) UNSIGNED AUTO_INCREMENT PRIMARY KEY NOT NULL,"
        " username VARCHAR(64) DEFAULT '' NOT NULL, domain VARCHAR(64) DEFAULT '' NOT NULL,"
        " password VARCHAR(64) DEFAULT '' NOT NULL, ha1 VARCHAR(128) DEFAULT '' NOT NULL,"
        " ha1b VARCHAR(128) DEFAULT '' NOT NULL, CONSTRAINT account_idx UNIQUE (username, domain));"
        "CREATE INDEX username_idx ON subscriber (username);"
        "CREATE TABLE location (id INT(10) UNSIGNED AUTO_INCREMENT PRIMARY KEY NOT NULL,"
        " ruid VARCHAR(64) DEFAULT '' NOT NULL, username VARCHAR(64) DEFAULT '' NOT NULL,"
        " domain VARCHAR(64) DEFAULT NULL, contact VARCHAR(512) DEFAULT '' NOT NULL,"
        " expires DATETIME DEFAULT '2030-05-28 21:32:15' NOT NULL, CONSTRAINT ruid_idx UNIQUE (ruid));"
        "INSERT INTO version VALUES ('subscriber', 7), ('location', 9);"
        "INSERT INTO subscriber (username, domain, password, ha1, ha1b) VALUES ('alice', '%s', '',"
        " MD5('alice:%s:%s'), MD5('alice@%s:%s:%s'))" % (DOMAIN, DOMAIN, ALICE_PW, DOMAIN, DOMAIN, ALICE_PW),
        name)
    return name, url


def test_existing_kamailio_database(sipwarden, mariadb):
    """A database as Kamailio's tools make it (latin1, its own `location`): a
    subscriber added the Kamailio way registers; sipwarden adds its columns and
    keeps its bindings in sw_location, leaving Kamailio's table alone."""
    name, url = kamailio_database(mariadb)
    d = start_daemon(sipwarden, url, users=(), auth={"algorithms": "MD5"})
    with d.client() as c:
        r = c.register("alice", DOMAIN, ALICE_PW, expires=600)
        assert r.status == 200, r.start_line
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and mariadb.value("SELECT COUNT(*) FROM sw_location", name) != "1":
        time.sleep(0.1)
    assert mariadb.value("SELECT COUNT(*) FROM sw_location", name) == "1"
    assert mariadb.value("SELECT COUNT(*) FROM location", name) == "0"
    assert mariadb.value("SELECT table_version FROM version WHERE table_name = 'subscriber'", name) == "7"
    cols = mariadb.value("SELECT GROUP_CONCAT(COLUMN_NAME) FROM information_schema.COLUMNS"
                         " WHERE TABLE_SCHEMA = '%s' AND TABLE_NAME = 'subscriber'" % name, None)
    assert "status" in cols and "ha1_sha256" in cols


def test_names_a_latin1_table_cannot_hold_are_unknown_users(sipwarden, mariadb):
    """On a latin1 Kamailio table, digest usernames the table cannot hold (an
    emoji, a character beyond latin1, a byte that is not UTF-8) are answered
    exactly as an unknown user, and the worker's connection stays in service:
    alice registers right after, never a 503."""
    name, url = kamailio_database(mariadb)
    d = start_daemon(sipwarden, url, ["--workers", "1"], users=(),
                     auth={"algorithms": "MD5", "max_failures": "0"})

    def algos(r):
        return [ch.get("algorithm") for ch in r.challenges()]

    with d.client() as c:
        unknown = c.register("alice", DOMAIN, "whatever", auth_user="nobody")
    assert unknown.status == 401, unknown.start_line
    for odd in ("al\U0001F600ice", "al\u03a9ice"):
        with d.client() as c:
            r = c.register("alice", DOMAIN, "whatever", auth_user=odd)
        assert r is not None and r.status == 401, r and r.start_line
        assert algos(r) == algos(unknown) and sorted(r.header_names()) == sorted(unknown.header_names())
        with d.client() as c:
            r = c.register("alice", DOMAIN, ALICE_PW)
        assert r is not None and r.status == 200, r and r.start_line
    # A username with a byte that is not UTF-8 (the client writes only UTF-8: patched in).
    with d.client() as c:
        ch = c.challenge("alice", DOMAIN)
        auth = authorization_value(ch, "XUSERX", "whatever", "REGISTER", "sip:%s" % DOMAIN)
        data = c.build("REGISTER", "sip:%s" % DOMAIN, "sip:alice@%s" % DOMAIN,
                       contacts=["<%s>" % c.contact_uri("alice")], headers=["Authorization: %s" % auth])
        r = c.transact(data.replace(b"XUSERX", b"al\xffice"))
    assert r is not None and r.status == 401, r and r.start_line
    assert algos(r) == algos(unknown) and sorted(r.header_names()) == sorted(unknown.header_names())
    with d.client() as c:
        r = c.register("alice", DOMAIN, ALICE_PW)
    assert r is not None and r.status == 200, r and r.start_line
    assert d.running()
    assert "unavailable" not in d.log_text()


def register_until(d, status, budget, pause=0.3):
    """REGISTER alice (a fresh client each try) until the answer is status or budget
    seconds pass; returns the last answer."""
    deadline = time.monotonic() + budget
    r = None
    while time.monotonic() < deadline:
        with d.client(timeout=8.0) as c:
            r = c.register("alice", DOMAIN, ALICE_PW)
        if r is not None and r.status == status:
            return r
        time.sleep(pause)
    return r


def test_database_hung_answers_503_then_recovers(sipwarden, mydb, mariadb):
    """The server stopped (SIGSTOP: connections hang, nothing is refused): an
    authenticated REGISTER gets 503 + Retry-After within the read timeout, the
    daemon keeps answering, and once the server resumes registration works again
    without a restart. The outage is logged a bounded number of times."""
    _, url = mydb
    d = start_daemon(sipwarden, url, ["--workers", "1"])
    with d.client() as c:
        assert c.register("alice", DOMAIN, ALICE_PW).status == 200
    mariadb.signal(signal.SIGSTOP)
    try:
        t0 = time.monotonic()
        with d.client(timeout=8.0) as c:
            r = c.register("alice", DOMAIN, ALICE_PW)
        took = time.monotonic() - t0
        assert r is not None and r.status == 503, r and r.start_line
        assert r.get("Retry-After") is not None
        assert took < 7.0, took  # 2 s read timeout (+ a 401 round trip), never a hang
        for _ in range(4):
            t0 = time.monotonic()
            with d.client(timeout=10.0) as c:
                r = c.register("alice", DOMAIN, ALICE_PW)
            assert r is not None and r.status == 503, r and r.start_line
            assert time.monotonic() - t0 < 9.0
        with d.client() as c:
            assert c.options().status == 200  # requests that need no database still served
    finally:
        mariadb.signal(signal.SIGCONT)
    r = register_until(d, 200, 20)
    assert r is not None and r.status == 200, r and r.start_line
    assert d.running()
    log = d.log_text()
    assert log.count("unavailable, will retry") <= 4, log[-3000:]
    assert "available again" in log


def test_database_killed_answers_503_then_recovers(sipwarden, mydb, mariadb):
    """The server killed (connections reset, then refused): 503 + Retry-After at
    once; after the server restarts on its port, registration works again."""
    _, url = mydb
    d = start_daemon(sipwarden, url, ["--workers", "1"])
    with d.client() as c:
        assert c.register("alice", DOMAIN, ALICE_PW).status == 200
    mariadb.kill()
    try:
        for _ in range(3):
            t0 = time.monotonic()
            with d.client(timeout=8.0) as c:
                r = c.register("alice", DOMAIN, ALICE_PW)
            assert r is not None and r.status == 503, r and r.start_line
            assert r.get("Retry-After") is not None
            assert time.monotonic() - t0 < 5.0
    finally:
        mariadb.start(mariadb.port)
    r = register_until(d, 200, 20)
    assert r is not None and r.status == 200, r and r.start_line
    d.stop()  # the write-back and the clean shutdown went through


def test_store_unit_suite_against_mariadb(mariadb, mydb):
    """The C store tests, with the server: every case runs (none skipped) and passes."""
    binary = build_dir() / "tests" / "test_store_mysql"
    if not binary.exists():
        pytest.fail("%s not built (run `make MODE=asan unit`)" % binary, pytrace=False)
    name, url = mydb
    env = dict(os.environ, SW_TEST_MYSQL_URL=url, SW_TEST_MYSQL_SOCKET=str(mariadb.sock), SW_TEST_MYSQL_DB=name)
    r = subprocess.run([str(binary)], capture_output=True, text=True, timeout=120, env=env)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-4000:]
    assert "SKIPPED" not in out, out[-2000:]
    assert re.search(r"PASSED\s*\]\s*(\d+)", out), out[-2000:]
