"""Overload shedding over TCP and TLS: the daemon is stopped (SIGSTOP) while a client
sends a burst of requests on one connection, so that the burst waits in the socket's
receive queue far longer than [server] overload_delay_ms. After SIGCONT the new
requests get 503 with Retry-After, while CANCEL and an in-dialog request in the same
burst are still processed; the next requests on the same connection are served at
once, and the episode is logged. Loopback only; every wait is bounded."""

import os
import signal
import ssl
import subprocess
import time
from pathlib import Path

import pytest

from conftest import DOMAIN, PASSWORDS, free_port, require_tool
from sipclient import SipClient, rand_token

ALICE_PW = PASSWORDS[("alice", DOMAIN)]
BURST = 20            # new requests sent while the daemon is stopped
STALL_S = 0.4         # how long it stays stopped; the bound below is 20 ms
REPLY_TIMEOUT = 8.0   # all answers to the burst arrive within this after SIGCONT


def wait_stopped(pid, timeout=2.0):
    """Until every thread of pid is in state T (stopped); bounded."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = []
        for tid in os.listdir("/proc/%d/task" % pid):
            try:
                with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                    states.append(f.read().rsplit(")", 1)[1].split()[0])
            except OSError:
                pass
        if states and all(s in ("T", "t") for s in states):
            return
        time.sleep(0.005)
    raise AssertionError("sipwarden %d did not stop within %.1f s" % (pid, timeout))


@pytest.fixture(scope="module")
def server_cert(tmp_path_factory):
    require_tool("openssl")
    d = tmp_path_factory.mktemp("ovlcert")
    r = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                        "-subj", "/CN=%s" % DOMAIN, "-keyout", "server.key", "-out", "server.crt"],
                       cwd=d, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return Path(d)


def start(sipwarden, tmp_path, proto, server_cert):
    conf = tmp_path / "overload.conf"
    conf.write_text("[server]\noverload_delay_ms = 20\n")
    args = ["--config", str(conf), "--workers", "1", "--log-level", "info"]
    port = None
    if proto == "tls":
        port = free_port()
        args += ["--listen", "tls:127.0.0.1:%d" % port,
                 "--tls-cert", str(server_cert / "server.crt"),
                 "--tls-key", str(server_cert / "server.key")]
    d = sipwarden(args)
    return d, port or d.port


def connect(d, port, proto):
    if proto == "tcp":
        return SipClient(d.host, port, "tcp", timeout=3.0)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return SipClient(d.host, port, "tls", timeout=3.0, ssl_context=ctx)


def collect(c, call_ids, timeout):
    """Final responses by Call-ID for every id in call_ids (bounded by timeout)."""
    got = {}
    deadline = time.monotonic() + timeout
    while len(got) < len(call_ids):
        left = deadline - time.monotonic()
        if left <= 0:
            break
        m = c.recv(left)
        if m is None:
            break
        cid = m.get("call-id")
        if m.status is not None and m.status >= 200 and cid in call_ids:
            got[cid] = m
    return got


@pytest.mark.parametrize("proto", ["tcp", "tls"])
def test_burst_queued_on_a_stream_is_shed_then_served(sipwarden, tmp_path, server_cert, proto):
    d, port = start(sipwarden, tmp_path, proto, server_cert)
    pid = d.proc.pid
    with connect(d, port, proto) as c:
        # warm-up on the same connection: served normally
        r = c.options(timeout=3.0)
        assert r is not None and r.status == 200, r and r.start_line

        ruri = "sip:%s" % c.hostport
        new_ids = ["ovl-%d-%s" % (i, rand_token(4)) for i in range(BURST)]
        cancel_id = "ovl-cancel-" + rand_token(4)
        dialog_id = "ovl-dialog-" + rand_token(4)
        burst = [c.build("OPTIONS", ruri, ruri, call_id=cid) for cid in new_ids]
        # never shed: CANCEL ends work already paid for, an in-dialog request continues it
        burst.insert(BURST // 2, c.build("CANCEL", "sip:bob@%s" % DOMAIN, "sip:bob@%s" % DOMAIN,
                                         call_id=cancel_id))
        in_dialog = c.build("OPTIONS", ruri, ruri, call_id=dialog_id)
        to = ("\r\nTo: <%s>" % ruri).encode()
        assert to in in_dialog
        burst.append(in_dialog.replace(to, to + b";tag=" + rand_token(4).encode()))

        os.kill(pid, signal.SIGSTOP)
        try:
            wait_stopped(pid)
            for data in burst:
                c.send_raw(data)
            time.sleep(STALL_S)
        finally:
            os.kill(pid, signal.SIGCONT)

        got = collect(c, set(new_ids) | {cancel_id, dialog_id}, REPLY_TIMEOUT)
        statuses = {cid: m.status for cid, m in got.items()}
        missing = [cid for cid in new_ids + [cancel_id, dialog_id] if cid not in got]
        assert not missing, "no answer to %s (got %s)\n%s" % (missing, statuses, d.log_tail())
        shed = [cid for cid in new_ids if got[cid].status == 503]
        # the whole burst waited STALL_S (>> 20 ms) behind the stopped worker
        assert len(shed) == BURST, "shed %d of %d: %s\n%s" % (len(shed), BURST, statuses, d.log_tail())
        for cid in shed:
            assert got[cid].get("retry-after") == "5", got[cid].raw
        print("%s: %d of %d shed; CANCEL got %d, in-dialog OPTIONS %d"
              % (proto, len(shed), BURST, got[cancel_id].status, got[dialog_id].status))
        assert got[cancel_id].status != 503, got[cancel_id].start_line
        assert got[dialog_id].status != 503, got[dialog_id].start_line

        # full service again at once on the same connection
        r = c.options(timeout=3.0)
        assert r is not None and r.status == 200, r and r.start_line
        r = c.register("alice", DOMAIN, ALICE_PW, expires=60)
        assert r is not None and r.status == 200, r and r.start_line

    assert d.running()
    log = d.log_text()
    assert "overload: shedding started" in log, d.log_tail()
