"""Overload: a SIPp registration burst above what one (sanitizer-built) worker can
serve, made certain on any machine by stalling the daemon (SIGSTOP) for 300 ms of every
second so that its UDP queue builds up as under a real overload. New requests that queued past [server] overload_delay_ms get 503 with
Retry-After; the daemon stays up, its memory stays bounded, the episode is logged once
with its count, and a normal client registers again within seconds of the burst."""

import os
import signal
import subprocess
import threading
import time

import pytest

from conftest import DOMAIN, PASSWORDS, free_port, require_tool
from test_register_sipp import SCENARIOS, write_csv

ALICE_PW = PASSWORDS[("alice", DOMAIN)]
BURST_S = 5           # how long SIPp offers load
RATE = 3000           # new registration flows per second offered (each 2 requests)
SIPP_TIMEOUT = 60     # hard bound on the sipp process
RSS_MARGIN_KB = 64 * 1024
STALL_EVERY_S = 1.0   # the daemon is stopped for STALL_S out of every STALL_EVERY_S
STALL_S = 0.3


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for %d" % pid)


def counts(path):
    """Last row of a SIPp -trace_counts file as {column: int}."""
    rows = [ln for ln in path.read_text().splitlines() if ln.strip()]
    assert len(rows) >= 2, path.read_text()
    names, values = rows[0].split(";"), rows[-1].split(";")
    out = {}
    for n, v in zip(names, values):
        try:
            out[n] = int(v)
        except ValueError:
            pass
    return out


def summed(c, suffix):
    return sum(v for k, v in c.items() if k.endswith(suffix))


@pytest.fixture
def overloadable(sipwarden, tmp_path, monkeypatch):
    # ASan keeps freed blocks in a quarantine (256 MiB by default) that would read as
    # growth; a small one leaves real growth visible.
    monkeypatch.setenv("ASAN_OPTIONS", "abort_on_error=0:detect_leaks=1:quarantine_size_mb=8")
    conf = tmp_path / "overload.conf"
    # MD5 first for SIPp; a low bound so one ASan worker overloads on a loaded machine
    conf.write_text("[server]\noverload_delay_ms = 20\n[auth]\nalgorithms = MD5, SHA-256\n"
                    "trusted_networks = 127.0.0.1\n")
    return sipwarden(["--config", str(conf), "--workers", "1", "--log-level", "info"])


def test_burst_above_capacity_is_shed_with_503_and_service_returns(overloadable):
    d = overloadable
    sipp = require_tool("sipp")
    csv = d.dir / "alice.csv"
    write_csv(csv, [("alice", DOMAIN, ALICE_PW)])
    with d.client() as c:  # warm up: first allocations, database open
        assert c.register("alice", DOMAIN, ALICE_PW, expires=600).status == 200
    pid = d.proc.pid
    rss_before = rss_kb(pid)

    peak = [rss_before]
    # SIPp picks its ports at start; one taken meanwhile by another process on
    # the box (its media port, say) makes it exit at once: then it runs again
    # on new ports (bounded: 3 tries).
    for attempt in range(3):
        port = free_port()
        cmd = [sipp, "127.0.0.1:%d" % d.port, "-sf", str(SCENARIOS / "reg_overload.xml"),
               "-inf", str(csv), "-auth_uri", DOMAIN, "-t", "u1",
               "-i", "127.0.0.1", "-p", str(port), "-mp", str(free_port()),
               "-m", str(RATE * BURST_S), "-r", str(RATE), "-l", str(RATE * 2), "-max_socket", "100",
               "-timeout", "%ds" % (BURST_S + 12), "-recv_timeout", "4000",
               "-nostdin", "-trace_counts", "-fd", "1"]
        stop = threading.Event()

        def sample():
            try:
                while not stop.wait(STALL_EVERY_S - STALL_S):
                    peak[0] = max(peak[0], rss_kb(pid))
                    os.kill(pid, signal.SIGSTOP)
                    stop.wait(STALL_S)
                    os.kill(pid, signal.SIGCONT)
            except (OSError, AssertionError):
                pass
            finally:
                try:
                    os.kill(pid, signal.SIGCONT)
                except OSError:
                    pass

        t = threading.Thread(target=sample, daemon=True)
        t.start()
        try:
            p = subprocess.run(cmd, cwd=d.dir, capture_output=True, text=True, timeout=SIPP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail("sipp did not finish within %d s" % SIPP_TIMEOUT)
        finally:
            stop.set()
            t.join()
        if p.returncode == 0 or "Address already in use" not in p.stderr or attempt == 2:
            break
        for f in d.dir.glob("reg_overload_*_counts.csv"):
            f.unlink()
    info = "sipp exit %d\nstdout:\n%s\nstderr:\n%s" % (p.returncode, p.stdout[-2000:], p.stderr[-1500:])
    assert d.running(), info

    found = sorted(d.dir.glob("reg_overload_*_counts.csv"))
    assert found, "no SIPp counts file\n" + info
    c = counts(found[-1])
    shed = summed(c, "_503_Recv")
    ok = summed(c, "_200_Recv")
    info += "\ncounts: %s" % c
    assert shed > 0, "no 503 under overload\n" + info
    assert ok > 0, "nothing served under overload\n" + info

    # full service again within a few seconds of the load stopping
    deadline = time.monotonic() + 8
    r = None
    with d.client(timeout=1.0) as cl:
        while time.monotonic() < deadline:
            r = cl.register("alice", DOMAIN, ALICE_PW, expires=600)
            if r is not None and r.status == 200:
                break
            time.sleep(0.3)
    assert r is not None and r.status == 200, (r and r.start_line, info)

    rss_after = rss_kb(pid)
    print("offered %d flows, 200 %d, 503 %d, RSS kB before %d peak %d after %d"
          % (c.get("0_REGISTER_Sent", 0), ok, shed, rss_before, peak[0], rss_after))
    assert rss_after < 2 * rss_before + RSS_MARGIN_KB, (rss_before, peak[0], rss_after)
    assert peak[0] < 2 * rss_before + 2 * RSS_MARGIN_KB, (rss_before, peak[0], rss_after)

    # the episode is logged once when it starts and once, with its count, when it ends
    deadline = time.monotonic() + 5
    while "overload: shedding ended" not in d.log_text() and time.monotonic() < deadline:
        time.sleep(0.2)
    log = d.log_text()
    assert "overload: shedding started" in log, d.log_tail()
    assert "overload: shedding ended" in log, d.log_tail()
    assert log.count("overload: shedding started") <= BURST_S + 15, d.log_tail()
