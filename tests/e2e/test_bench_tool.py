"""sipwarden-bench (the load generator of bench/run) against the daemon: short runs
at a low rate. Every flow must succeed with the right passwords, over UDP, TCP,
with nonce-reusing refreshes and for authenticated calls through the proxy to a
SIPp UAS; with a wrong password every flow must fail and the tool must exit
non-zero; a server that accepts a REGISTER without digest credentials must be
reported as failing."""

import socket
import subprocess
import threading
from pathlib import Path

import pytest

from conftest import DOMAIN, binary, free_port, require_tool
from sipclient import bindings

UAS_SCENARIO = Path(__file__).resolve().parents[2] / "bench" / "sipp" / "call_uas.xml"
CALLEE = ("callee", DOMAIN, "pw-callee-Bench")

NUSERS = 10
RUN_TIMEOUT = 30


def bench_users():
    return tuple(("u%05d" % i, DOMAIN, "pw-%05d-Bench" % i) for i in range(NUSERS))


def run_bench(port, *args):
    """Run sipwarden-bench; return (exit code, RESULT dict, whole stdout)."""
    cmd = [str(binary("sipwarden-bench")), "--server", "127.0.0.1:%d" % port, "--domain", DOMAIN,
           "--users", str(NUSERS), "--threads", "2"] + [str(a) for a in args]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=RUN_TIMEOUT)
    lines = p.stdout.strip().splitlines()
    assert lines and lines[-1].startswith("RESULT "), "no RESULT line:\n%s\n%s" % (p.stdout, p.stderr)
    res = {}
    for kv in lines[-1].split()[1:]:
        k, _, v = kv.partition("=")
        res[k] = v
    return p.returncode, res, p.stdout


@pytest.fixture
def daemon(sipwarden):
    return sipwarden(users=bench_users())


@pytest.mark.parametrize("tick_us", [1000, 0])  # batched reads on a tick / on every datagram
def test_new_registrations_udp_all_succeed(daemon, tick_us):
    rc, res, out = run_bench(daemon.port, "--scenario", 1, "--rate", 20, "--duration", 1.5, "--tick-us", tick_us)
    assert rc == 0, out
    assert int(res["planned"]) == 30
    assert int(res["ok"]) == 30 and int(res["auth_ok"]) == 30, out
    assert int(res["failed"]) == 0 and int(res["timeouts"]) == 0, out
    assert res["transport"] == "udp" and res["threads"] == "2" and res["tick_us"] == str(tick_us)
    # two transactions per flow, every one timed; CPU time reported
    assert int(res["received"]) >= 60
    assert 0 < int(res["flow_p50_us"]) <= int(res["flow_p99_us"]) <= int(res["flow_max_us"])
    assert float(res["cpu_s"]) > 0
    # the registrations really happened: a query REGISTER lists the tool's contact
    with daemon.client() as c:
        q = c.register("u00003", DOMAIN, "pw-00003-Bench", contacts=[])
    assert q is not None and q.status == 200
    assert any(uri.startswith("sip:u00003@127.0.0.1") for uri in bindings(q)), q.raw


def test_refreshes_reuse_the_nonce(daemon):
    rc, res, out = run_bench(daemon.port, "--scenario", 2, "--rate", 5, "--duration", 1, "--refreshes", 3)
    assert rc == 0, out
    assert int(res["ok"]) == 5, out
    # 1 registration + 3 refreshes per flow, each answered 200
    assert int(res["auth_ok"]) == 20, out
    assert int(res["sent"]) - int(res["retrans"]) == 25, out


def test_new_registrations_tcp_all_succeed(daemon):
    rc, res, out = run_bench(daemon.port, "--scenario", 4, "--rate", 20, "--duration", 1, "--conns", 2)
    assert rc == 0, out
    assert res["transport"] == "tcp"
    assert int(res["ok"]) == 20 and int(res["failed"]) == 0 and int(res["timeouts"]) == 0, out


def test_wrong_password_every_flow_fails(daemon):
    # the limiter may stop answering: a short timeout keeps the run short
    rc, res, out = run_bench(daemon.port, "--scenario", 1, "--rate", 10, "--duration", 1,
                             "--password", "not-the-Passw0rd", "--timeout", 1000)
    assert rc == 1, out
    assert int(res["ok"]) == 0 and int(res["auth_ok"]) == 0, out
    assert int(res["failed"]) + int(res["timeouts"]) == int(res["planned"]) == 10, out
    # the digest answers were refused (401/403), or the limiter went silent
    refused = sum(int(v) for k, v in res.items() if k in ("status_401", "status_403"))
    assert refused >= 1, out
    assert refused + int(res["timeouts"]) == 10, out


