"""Fixtures for the end-to-end suite: the real sipwarden daemon on loopback.

The daemon binary is taken from $SIPWARDEN_BUILD (default build/asan, relative
to the repository root). Every daemon gets its own temporary directory, its own
SQLite database made with sipwarden-ctl, and free ports; it is stopped by PID at
teardown whatever happened. A failing test gets the tail of each live daemon's
log attached to its report.
"""

import atexit
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from sipclient import SipClient

REPO = Path(__file__).resolve().parents[2]
DOMAIN = "example.com"
# Clients that speak MD5 only and read only the first challenge (SIPp, sipsak,
# old baresip) meet a server configured for old phones: MD5 offered first.
LEGACY_MD5_FIRST = {"algorithms": "MD5, SHA-256"}
# Users every daemon starts with: (user, domain, password).
DEFAULT_USERS = (
    ("alice", DOMAIN, "alice-Secr3t"),
    ("bob", DOMAIN, "bob-pa55word"),
)
PASSWORDS = {(u, d): p for u, d, p in DEFAULT_USERS}
READY_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                   "ERROR: ThreadSanitizer")


def build_dir():
    b = Path(os.environ.get("SIPWARDEN_BUILD", "build/asan"))
    return b if b.is_absolute() else REPO / b


_SNAPSHOT = {}


def binary(name):
    """The built binary, copied once per session into a private directory so that a
    rebuild in the work tree during the run cannot swap or truncate it under us."""
    if name in _SNAPSHOT:
        return _SNAPSHOT[name]
    path = build_dir() / name
    if not path.exists():
        pytest.fail("%s not built (run `make MODE=asan all`)" % path, pytrace=False)
    if "dir" not in _SNAPSHOT:
        _SNAPSHOT["dir"] = Path(tempfile.mkdtemp(prefix="sipwarden-bin-"))
        atexit.register(shutil.rmtree, _SNAPSHOT["dir"], True)
    copy = _SNAPSHOT["dir"] / name
    shutil.copy2(path, copy)
    _SNAPSHOT[name] = copy
    return copy


def require_tool(name):
    path = shutil.which(name)
    if path is None:
        pytest.skip("%s not installed" % name)
    return path


