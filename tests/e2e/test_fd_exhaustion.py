"""Running out of file descriptors does not take the daemon down: started with
a low RLIMIT_NOFILE, the daemon is filled with TCP connections until it
refuses them; it must not spin (CPU stays low), must not flood the log, must
keep serving UDP, and must accept TCP again once connections close. Loopback
only; the number of connections and every wait are bounded."""

import os
import socket
import sys
import time

from conftest import DOMAIN, PASSWORDS

ALICE_PW = PASSWORDS[("alice", DOMAIN)]
NOFILE = 64          # descriptors the daemon may hold (well under max_connections_per_ip)
MAX_CONNS = 200      # bound on connections opened by the test


def cpu_ticks(pid):
    fields = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def refused(s, timeout=0.1):
    """True when the daemon closes the fresh connection s (EOF or reset)."""
    s.settimeout(timeout)
    try:
        return s.recv(1) == b""
    except socket.timeout:
        return False
    except OSError:
        return True


def test_fd_exhaustion_survived(sipwarden):
    d = sipwarden(start=False, args=["--workers", "1"])
    orig_argv = d.argv
    # RLIMIT_NOFILE set by a tiny exec wrapper, so the PID is the daemon's own
    wrapper = ("import os, resource, sys; resource.setrlimit(resource.RLIMIT_NOFILE, (%d, %d)); "
               "os.execv(sys.argv[1], sys.argv[1:])" % (NOFILE, NOFILE))
    d.argv = lambda: [sys.executable, "-c", wrapper] + orig_argv()
    d.start()
    pid = d.proc.pid
    assert open("/proc/%d/limits" % pid).read().count(str(NOFILE)) >= 2

    held = []
    try:
        got_refused = False
        for _ in range(MAX_CONNS):
            s = socket.create_connection((d.host, d.port), timeout=3)
            if refused(s):
                s.close()
                got_refused = True
                break
            held.append(s)
        assert got_refused, "no connection refused within %d (limit %d)" % (MAX_CONNS, NOFILE)
        assert 10 < len(held) < NOFILE, len(held)

        # more attempts while exhausted: each is refused, none is left pending
        extra = [socket.create_connection((d.host, d.port), timeout=3) for _ in range(5)]
        for s in extra:
            assert refused(s, timeout=2.0)
            s.close()
        # and one left pending in the backlog, which a spinning worker would chew on
        pending = socket.create_connection((d.host, d.port), timeout=3)
        time.sleep(0.2)
        hz = os.sysconf("SC_CLK_TCK")
        t0, c0 = time.monotonic(), cpu_ticks(pid)
        time.sleep(1.0)
        used = (cpu_ticks(pid) - c0) / hz / (time.monotonic() - t0)
        pending.close()
        assert used < 0.25, "daemon used %.0f%% CPU while out of descriptors" % (used * 100)
        assert d.running()

        # UDP still served, authentication and registration included
        with d.client("udp") as c:
            r = c.register("alice", DOMAIN, ALICE_PW)
            assert r is not None and r.status == 200, r
    finally:
        for s in held:
            s.close()

    # descriptors come back: a TCP REGISTER works again (bounded retries while
    # the worker notices the closed connections)
    deadline = time.monotonic() + 10
    r = None
    while time.monotonic() < deadline:
        try:
            with d.client("tcp", timeout=2.0) as c:
                r = c.register("bob", DOMAIN, PASSWORDS[("bob", DOMAIN)])
        except OSError:
            r = None
        if r is not None and r.status == 200:
            break
        time.sleep(0.2)
    assert r is not None and r.status == 200, r

    log = d.log_text()
    lines = [ln for ln in log.splitlines() if "file descriptors" in ln or "Too many open files" in ln]
    assert 1 <= len(lines) <= 4, "\n".join(lines[:20]) + "\n... %d lines" % len(lines)
    assert "out of file descriptors" in lines[0], lines
    assert any("available again" in ln for ln in lines), lines
    d.stop()
