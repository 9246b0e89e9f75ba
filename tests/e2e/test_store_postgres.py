"""The PostgreSQL store end to end: a private PostgreSQL 15 cluster (initdb into a
temporary directory, the server on 127.0.0.1 with a port picked at run time and its
Unix socket in that directory, stopped by PID whatever happens), sipwarden-ctl and
the daemon with --db postgres://...: the schema created by sipwarden, user and
registration commands, 401 then 200, the same 401 for a wrong password and an
unknown user, SHA-256 digests, a disabled account, registrations kept across a
daemon restart, and the database stopped (503 + Retry-After, bounded in time) then
started again (service resumes without restarting the daemon)."""

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import DOMAIN, Daemon, binary, free_port
from sipclient import authorization_value, bindings, pick_challenge, rand_token

PG_BIN = Path("/usr/lib/postgresql/15/bin")
PG_USER = "sipwarden"
ALICE_PW = "alice-Pg-s3cret"
BOB_PW = "bob-Pg-pa55"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0


def expect(r, status):
    assert r is not None, "no answer (expected %d)" % status
    assert r.status == status, "expected %d, got %s\n%r" % (status, r.start_line, r.raw)
    return r


class PgCluster:
    """One PostgreSQL server of our own. As root, initdb and postgres run as the
    `postgres` system user (PostgreSQL refuses root); the server's PID is read from
    postmaster.pid and it is stopped by that PID."""

    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="sipwarden-pg-"))
        self.data = self.dir / "data"
        self.log = self.dir / "server.log"
        self.port = None
        self.pid = None
        self.proc = None
        self.as_root = os.geteuid() == 0
        if self.as_root:
            shutil.chown(self.dir, "postgres", "postgres")
        self._run([str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", PG_USER,
                   "-E", "UTF8", "--locale=C", "--no-sync"])

    def _argv(self, argv):
        return (["runuser", "-u", "postgres", "--"] + argv) if self.as_root else argv

    def _run(self, argv, timeout=60):
        r = subprocess.run(self._argv(argv), capture_output=True, text=True, timeout=timeout,
                           cwd=str(self.dir))
        assert r.returncode == 0, "%s -> %d\n%s\n%s" % (argv, r.returncode, r.stdout, r.stderr)
        return r

    def start(self):
        """Start the server; the first start picks a free port (retried on a new
        one if taken in between), later starts reuse it (URLs name it)."""
        if self.port is not None:
            return self._start_once()
        for attempt in range(3):
            self.port = free_port()
            while self.port == 5432:  # never the package's own cluster port
                self.port = free_port()
            try:
                return self._start_once()
            except AssertionError:
                if attempt == 2 or "already in use" not in self.log_tail():
                    raise

    def _start_once(self):
        logf = open(self.log, "ab")
        self.proc = subprocess.Popen(
            self._argv([str(PG_BIN / "postgres"), "-D", str(self.data), "-h", "127.0.0.1",
                        "-p", str(self.port), "-k", str(self.dir), "-c", "fsync=off",
                        "-c", "max_connections=100"]),
            stdin=subprocess.DEVNULL, stdout=logf, stderr=logf, cwd=str(self.dir))
        logf.close()
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("postgres exited with %s\n%s" % (self.proc.returncode, self.log_tail()))
            if self.pid is None:
                try:
                    self.pid = int((self.data / "postmaster.pid").read_text().split("\n", 1)[0])
                except (OSError, ValueError):
                    pass
            if self.pid is not None and self.psql("postgres", "SELECT 1", check=False).returncode == 0:
                return
            time.sleep(0.2)
        self.stop()
        raise AssertionError("postgres did not start within %.0f s\n%s" % (START_TIMEOUT, self.log_tail()))

    def stop(self):
        """Fast shutdown (SIGINT) by PID, SIGQUIT then SIGKILL if it lingers."""
        pid, self.pid = self.pid, None
        if pid is not None:
            for sig, wait in ((signal.SIGINT, STOP_TIMEOUT), (signal.SIGQUIT, 5.0), (signal.SIGKILL, 5.0)):
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    break
                deadline = time.monotonic() + wait
                while time.monotonic() < deadline and _alive(pid):
                    time.sleep(0.1)
                if not _alive(pid):
                    break
        if self.proc is not None:
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
            self.proc = None

    def psql(self, db, sql, check=True):
        r = subprocess.run([str(PG_BIN / "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                            "-h", "127.0.0.1", "-p", str(self.port), "-U", PG_USER, "-d", db, "-c", sql],
                           capture_output=True, text=True, timeout=30)
        if check:
            assert r.returncode == 0, "psql %r -> %d: %s" % (sql, r.returncode, r.stderr)
        return r

    def new_db(self):
        name = "sw_" + rand_token(8).lower()
        self.psql("postgres", "CREATE DATABASE %s" % name)
        return name

    def url(self, db, scheme="postgres"):
        return "%s://%s@127.0.0.1:%d/%s" % (scheme, PG_USER, self.port, db)

    def log_tail(self, n=30):
        try:
            return "\n".join(self.log.read_text("utf-8", "replace").splitlines()[-n:])
        except OSError:
            return ""

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def ctl(url, *args, check=True):
    """sipwarden-ctl --db url ARGS."""
    cmd = [str(binary("sipwarden-ctl")), "--db", url] + [str(a) for a in args]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=30, env=Daemon.env(),
                       stdin=subprocess.DEVNULL)
    if check:
        assert r.returncode == 0, "%s -> %d\n%s%s" % (" ".join(args), r.returncode, r.stdout, r.stderr)
    return r


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie child of ours is gone for our purpose
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(") ", 1)[1][:1] != "Z"
    except OSError:
        return False


@pytest.fixture(scope="module")
def pg():
    for tool in ("initdb", "postgres", "psql"):
        if not (PG_BIN / tool).exists():
            pytest.skip("PostgreSQL 15 not installed (%s missing; apt-get install postgresql)" % (PG_BIN / tool))
    cluster = PgCluster()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.cleanup()


@pytest.fixture
def pg_daemon(sipwarden, pg):
    """Factory: a daemon (not started) on a fresh database of the cluster, with
    alice and bob added by sipwarden-ctl."""

    def make(args=(), auth=None, users=(("alice", ALICE_PW), ("bob", BOB_PW))):
        # a connection per worker: a bounded count whatever the machine's cores
        args = list(args) if "--workers" in args else ["--workers", "2"] + list(args)
        d = sipwarden(args=args, start=False, users=(), auth=auth)
        d.pg_db = pg.new_db()
        d.db_url = pg.url(d.pg_db)
        for user, pw in users:
            d.add_user(user, DOMAIN, pw)
        return d

    return make


def test_ctl_commands_on_postgres(pg):
    """sipwarden-ctl creates the schema and runs its user, alias, registration and
    block commands on PostgreSQL; no secret is printed nor stored in cleartext."""
    db = pg.new_db()
    url = pg.url(db, scheme="postgresql")

    r = ctl(url, "user", "add", "alice@Example.COM", ALICE_PW)
    assert ALICE_PW not in r.stdout + r.stderr
    assert ctl(url, "user", "add", "alice@example.com", "other", check=False).returncode != 0
    ctl(url, "user", "add", "bob@example.com", BOB_PW)
    assert ctl(url, "user", "list").stdout.splitlines() == ["alice@example.com  active", "bob@example.com  active"]
    show = ctl(url, "user", "show", "alice@example.com").stdout
    assert "not stored" in show and "sha-256:   present" in show
    # stored as HA1s only, domain lower-cased, userhash filled
    row = pg.psql(db, "SELECT domain, password, length(ha1), length(ha1_sha256), length(userhash_sha512t256)"
                      " FROM subscriber WHERE username = 'alice'").stdout.strip()
    assert row == "example.com||32|64|64", row
    ctl(url, "user", "passwd", "alice@example.com", "n3w-" + ALICE_PW)
    ctl(url, "user", "disable", "bob@example.com")
    assert "bob@example.com  disabled" in ctl(url, "user", "list").stdout
    ctl(url, "user", "enable", "bob@example.com")

    ctl(url, "alias", "add", "alice@example.com", "sales@example.com")
    assert ctl(url, "alias", "add", "alice@example.com", "sales@example.com", check=False).returncode != 0
    assert "sales@example.com" in ctl(url, "alias", "list").stdout
    ctl(url, "alias", "del", "alice@example.com", "sales@example.com")
    assert "sales" not in ctl(url, "alias", "list").stdout

    now = int(time.time())
    pg.psql(db, "INSERT INTO location (aor, contact, received, call_id, cseq, expires, q, user_agent)"
                " VALUES ('alice@example.com', 'sip:alice@192.0.2.1:5060', 'udp:192.0.2.1:5060', 'c1', 3,"
                " %d, -1, 'phone')" % (now + 300))
    assert "sip:alice@192.0.2.1:5060" in ctl(url, "reg", "list").stdout
    ctl(url, "reg", "del", "alice@example.com")
    assert "192.0.2.1" not in ctl(url, "reg", "list").stdout

    pg.psql(db, "INSERT INTO sw_blocks (src, username, since, until, reason)"
                " VALUES ('192.0.2.7', 'alice', %d, %d, 'failures')" % (now, now + 600))
    assert "192.0.2.7" in ctl(url, "block", "list").stdout
    ctl(url, "block", "del", "192.0.2.7")
    assert "192.0.2.7" not in ctl(url, "block", "list").stdout

    ctl(url, "user", "del", "bob@example.com")
    assert ctl(url, "user", "show", "bob@example.com", check=False).returncode != 0


def test_ctl_bad_password_in_url_is_not_shown(pg):
    """A refused connection is reported with the URL's password masked."""
    url = "postgres://%s:Very-Secret-pw@127.0.0.1:%d/no_such_db" % (PG_USER, pg.port)
    r = ctl(url, "user", "list", check=False)
    assert r.returncode != 0
    assert "Very-Secret-pw" not in r.stdout + r.stderr
    assert "***" in r.stderr


def test_register_on_postgres(pg_daemon):
    """401, then 200 with the right password; a wrong password and an unknown user
    get the same 401 (nothing differs but nonce and tag)."""
    d = pg_daemon(auth={"max_failures": "0"})
    d.start()
    assert "database postgres://" in d.log_text()
    with d.client() as c:
        r = expect(c.register("alice", DOMAIN), 401)
        assert r.challenges()
        expect(c.register("alice", DOMAIN, ALICE_PW), 200)

        def shape(resp):
            text = resp.raw.decode()
            text = re.sub(r'nonce="[^"]*"', 'nonce="N"', text)
            return re.sub(r"tag=[0-9a-f]+", "tag=T", text)

        call = rand_token(6)
        ch = pick_challenge(expect(c.register("alice", DOMAIN), 401).challenges(), "MD5")
        answers = []
        for user, pw in (("alice", "not-it"), ("nobody-here", "whatever")):
            auth = authorization_value(ch, user, pw, "REGISTER", "sip:%s" % DOMAIN)
            data = c.build("REGISTER", "sip:%s" % DOMAIN, "sip:alice@%s" % DOMAIN, call_id=call,
                           cseq=1, via=c.via(branch="z9hG4bKsame"), headers=["Authorization: %s" % auth])
            answers.append(expect(c.transact(data), 401))
        assert shape(answers[0]) == shape(answers[1])
    d.stop()
    log = d.log_text()
    for secret in (ALICE_PW, BOB_PW):
        assert secret not in log


def test_sha256_and_disabled_user(pg_daemon):
    """SHA-256 digests against the hashes sipwarden-ctl stored; a user disabled with
    sipwarden-ctl gets 403 once the password is proven right."""
    d = pg_daemon(auth={"algorithms": "SHA-256"})
    d.start()
    with d.client() as c:
        r = expect(c.register("bob", DOMAIN, BOB_PW, algorithm="SHA-256"), 200)
        assert c.last_challenge.get("algorithm") == "SHA-256"
        assert bindings(r)
        d.ctl("user", "disable", "bob@%s" % DOMAIN)
        expect(c.register("bob", DOMAIN, BOB_PW, algorithm="SHA-256"), 403)
        expect(c.register("bob", DOMAIN, "wrong-" + BOB_PW, algorithm="SHA-256"), 401)
        d.ctl("user", "enable", "bob@%s" % DOMAIN)
        expect(c.register("bob", DOMAIN, BOB_PW, algorithm="SHA-256"), 200)


def test_registrations_survive_restart(pg_daemon, pg):
    """Bindings are written to the location table and come back after a restart."""
    d = pg_daemon()
    d.start()
    with d.client() as c:
        contact = "<sip:alice@127.0.0.1:45123>"
        expect(c.register("alice", DOMAIN, ALICE_PW, contacts=[contact], expires=600), 200)
    deadline = time.monotonic() + 10
    rows = ""
    while time.monotonic() < deadline:
        rows = pg.psql(d.pg_db, "SELECT aor, contact FROM location").stdout
        if "45123" in rows:
            break
        time.sleep(0.2)
    assert "alice@example.com|sip:alice@127.0.0.1:45123" in rows, rows
    d.restart()
    assert "restored 1 registrations" in d.log_text()
    with d.client() as c:
        r = expect(c.register("alice", DOMAIN, ALICE_PW, contacts=[]), 200)
        b = bindings(r)
        assert "sip:alice@127.0.0.1:45123" in b and 500 < b["sip:alice@127.0.0.1:45123"] <= 600, b
    assert "sip:alice@127.0.0.1:45123" in d.ctl("reg", "list").stdout


def test_database_stopped_then_back(pg_daemon, pg):
    """The server stopped: REGISTER gets 503 with Retry-After, quickly, and the
    outage is logged a bounded number of times; started again, registration works
    without restarting the daemon."""
    d = pg_daemon(args=["--workers", "1"])
    d.start()
    try:
        with d.client() as c:
            expect(c.register("alice", DOMAIN, ALICE_PW), 200)
            pg.stop()
            for _ in range(5):
                t0 = time.monotonic()
                r = expect(c.register("alice", DOMAIN, ALICE_PW, timeout=8.0), 503)
                assert r.get("Retry-After") is not None
                assert time.monotonic() - t0 < 6.0
            assert d.running()
            pg.start()
            deadline = time.monotonic() + 15
            r = None
            while time.monotonic() < deadline:
                r = c.register("alice", DOMAIN, ALICE_PW)
                if r is not None and r.status == 200:
                    break
                time.sleep(0.3)
            expect(r, 200)
    finally:
        if pg.pid is None:
            pg.start()  # the other tests of the module need it
    log = d.log_text()
    assert log.count("unavailable, will retry") <= 3, log[-3000:]
    assert "available again" in log


def test_hung_database_answers_503_within_the_timeouts(pg_daemon, pg):
    """The server process of the daemon's connections stops answering (SIGSTOP):
    the REGISTER waiting on it gets 503 within the client-side deadline (statement
    timeout 2 s + 1 s), and the next one is served on a fresh connection."""
    d = pg_daemon(args=["--workers", "1"])
    d.start()
    stopped = []
    try:
        with d.client() as c:
            expect(c.register("alice", DOMAIN, ALICE_PW), 200)
            pids = pg.psql(d.pg_db, "SELECT pid FROM pg_stat_activity WHERE application_name = 'sipwarden'"
                                    " AND datname = current_database()").stdout.split()
            assert pids
            for pid in pids:
                os.kill(int(pid), signal.SIGSTOP)
                stopped.append(int(pid))
            t0 = time.monotonic()
            r = expect(c.register("alice", DOMAIN, ALICE_PW, timeout=10.0), 503)
            assert r.get("Retry-After") is not None
            assert 2.0 <= time.monotonic() - t0 < 6.0, time.monotonic() - t0
            expect(c.register("alice", DOMAIN, ALICE_PW, timeout=10.0), 200)
    finally:
        for pid in stopped:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
    assert "no answer from the server in time" in d.log_text()


def test_extra_columns_on_postgres(pg_daemon, pg):
    """[auth] load_columns / require read columns of the subscriber table in the
    credentials query, whatever case the table spells them in; a missing column
    stops the start with its name."""
    d = pg_daemon(auth={"load_columns": "rpid, plan", "require": "plan=gold"})
    pg.psql(d.pg_db, 'ALTER TABLE subscriber ADD COLUMN "Plan" VARCHAR(16) DEFAULT NULL;'
                     " UPDATE subscriber SET \"Plan\" = 'gold' WHERE username = 'alice'")
    d.start()
    with d.client() as c:
        expect(c.register("alice", DOMAIN, ALICE_PW), 200)
        refused = expect(c.register("bob", DOMAIN, BOB_PW), 403)
        assert refused.reason == "Account Disabled"
        pg.psql(d.pg_db, "UPDATE subscriber SET \"Plan\" = 'gold' WHERE username = 'bob'")
        expect(c.register("bob", DOMAIN, BOB_PW), 200)
    d.stop()

    e = pg_daemon(auth={"load_columns": "no_such_column"})
    with pytest.raises(AssertionError, match="exited with"):
        e.start()
    assert "no column no_such_column" in e.log_text()


KAMAILIO_SCHEMA = """
CREATE TABLE subscriber (
    id SERIAL PRIMARY KEY NOT NULL,
    username VARCHAR(64) DEFAULT '' NOT NULL,
    domain VARCHAR(64) DEFAULT '' NOT NULL,
    password VARCHAR(64) DEFAULT '' NOT NULL,
    ha1 VARCHAR(128) DEFAULT '' NOT NULL,
    ha1b VARCHAR(128) DEFAULT '' NOT NULL,
    CONSTRAINT subscriber_account_idx UNIQUE (username, domain)
);
CREATE INDEX subscriber_username_idx ON subscriber (username);
CREATE TABLE location (
    id SERIAL PRIMARY KEY NOT NULL,
    ruid VARCHAR(64) DEFAULT '' NOT NULL,
    username VARCHAR(64) DEFAULT '' NOT NULL,
    domain VARCHAR(64) DEFAULT NULL,
    contact VARCHAR(512) DEFAULT '' NOT NULL,
    expires TIMESTAMP WITHOUT TIME ZONE DEFAULT '2030-05-28 21:32:15' NOT NULL,
    callid VARCHAR(255) DEFAULT 'Default-Call-ID' NOT NULL,
    cseq INTEGER DEFAULT 1 NOT NULL,
    CONSTRAINT location_ruid_idx UNIQUE (ruid)
);
"""


def test_existing_kamailio_database(pg_daemon, pg):
    """A Kamailio PostgreSQL database is used as it is: subscriber gains sipwarden's
    columns (userhashes filled), Kamailio's own location table is left alone and
    bindings go to sw_location."""
    import hashlib
    d = pg_daemon(users=())
    pg.psql(d.pg_db, KAMAILIO_SCHEMA)
    ha1 = hashlib.md5(("alice:%s:%s" % (DOMAIN, ALICE_PW)).encode()).hexdigest()
    pg.psql(d.pg_db, "INSERT INTO subscriber (username, domain, ha1) VALUES ('alice', '%s', '%s')" % (DOMAIN, ha1))
    d.start()
    with d.client() as c:
        expect(c.register("alice", DOMAIN, ALICE_PW, algorithm="MD5", contacts=["<sip:alice@127.0.0.1:45777>"],
                          expires=300), 200)
    d.stop()
    row = pg.psql(d.pg_db, "SELECT status, userhash_md5 = md5('alice:%s'), length(userhash_sha512t256)"
                           " FROM subscriber" % DOMAIN).stdout.strip()
    assert row == "0|t|64", row
    assert pg.psql(d.pg_db, "SELECT count(*) FROM location").stdout.strip() == "0"
    assert "45777" in pg.psql(d.pg_db, "SELECT contact FROM sw_location").stdout


def test_url_with_unencoded_percent_does_not_show_the_password(pg, pg_daemon):
    """A password with a raw '%' (not written %25) is refused by libpq's URL
    parser, whose message quotes it: sipwarden-ctl and the daemon name the
    problem in their own words and show no part of the password."""
    secret = "50%off-Pg-Secret"
    url = "postgres://%s:%s@127.0.0.1:%d/postgres" % (PG_USER, secret, pg.port)
    r = ctl(url, "user", "list", check=False)
    out = r.stdout + r.stderr
    assert r.returncode != 0
    assert "invalid PostgreSQL URL" in out, out
    assert "50%off" not in out and "off-Pg-Secret" not in out, out

    d = pg_daemon(users=())
    d.db_url = url
    with pytest.raises(AssertionError, match="exited with"):
        d.start()
    # the harness writes the command line into the log first: not the daemon's words
    log = "\n".join(line for line in d.log_text().splitlines() if not line.startswith("==== start:"))
    assert "invalid PostgreSQL URL" in log, log[-2000:]
    assert "50%off" not in log and "off-Pg-Secret" not in log, log[-2000:]


def test_schema_setup_waits_for_the_schema_lock(pg):
    """Another process holding the schema lock for longer than the 200 ms busy
    timeout of a lookup (setting the same database up): the schema setup waits
    for it rather than failing."""
    db = pg.new_db()
    holder = subprocess.Popen(
        [str(PG_BIN / "psql"), "-X", "-q", "-h", "127.0.0.1", "-p", str(pg.port), "-U", PG_USER, "-d", db,
         "-c", "BEGIN; SELECT pg_advisory_xact_lock(7596849127313810); SELECT pg_sleep(1.5); COMMIT;"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while pg.psql(db, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted").stdout.strip() != "1":
            assert time.monotonic() < deadline, "the lock holder did not get the lock"
            time.sleep(0.05)
        t0 = time.monotonic()
        r = ctl(pg.url(db), "user", "add", "alice@example.com", ALICE_PW, check=False)
        assert r.returncode == 0, r.stdout + r.stderr
        assert time.monotonic() - t0 > 0.5  # it did wait for the holder
    finally:
        holder.wait(15)
    assert pg.psql(db, "SELECT count(*) FROM subscriber").stdout.strip() == "1"