def test_tolerated_failure_ratio(daemon):
    """--max-fail-ratio decides the exit code; the counts stay the same."""
    rc, res, out = run_bench(daemon.port, "--rate", 10, "--duration", 0.5, "--password", "wrong-Passw0rd",
                             "--max-fail-ratio", 1, "--timeout", 1000)
    assert rc == 0, out
    assert int(res["ok"]) == 0


@pytest.fixture
def call_daemon(sipwarden):
    """The callers plus a callee whose one contact is a SIPp UAS answering 200
    (bench/sipp/call_uas.xml); yields (daemon, uas process)."""
    sipp = require_tool("sipp")
    d = sipwarden(users=bench_users() + (CALLEE,))
    port = free_port()
    log = open(d.dir / "uas.log", "w")
    uas = subprocess.Popen([sipp, "-sf", str(UAS_SCENARIO), "-i", "127.0.0.1", "-p", str(port),
                            "-mp", str(free_port()), "-t", "u1", "-nostdin", "-timeout", "30s"],
                           cwd=d.dir, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    log.close()
    try:
        with d.client() as c:
            r = c.register(CALLEE[0], DOMAIN, CALLEE[2], contacts=["<sip:%s@127.0.0.1:%d>" % (CALLEE[0], port)])
        assert r is not None and r.status == 200, r
        yield d, uas
    finally:
        if uas.poll() is None:
            uas.kill()
        uas.wait(5)


def test_calls_through_the_proxy_all_succeed(call_daemon):
    d, _ = call_daemon
    rc, res, out = run_bench(d.port, "--scenario", 3, "--callee", CALLEE[0], "--rate", 5, "--duration", 1)
    assert rc == 0, out
    assert int(res["ok"]) == 5 and int(res["auth_ok"]) == 5, out
    # INVITE, ACK (of the 407), INVITE with credentials, ACK (of the 200), BYE
    assert int(res["sent"]) - int(res["retrans"]) == 25, out
    assert int(res["failed"]) == 0 and int(res["timeouts"]) == 0, out


def test_calls_to_the_tools_own_uas(sipwarden):
    """sipwarden-bench --uas as the callee (two threads on one port): every call
    is answered, the UAS saw each INVITE and BYE once and the 2xx ACK, and it
    reports its counts when stopped."""
    import signal
    d = sipwarden(users=bench_users() + (CALLEE,))
    port = free_port()
    uas = subprocess.Popen([str(binary("sipwarden-bench")), "--uas", "127.0.0.1:%d" % port, "--threads", "2",
                            "--duration", "25"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           stdin=subprocess.DEVNULL, text=True)
    try:
        with d.client() as c:
            r = c.register(CALLEE[0], DOMAIN, CALLEE[2], contacts=["<sip:%s@127.0.0.1:%d>" % (CALLEE[0], port)])
        assert r is not None and r.status == 200, r
        rc, res, out = run_bench(d.port, "--scenario", 3, "--callee", CALLEE[0], "--rate", 10, "--duration", 1)
        assert rc == 0, out
        assert int(res["ok"]) == 10 and int(res["failed"]) == 0 and int(res["timeouts"]) == 0, out
    finally:
        uas.send_signal(signal.SIGTERM)
        text = uas.communicate(timeout=10)[0]
    assert uas.returncode == 0, text
    line = [ln for ln in text.splitlines() if ln.startswith("RESULT ")]
    assert line, text
    got = dict(kv.partition("=")[::2] for kv in line[-1].split()[1:])
    assert got["mode"] == "uas" and int(got["port"]) == port, got
    assert int(got["invites"]) >= 10 and int(got["byes"]) == 10 and int(got["acks"]) == 10, got
    assert int(got["bad"]) == 0 and int(got["answered"]) == int(got["invites"]) + 10, got


def test_calls_with_a_wrong_password_fail(call_daemon):
    d, _ = call_daemon
    rc, res, out = run_bench(d.port, "--scenario", 3, "--callee", CALLEE[0], "--rate", 5, "--duration", 1,
                             "--password", "not-the-Passw0rd", "--timeout", 1000)
    assert rc == 1, out
    assert int(res["ok"]) == 0 and int(res["auth_ok"]) == 0, out
    assert int(res["failed"]) + int(res["timeouts"]) == 5, out
    assert int(res.get("status_407", 0)) + int(res.get("status_403", 0)) >= 1, out


class AcceptAll(threading.Thread):
    """A broken registrar on loopback: 200 OK to every request, no challenge."""

    def __init__(self):
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()

    def run(self):
        for _ in range(1000):  # bounded: 0.2 s per idle round
            if self.stop.is_set():
                break
            try:
                data, addr = self.sock.recvfrom(65535)
            except OSError:
                continue
            head = data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
            keep = [h for h in head[1:] if h.split(b":", 1)[0].strip().lower()
                    in (b"via", b"from", b"to", b"call-id", b"cseq")]
            resp = b"SIP/2.0 200 OK\r\n" + b"\r\n".join(keep) + b"\r\nContent-Length: 0\r\n\r\n"
            self.sock.sendto(resp, addr)


def test_200_without_digest_counts_as_failure():
    srv = AcceptAll()
    srv.start()
    try:
        rc, res, out = run_bench(srv.port, "--rate", 10, "--duration", 0.5)
    finally:
        srv.stop.set()
        srv.join(timeout=2)
        srv.sock.close()
    assert rc == 1, out
    assert int(res["ok"]) == 0
    assert int(res["early_200"]) == 5 and int(res["failed"]) == 5, out


@pytest.mark.parametrize("args", [
    [],                                        # no --server
    ["--server", "127.0.0.1"],                 # no port
    ["--server", "127.0.0.1:5", "--rate", "0"],
    ["--server", "127.0.0.1:5", "--duration", "100000"],
    ["--server", "127.0.0.1:5", "--scenario", "5"],
    ["--server", "127.0.0.1:5", "--user-fmt", "u%s"],
    ["--server", "127.0.0.1:5", "--tick-us", "20000"],
    ["--server", "127.0.0.1:5", "--scenario", "3", "--transport", "tcp"],  # calls are UDP only
    ["--server", "127.0.0.1:5", "--local-port", "65535", "--threads", "2"],  # ports past 65535
    ["--server", "127.0.0.1:5", "--rate", "1", "--duration", "0.2"],  # no flow at all
])
def test_bad_arguments_exit_2(args):
    p = subprocess.run([str(binary("sipwarden-bench"))] + args, capture_output=True, text=True,
                       timeout=RUN_TIMEOUT)
    assert p.returncode == 2, p.stdout + p.stderr


def test_local_port_reaches_the_same_workers_every_run(sipwarden, tmp_path):
    """--local-port N: thread i sends from N+i, so a second run lands on the
    same SO_REUSEPORT workers as the first and every login of the second run
    is served from those workers' credential caches (two workers, two threads,
    requests placed by sender address: each flow has a new Call-ID, which
    would otherwise pick the worker)."""
    conf = tmp_path / "by-address.conf"
    conf.write_text("[server]\nudp_spread_by_call_id = no\n")
    d = sipwarden(args=["--workers", "2", "--config", str(conf)], users=bench_users())

    def hits():
        r = d.ctl("status")
        return int([ln for ln in r.stdout.split() if ln.startswith("credential_cache_hits=")][0].split("=")[1])
    base = free_port()
    while base + 1 == 5060 or not port_free(base + 1):
        base = free_port()
    for run in range(2):
        before = hits()
        rc, res, out = run_bench(d.port, "--scenario", 1, "--rate", NUSERS, "--duration", 1, "--local-port", base)
        assert rc == 0 and int(res["ok"]) == NUSERS, out
    assert hits() - before == NUSERS, "second run: %d of %d logins from the cache" % (hits() - before, NUSERS)
    # every binding was received from one of the two ports the threads sent from
    import re
    import time
    time.sleep(0.5)  # the write-back of the registrations (200 ms)
    listing = d.ctl("reg", "list").stdout
    ports = set(int(p) for p in re.findall(r"udp:127\.0\.0\.1:(\d+)", listing))
    assert ports and ports <= {base, base + 1}, (base, ports, listing)


def port_free(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()
