"""The daemon as an admin meets it: configuration errors stop it with file, line and
reason; logs never carry a password, an HA1 or an Authorization header; SIGTERM exits 0
after writing registrations to the database."""

import hashlib
import sqlite3
import subprocess

from conftest import DOMAIN, PASSWORDS, binary
from sipclient import bindings

ALICE_PW = PASSWORDS[("alice", DOMAIN)]


def run_daemon(*args, timeout=10):
    return subprocess.run([str(binary("sipwarden"))] + list(args), capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def test_bad_config_line_names_file_line_and_problem(tmp_path):
    """A bad value on line 4 of the file: exit non-zero before listening, message FILE:4: ..."""
    conf = tmp_path / "sipwarden.conf"
    conf.write_text("[server]\nworkers = 1\n[registrar]\nmax_contacts = lots\n")
    p = run_daemon("--config", str(conf), "--db", "sqlite:%s" % (tmp_path / "x.db"))
    assert p.returncode != 0
    assert "%s:4: max_contacts = lots: expected a whole number" % conf in p.stderr
    assert "listening" not in p.stderr


def test_unknown_setting_and_bad_listen_are_refused(tmp_path):
    """Typos are errors, not silently ignored; a bad --listen is named."""
    conf = tmp_path / "sipwarden.conf"
    conf.write_text("[registrar]\ndomian = example.com\n")
    p = run_daemon("--config", str(conf))
    assert p.returncode != 0 and ":2: domian = example.com: unknown setting" in p.stderr
    p = run_daemon("--listen", "sctp:127.0.0.1:5060")
    assert p.returncode != 0 and "--listen sctp:127.0.0.1:5060" in p.stderr


def test_config_file_is_used(sipwarden, tmp_path):
    """Settings from --config take effect (min_expires from the file gives 423 + Min-Expires)."""
    conf = tmp_path / "sw.conf"
    conf.write_text("[registrar]\nmin_expires = 900\n")
    d = sipwarden(["--config", str(conf)])
    with d.client() as c:
        r = c.register("alice", DOMAIN, ALICE_PW, expires=600)
        assert r.status == 423 and r.get("Min-Expires") == "900"


def test_logs_never_carry_secrets(sipwarden):
    """After good and bad logins at debug level, the log holds no password, no HA1, no
    digest response and no Authorization header, but does hold the security event."""
    d = sipwarden()
    with d.client() as c:
        assert c.register("alice", DOMAIN, ALICE_PW).status == 200
        assert c.register("alice", DOMAIN, "Wrong-" + ALICE_PW).status == 401
        assert c.register("nobody", DOMAIN, ALICE_PW).status == 401
    d.stop()
    log = d.log_text()
    ha1 = hashlib.md5(("alice:%s:%s" % (DOMAIN, ALICE_PW)).encode()).hexdigest()
    for secret in (ALICE_PW, ha1, "Authorization:", "response=", "Digest username"):
        assert secret not in log, "log contains %r" % secret
    assert "security event=auth_failed" in log
    assert 'user="nobody"' in log and 'user="alice"' in log


def test_sigterm_flushes_registrations(sipwarden):
    """A registration made just before SIGTERM is in the location table after exit 0."""
    d = sipwarden(["--flush-interval", "10000"])
    with d.client() as c:
        r = c.register("alice", DOMAIN, ALICE_PW, expires=600)
        assert r.status == 200 and bindings(r)
    d.stop()  # asserts exit status 0
    rows = sqlite3.connect(str(d.db)).execute("SELECT aor, contact FROM location").fetchall()
    assert any(aor == "alice@" + DOMAIN for aor, _ in rows), rows
