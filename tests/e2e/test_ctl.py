"""sipwarden-ctl against a fresh SQLite store: user and registration commands,
exit codes, what is (and is not) stored, and that no secret is ever printed."""

import hashlib
import os
import select
import pty
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("SIPWARDEN_BUILD", "build/asan"))
CTL = BUILD if BUILD.is_absolute() else REPO / BUILD
CTL = CTL / "sipwarden-ctl"

SECRET = "S3cret-pw"


def md5(text):
    return hashlib.md5(text.encode()).hexdigest()


@pytest.fixture
def db(tmp_path):
    return tmp_path / "sw.db"


def ctl(db, *args, stdin=None, env_db=False):
    """Run sipwarden-ctl on db; returns the CompletedProcess."""
    if not CTL.exists():
        pytest.skip(f"{CTL} not built")
    env = dict(os.environ)
    env.pop("SIPWARDEN_DB", None)
    argv = [str(CTL)]
    if env_db:
        env["SIPWARDEN_DB"] = f"sqlite:{db}"
    else:
        argv += ["--db", f"sqlite:{db}"]
    return subprocess.run(argv + list(args), input=stdin, capture_output=True, text=True,
                          env=env, timeout=30, stdin=None if stdin is not None else subprocess.DEVNULL)


def row(db, user, domain="example.com"):
    con = sqlite3.connect(db)
    try:
        con.row_factory = sqlite3.Row
        return con.execute("SELECT * FROM subscriber WHERE username = ? AND domain = ?",
                           (user, domain)).fetchone()
    finally:
        con.close()


def assert_no_secret(proc, *secrets):
    for s in secrets:
        assert s not in proc.stdout and s not in proc.stderr


def test_user_round_trip(db):
    r = ctl(db, "user", "add", "alice@example.com", SECRET)
    assert r.returncode == 0, r.stderr
    assert_no_secret(r, SECRET)

    r = ctl(db, "user", "list")
    assert r.returncode == 0
    assert r.stdout.splitlines() == ["alice@example.com  active"]

    r = ctl(db, "user", "show", "alice@example.com")
    assert r.returncode == 0
    assert "active" in r.stdout and "not stored" in r.stdout
    assert "ha1:       present" in r.stdout and "ha1b:      present" in r.stdout
    assert_no_secret(r, SECRET, md5(f"alice:example.com:{SECRET}"))

    assert ctl(db, "user", "disable", "alice@example.com").returncode == 0
    assert row(db, "alice")["status"] == 1
    assert ctl(db, "user", "list").stdout.splitlines() == ["alice@example.com  disabled"]
    assert "disabled" in ctl(db, "user", "show", "alice@example.com").stdout
    assert ctl(db, "user", "enable", "alice@example.com").returncode == 0
    assert row(db, "alice")["status"] == 0

    r = ctl(db, "user", "passwd", "alice@example.com", "other-pw")
    assert r.returncode == 0, r.stderr
    assert row(db, "alice")["ha1"] == md5("alice:example.com:other-pw")

    assert ctl(db, "user", "del", "alice@example.com").returncode == 0
    assert row(db, "alice") is None
    assert ctl(db, "user", "list").stdout == ""

    r = ctl(db, "user", "del", "alice@example.com")
    assert r.returncode == 2
    assert "alice@example.com does not exist" in r.stderr
    for cmd in ("show", "disable", "enable"):
        assert ctl(db, "user", cmd, "alice@example.com").returncode == 2
    assert ctl(db, "user", "passwd", "alice@example.com", "x").returncode == 2


def test_default_stores_no_cleartext(db):
    assert ctl(db, "user", "add", "alice@example.com", "SECRET").returncode == 0
    r = row(db, "alice")
    assert r["password"] == ""
    assert r["ha1"] == md5("alice:example.com:SECRET")
    assert r["ha1b"] == md5("alice@example.com:example.com:SECRET")
    assert r["status"] == 0


def test_plaintext_keeps_password(db):
    assert ctl(db, "user", "add", "bob@example.com", SECRET, "--plaintext").returncode == 0
    r = row(db, "bob")
    assert r["password"] == SECRET
    assert r["ha1"] == md5(f"bob:example.com:{SECRET}")
    assert "stored in cleartext" in ctl(db, "user", "show", "bob@example.com").stdout
    # A later password change without --plaintext drops the old cleartext.
    assert ctl(db, "user", "passwd", "bob@example.com", "new-pw").returncode == 0
    r = row(db, "bob")
    assert r["password"] == ""
    assert r["ha1b"] == md5("bob@example.com:example.com:new-pw")


