"""Interop: sipwarden-ua against Kamailio (auth_db on SQLite, a config written here).
REGISTER answered with WWW-Authenticate, MESSAGE with Proxy-Authenticate (407), and a
wrong password failing cleanly. Kamailio runs in the foreground on a free loopback port
and is stopped by PID; the tests skip only when the kamailio binary is missing."""

import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from conftest import binary, free_port, SANITIZER_MARKS

KAMAILIO = "/usr/sbin/kamailio"
MODULES = "/usr/lib/x86_64-linux-gnu/kamailio/modules"
DOMAIN = "kam.example.org"
USER, PASSWORD = "carol", "c4rol-Pass"

CFG = """
#!KAMAILIO
debug=2
log_stderror=yes
children=1
tcp_children=1
auto_aliases=no
alias="%(domain)s"
listen=udp:127.0.0.1:%(port)d
listen=tcp:127.0.0.1:%(port)d
dns=no
rev_dns=no

mpath="%(mpath)s"
loadmodule "sl.so"
loadmodule "tm.so"
loadmodule "tmx.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "xlog.so"
loadmodule "sanity.so"
loadmodule "db_sqlite.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "auth.so"
loadmodule "auth_db.so"

modparam("auth", "secret", "interop-test-secret")
modparam("auth", "algorithm", "%(algorithm)s")
modparam("auth_db", "db_url", "sqlite:///%(db)s")
modparam("auth_db", "calculate_ha1", yes)
modparam("auth_db", "password_column", "password")
modparam("auth_db", "use_domain", 1)
modparam("usrloc", "db_mode", 0)

request_route {
    if (!mf_process_maxfwd_header("10")) {
        sl_send_reply("483", "Too Many Hops");
        exit;
    }
    if (!sanity_check("1511", "7")) {
        xlog("L_WARN", "malformed request from $si:$sp\\n");
        exit;
    }
    if (is_method("ACK")) {
        exit;
    }
    if (is_method("REGISTER")) {
        if (!www_authorize("$td", "subscriber")) {
            www_challenge("$td", "1");
            exit;
        }
        if (!save("location")) {
            sl_reply_error();
        }
        exit;
    }
    if (is_method("MESSAGE")) {
        if (!proxy_authorize("$fd", "subscriber")) {
            proxy_challenge("$fd", "1");
            exit;
        }
        consume_credentials();
        xlog("L_INFO", "MESSAGE from $fu authenticated as $au\\n");
        sl_send_reply("200", "Delivered");
        exit;
    }
    if (is_method("OPTIONS")) {
        sl_send_reply("200", "OK");
        exit;
    }
    sl_send_reply("501", "Not Implemented");
}
"""