def ipv6_loopback_available():
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def free_port(host="127.0.0.1", attempts=50):
    """A port number free for both UDP and TCP on host (bind port 0 on UDP, then check TCP)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for _ in range(attempts):
        u = socket.socket(family, socket.SOCK_DGRAM)
        try:
            u.bind((host, 0))
            port = u.getsockname()[1]
            t = socket.socket(family, socket.SOCK_STREAM)
            try:
                t.bind((host, port))
            except OSError:
                continue
            finally:
                t.close()
            return port
        finally:
            u.close()
    raise RuntimeError("no free UDP+TCP port found on %s" % host)


def free_port_both(hosts):
    """One port number free on every host given (for a daemon listening on several)."""
    for _ in range(50):
        port = free_port(hosts[0])
        ok = True
        for h in hosts[1:]:
            family = socket.AF_INET6 if ":" in h else socket.AF_INET
            for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                s = socket.socket(family, kind)
                try:
                    s.bind((h, port))
                except OSError:
                    ok = False
                finally:
                    s.close()
        if ok:
            return port
    raise RuntimeError("no port free on all of %s" % (hosts,))


class Daemon:
    """One sipwarden process with its own directory, database and ports."""

    live = []  # every started, not yet reaped Daemon (for failure reports)

    def __init__(self, workdir, args=(), users=DEFAULT_USERS, domains=(DOMAIN,),
                 ipv6=False, disabled=(), auth=None):
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.db = self.dir / "sw.db"
        self.db_url = "sqlite:%s" % self.db
        self.log_path = self.dir / "sipwarden.log"
        self.host = "127.0.0.1"
        self.ipv6 = ipv6
        self.port = free_port_both(["127.0.0.1", "::1"]) if ipv6 else free_port()
        self.extra_args = list(args)
        if auth:
            # [auth] settings go through a config file (no command-line options for them)
            conf = self.dir / "auth.conf"
            conf.write_text("[auth]\n" + "".join("%s = %s\n" % kv for kv in auth.items()))
            self.extra_args = ["--config", str(conf)] + self.extra_args
        self.domains = list(domains)
        self.proc = None
        self.exit_codes = []
        self.bin = binary("sipwarden")
        self.ctl_bin = binary("sipwarden-ctl")
        for user, domain, password in users:
            self.add_user(user, domain, password)
        for user, domain in disabled:
            self.ctl("user", "disable", "%s@%s" % (user, domain))

    # -- store
    def ctl(self, *args, check=True):
        cmd = [str(self.ctl_bin), "--db", self.db_url] + [str(a) for a in args]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=30, env=self.env())
        if check and r.returncode != 0:
            raise AssertionError("%s -> exit %d\nstdout: %s\nstderr: %s"
                                 % (" ".join(cmd), r.returncode, r.stdout, r.stderr))
        return r

    def add_user(self, user, domain, password, plaintext=False):
        args = ["user", "add", "%s@%s" % (user, domain), password]
        if plaintext:
            args.insert(2, "--plaintext")
        self.ctl(*args)

    # -- process
    @staticmethod
    def env():
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "abort_on_error=0:detect_leaks=1")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
        return env

    def argv(self):
        argv = [str(self.bin),
                "--listen", "udp:127.0.0.1:%d" % self.port,
                "--listen", "tcp:127.0.0.1:%d" % self.port]
        if self.ipv6:
            argv += ["--listen", "udp:[::1]:%d" % self.port,
                     "--listen", "tcp:[::1]:%d" % self.port]
        for d in self.domains:
            argv += ["--domain", d]
        argv += ["--db", self.db_url, "--log-level", "debug"] + self.extra_args
        return argv

    def start(self):
        """Start and wait for OPTIONS 200. The daemon's own port is picked free
        before start; another process on the box may take it in between, so a
        start that fails only because that port is in use is retried on a new
        port (bounded: 3 tries). Ports the test passes in args are never changed."""
        for attempt in range(3):
            try:
                return self._start_once()
            except AssertionError:
                tail = self.log_tail()
                clash = ("cannot listen on udp:127.0.0.1:%d" % self.port in tail
                         or "cannot listen on tcp:127.0.0.1:%d" % self.port in tail)
                if attempt == 2 or not clash or "Address already in use" not in tail:
                    raise
                self.port = (free_port_both(["127.0.0.1", "::1"]) if self.ipv6 else free_port())

    def _start_once(self):
        assert self.proc is None, "daemon already running"
        log = open(self.log_path, "ab")
        log.write(("\n==== start: %s\n" % " ".join(self.argv())).encode())
        log.flush()
        self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL,
                                     stdout=log, stderr=log, cwd=self.dir, env=self.env())
        log.close()
        Daemon.live.append(self)
        self.wait_ready()
        return self

    def wait_ready(self, timeout=READY_TIMEOUT):
        """Until an OPTIONS over UDP gets 200 (bounded)."""
        deadline = time.monotonic() + timeout
        with SipClient(self.host, self.port, "udp", timeout=0.3) as c:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    rc = self.proc.returncode
                    self._reap()
                    raise AssertionError("sipwarden exited with %s during start-up\n%s"
                                         % (rc, self.log_tail()))
                r = c.options(timeout=0.3)
                if r is not None and r.status == 200:
                    return
        raise AssertionError("sipwarden did not answer OPTIONS with 200 within %.0f s\n%s"
                             % (timeout, self.log_tail()))

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=STOP_TIMEOUT):
        """SIGTERM, wait, and require exit status 0 (clean shutdown)."""
        assert self.proc is not None, "daemon not running"
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("sipwarden did not exit within %.0f s of SIGTERM\n%s"
                                 % (timeout, self.log_tail()))
        self._reap()
        assert rc == 0, "sipwarden exited with %d after SIGTERM\n%s" % (rc, self.log_tail())
        return rc

    def kill(self):
        """SIGKILL by PID (no clean shutdown)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
        self._reap()

    def restart(self):
        self.stop()
        return self.start()

    def _reap(self):
        if self.proc is not None:
            self.exit_codes.append(self.proc.returncode)
        self.proc = None
        if self in Daemon.live:
            Daemon.live.remove(self)

    def log_text(self):
        try:
            return self.log_path.read_text("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines=60):
        text = self.log_text().splitlines()
        return "---- sipwarden log tail (%s) ----\n%s" % (self.log_path, "\n".join(text[-lines:]))

    def sanitizer_report(self):
        text = self.log_text()
        for mark in SANITIZER_MARKS:
            i = text.find(mark)
            if i >= 0:
                return text[max(0, i - 200):i + 3000]
        return None

    def teardown(self):
        """Always: end the process by PID; then fail on sanitizer reports."""
        if self.running():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                pass
        self.kill()
        report = self.sanitizer_report()
        if report:
            pytest.fail("sanitizer report in sipwarden log:\n%s" % report, pytrace=False)

    # -- clients
    def client(self, proto="udp", host=None, timeout=3.0):
        return SipClient(host or self.host, self.port, proto, timeout=timeout)


@pytest.fixture
def sipwarden(tmp_path):
    """Factory: sipwarden(args=[...], users=..., domains=..., ipv6=..., disabled=...,
    auth={key: value} for the [auth] section) -> started Daemon."""
    made = []

    def start(args=(), start=True, **kw):
        d = Daemon(tmp_path / ("d%d" % len(made)), args=args, **kw)
        made.append(d)
        if start:
            d.start()
        return d

    yield start
    for d in made:
        d.teardown()


@pytest.fixture
def daemon(sipwarden):
    """A daemon with default settings and users alice and bob in example.com."""
    return sipwarden()


@pytest.fixture
def client(daemon):
    c = daemon.client()
    yield c
    c.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed and report.when in ("setup", "call"):
        for d in list(Daemon.live):
            report.sections.append(("sipwarden log (%s)" % d.log_path, d.log_tail(80)))