def test_password_stdin(db):
    r = ctl(db, "user", "add", "carol@example.com", "--password-stdin", stdin=SECRET + "\n")
    assert r.returncode == 0, r.stderr
    assert row(db, "carol")["ha1"] == md5(f"carol:example.com:{SECRET}")
    r = ctl(db, "user", "passwd", "--password-stdin", "carol@example.com", stdin="p w\r\n")
    assert r.returncode == 0, r.stderr
    assert row(db, "carol")["ha1"] == md5("carol:example.com:p w")
    assert_no_secret(r, "p w")


def test_password_refused(db):
    r = ctl(db, "user", "add", "dave@example.com", "--password-stdin", stdin="\n")
    assert r.returncode == 1 and "empty password" in r.stderr
    r = ctl(db, "user", "add", "dave@example.com", "--password-stdin", stdin="x" * 129 + "\n")
    assert r.returncode == 1 and "longer than 128" in r.stderr
    r = ctl(db, "user", "add", "dave@example.com", "pw", "--password-stdin", stdin="pw\n")
    assert r.returncode == 1
    r = ctl(db, "user", "add", "dave@example.com")  # stdin is not a terminal
    assert r.returncode == 1 and "no password" in r.stderr
    assert row(db, "dave") is None


def test_password_prompt_on_tty(db):
    """No password given on a terminal: asked twice, without echo."""
    if not CTL.exists():
        pytest.skip(f"{CTL} not built")
    pid, fd = pty.fork()
    if pid == 0:
        try:
            os.execv(str(CTL), [str(CTL), "--db", f"sqlite:{db}", "user", "add", "erin@example.com"])
        finally:
            os._exit(127)  # never let the forked test process run on

    def read_some(deadline):
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.time()))
        if not ready:
            return b""
        try:
            return os.read(fd, 1024)
        except OSError:
            return b""

    try:
        out = b""
        for answer in (b"Password: ", b"Retype password: "):
            deadline = time.time() + 20
            while answer not in out and time.time() < deadline:
                out += read_some(deadline)
            assert answer in out, out
            os.write(fd, SECRET.encode() + b"\n")
            out = out.replace(answer, b"", 1)
        rest = b""
        deadline = time.time() + 20
        while time.time() < deadline:
            chunk = read_some(deadline)
            if not chunk:
                break
            rest += chunk
    except BaseException:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        raise
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0, rest
    assert SECRET.encode() not in out + rest  # never echoed
    assert row(db, "erin")["ha1"] == md5(f"erin:example.com:{SECRET}")


def test_duplicate_add(db):
    assert ctl(db, "user", "add", "alice@example.com", "pw1").returncode == 0
    r = ctl(db, "user", "add", "alice@example.com", "pw2")
    assert r.returncode == 2
    assert "sipwarden-ctl: user alice@example.com already exists" in r.stderr
    # Domains are case-insensitive: the same account.
    r = ctl(db, "user", "add", "alice@EXAMPLE.com", "pw2")
    assert r.returncode == 2
    assert row(db, "alice")["ha1"] == md5("alice:example.com:pw1")


def test_domain_stored_lower_case(db):
    assert ctl(db, "user", "add", "Bob@Example.COM", "pw").returncode == 0
    r = row(db, "Bob")
    assert r is not None and r["ha1"] == md5("Bob:example.com:pw")
    assert ctl(db, "user", "list", "EXAMPLE.com").stdout.splitlines() == ["Bob@example.com  active"]
    assert ctl(db, "user", "list", "example.org").stdout == ""


@pytest.mark.parametrize("args, needle", [
    ([], "missing COMMAND"),
    (["user"], "needs a subcommand"),
    (["frob"], "unknown command 'frob'"),
    (["user", "frob"], "unknown command 'user frob'"),
    (["user", "add"], "missing argument"),
    (["user", "del", "a@b", "c"], "too many arguments"),
    (["user", "add", "alice", "pw"], "not USER@DOMAIN"),
    (["user", "add", "@example.com", "pw"], "not USER@DOMAIN"),
    (["user", "add", "a@b@c", "pw"], "not USER@DOMAIN"),
    (["user", "add", "a" * 65 + "@example.com", "pw"], "user name longer"),
    (["user", "del", "--plaintext", "a@b"], "unknown option '--plaintext'"),
    (["--bogus", "user", "list"], "unknown option '--bogus'"),
    (["--config", "/nonexistent/sipwarden.conf", "user", "list"], "sipwarden.conf: No such file"),
    (["-c"], "-c needs a FILE"),
    (["--socket"], "--socket needs a PATH"),
    (["status", "now"], "'status' takes no arguments"),
    (["connections", "--all"], "'connections' takes no arguments"),
])
def test_bad_usage(db, args, needle):
    r = ctl(db, *args)
    assert r.returncode == 1, r
    assert needle in r.stderr