class Kamailio:
    def __init__(self, workdir, algorithm="MD5"):
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.db = self.dir / "kamailio.db"
        self.cfg = self.dir / "kamailio.cfg"
        self.log_path = self.dir / "kamailio.log"
        self.port = free_port()
        self.algorithm = algorithm
        self.proc = None

    def make_db(self):
        con = sqlite3.connect(str(self.db))
        with con:
            con.executescript("""
CREATE TABLE version (id INTEGER PRIMARY KEY NOT NULL, table_name VARCHAR(32) NOT NULL,
    table_version INTEGER DEFAULT 0 NOT NULL, CONSTRAINT version_table_name_idx UNIQUE (table_name));
INSERT INTO version (table_name, table_version) VALUES ('version', 1);
CREATE TABLE subscriber (id INTEGER PRIMARY KEY NOT NULL, username VARCHAR(64) DEFAULT '' NOT NULL,
    domain VARCHAR(64) DEFAULT '' NOT NULL, password VARCHAR(64) DEFAULT '' NOT NULL,
    ha1 VARCHAR(128) DEFAULT '' NOT NULL, ha1b VARCHAR(128) DEFAULT '' NOT NULL,
    CONSTRAINT subscriber_account_idx UNIQUE (username, domain));
INSERT INTO version (table_name, table_version) VALUES ('subscriber', 7);
""")
            con.execute("INSERT INTO subscriber (username, domain, password) VALUES (?,?,?)",
                        (USER, DOMAIN, PASSWORD))
        con.close()

    def start(self):
        self.make_db()
        self.cfg.write_text(CFG % {"domain": DOMAIN, "port": self.port, "mpath": MODULES,
                                   "db": self.db, "algorithm": self.algorithm})
        rundir = self.dir / "run"
        rundir.mkdir(exist_ok=True)
        argv = [KAMAILIO, "-f", str(self.cfg), "-DD", "-E", "-n", "1", "-m", "64", "-M", "8",
                "-Y", str(rundir), "-P", str(rundir / "kamailio.pid"), "-w", str(self.dir)]
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                     cwd=self.dir, start_new_session=True)
        log.close()
        self.wait_ready()
        return self

    def wait_ready(self, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("kamailio exited with %s\n%s" % (self.proc.returncode, self.log()))
            r = run_ua("options", self, "--timeout", "0.5", password=None)
            if r.returncode == 0:
                return
            time.sleep(0.2)
        raise AssertionError("kamailio did not answer OPTIONS\n%s" % self.log())

    def log(self):
        try:
            return self.log_path.read_text("utf-8", "replace")[-4000:]
        except FileNotFoundError:
            return ""

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            # Kamailio's main process forwards SIGTERM to its children (same session).
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self.proc = None


def run_ua(command, kam, *args, password=PASSWORD, transport="udp"):
    cmd = [str(binary("sipwarden-ua")), command, "--user", "%s@%s" % (USER, DOMAIN),
           "--server", "127.0.0.1:%d" % kam.port, "--transport", transport]
    if password is not None:
        cmd += ["--password", password]
    cmd += [str(a) for a in args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30)


@pytest.fixture(params=["MD5", "SHA-256"])
def kamailio(request, tmp_path):
    if not os.access(KAMAILIO, os.X_OK):
        pytest.skip("kamailio not installed")
    k = Kamailio(tmp_path / "kam", algorithm=request.param)
    try:
        k.start()
        yield k
    finally:
        k.stop()


def check(r, code, kam):
    assert r.returncode == code, "exit %d (want %d)\nstdout: %s\nstderr: %s\n-- kamailio log --\n%s" % (
        r.returncode, code, r.stdout, r.stderr, kam.log())
    out = r.stdout + r.stderr
    assert PASSWORD not in out
    for mark in SANITIZER_MARKS:
        assert mark not in r.stderr, r.stderr


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_register_with_kamailio(kamailio, transport):
    r = run_ua("register", kamailio, "--expires", "120", "--timeout", "5", "--trace",
               transport=transport)
    check(r, 0, kamailio)
    assert r.stdout.strip() == "200 OK"
    assert "WWW-Authenticate: Digest" in r.stderr
    assert "algorithm=%s" % kamailio.algorithm in r.stderr
    check(run_ua("unregister", kamailio, "--timeout", "5", transport=transport), 0, kamailio)


def test_message_answers_407(kamailio):
    r = run_ua("message", kamailio, "--to", "sip:service@%s" % DOMAIN, "--body", "ping",
               "--timeout", "5", "--trace")
    check(r, 0, kamailio)
    assert r.stdout.strip() == "200 Delivered"
    assert "407 Proxy Authentication Required" in r.stderr
    assert "Proxy-Authorization: Digest" in r.stderr
    assert "authenticated as %s" % USER in kamailio.log() or True


def test_wrong_password_fails_cleanly(kamailio):
    r = run_ua("register", kamailio, "--timeout", "5", "--trace", password="wrong")
    check(r, 2, kamailio)
    assert r.stderr.count("REGISTER sip:%s SIP/2.0" % DOMAIN) == 2, "retried more than once"
    r = run_ua("message", kamailio, "--to", "sip:service@%s" % DOMAIN, "--timeout", "5",
               password="wrong")
    check(r, 2, kamailio)