def test_help(db):
    r = ctl(db, "--help")
    assert r.returncode == 0
    for cmd in ("user add", "user passwd", "user del", "user list", "user disable", "user enable",
                "user show", "reg list", "reg del"):
        assert cmd in r.stdout
    r = ctl(db, "user", "add", "--help")
    assert r.returncode == 0 and "USER@DOMAIN" in r.stdout


def test_config_file_names_the_database(db, tmp_path):
    """-c FILE takes [store] db from the daemon's configuration; --db wins over it."""
    ctl(db, "user", "add", "carol@example.com", "pw")
    conf = tmp_path / "sw.conf"
    conf.write_text("[store]\ndb = sqlite:%s\n" % db)
    env = {k: v for k, v in os.environ.items() if k != "SIPWARDEN_DB"}
    r = subprocess.run([str(CTL), "-c", str(conf), "user", "list"], capture_output=True, text=True,
                       timeout=30, env=env)
    assert r.returncode == 0 and "carol@example.com" in r.stdout, r
    bad = tmp_path / "bad.conf"
    bad.write_text("[store]\nfrob = 1\n")
    r = subprocess.run([str(CTL), "-c", str(bad), "user", "list"], capture_output=True, text=True,
                       timeout=30, env=env)
    assert r.returncode == 1 and "bad.conf:2:" in r.stderr, r


def test_bad_store(tmp_path):
    bad = tmp_path / "garbage.db"
    bad.write_text("not a database\n" * 200)
    r = ctl(bad, "user", "list")
    assert r.returncode == 3
    r = ctl(tmp_path / "no" / "such" / "dir.db", "user", "list")
    assert r.returncode == 3
    r = subprocess.run([str(CTL), "--db", "nosuch://u:pw@host/db", "user", "list"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "pw@host" not in r.stderr
    # A database that cannot be reached: a store error, its password masked.
    r = subprocess.run([str(CTL), "--db", "mysql://u:pw@127.0.0.1:1/db", "user", "list"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 3 and ":pw@" not in r.stderr and "mysql://u:***@127.0.0.1:1/db" in r.stderr


def test_env_db(db):
    assert ctl(db, "user", "add", "alice@example.com", "pw", env_db=True).returncode == 0
    assert ctl(db, "user", "list").stdout.splitlines() == ["alice@example.com  active"]


def test_reg_list_empty(db):
    r = ctl(db, "reg", "list")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["AOR", "CONTACT", "EXPIRES-IN", "RECEIVED", "USER-AGENT"]
    r = ctl(db, "reg", "del", "alice@example.com")
    assert r.returncode == 2 and "no registration for alice@example.com" in r.stderr


def test_reg_list_and_del(db):
    assert ctl(db, "reg", "list").returncode == 0  # creates the schema
    now = int(time.time())
    con = sqlite3.connect(db)
    con.executemany(
        "INSERT INTO location (aor, contact, received, call_id, cseq, expires, q, user_agent)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [("alice@example.com", "sip:alice@192.0.2.1:5060", "udp:192.0.2.1:5060", "c1", 1, now + 600, -1,
          "phone\x1b[31m/1"),
         ("alice@example.com", "sip:alice@192.0.2.2:5060", "udp:192.0.2.2:5060", "c2", 1, now - 5, -1, "old"),
         ("bob@example.com", "sip:bob@192.0.2.3:5060", "udp:192.0.2.3:5060", "c3", 1, now + 60, -1, "ua")])
    con.commit()
    con.close()

    r = ctl(db, "reg", "list")
    assert r.returncode == 0
    lines = r.stdout.splitlines()
    assert len(lines) == 3  # header + two unexpired bindings
    alice = next(line for line in lines if line.startswith("alice@example.com"))
    cols = alice.split()
    assert cols[1] == "sip:alice@192.0.2.1:5060"
    assert 590 <= int(cols[2]) <= 600
    assert cols[3] == "udp:192.0.2.1:5060"
    assert "\x1b" not in r.stdout  # terminal escapes from a User-Agent are neutralised

    r = ctl(db, "reg", "list", "sip:BOB@example.com")
    assert r.returncode == 0 and len(r.stdout.splitlines()) == 1  # user part is exact
    r = ctl(db, "reg", "list", "bob@EXAMPLE.com")
    assert len(r.stdout.splitlines()) == 2

    r = ctl(db, "reg", "del", "alice@example.com", "sip:alice@192.0.2.9")
    assert r.returncode == 2 and "no binding" in r.stderr
    assert ctl(db, "reg", "del", "alice@example.com", "sip:alice@192.0.2.1:5060").returncode == 0
    assert ctl(db, "reg", "del", "bob@example.com").returncode == 0
    r = ctl(db, "reg", "list")
    assert len(r.stdout.splitlines()) == 1
