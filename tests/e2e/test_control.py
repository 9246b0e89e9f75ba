"""The daemon's control socket and `sipwarden-ctl connections` / `status`: the
connections the workers hold (TCP and TLS, with the client-certificate
identity), the status summary, strict refusal of bad request lines, a silent
client cut off while SIP service goes on, and the socket file's life cycle
(mode 0600, stale file replaced, removed at exit). Loopback only; every wait is
bounded."""

import os
import re
import socket
import stat
import subprocess
import time

from conftest import DOMAIN, PASSWORDS, free_port
from test_tls import pki, start_tls, tls_client  # noqa: F401  (pki is a fixture)

ALICE_PW = PASSWORDS[("alice", DOMAIN)]
# Protocol limits (src/base/limits.h)
CTL_MAX_LINE = 256
CTL_CLIENT_TIMEOUT = 3.0


def sock_path(d):
    return str(d.db) + ".ctl"


def ctl_request(path, data, timeout=8.0):
    """Send raw bytes to the control socket; everything read until the daemon closes."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(path)
        if data:
            s.sendall(data)
        out = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            out += chunk
        return out.decode("utf-8", "replace")
    finally:
        s.close()


def conn_lines(d):
    r = d.ctl("connections")
    return [dict(kv.split("=", 1) for kv in line.split()) for line in r.stdout.splitlines()
            if line.startswith("proto=")]


def status(d, *opts):
    r = d.ctl(*opts, "status")
    return dict(line.split("=", 1) for line in r.stdout.splitlines() if "=" in line)


def test_connections_lists_tcp(sipwarden):
    """A TCP client that sent a request shows up with its peer port, its
    listen address and a worker; `status` counts it; once closed it is gone."""
    d = sipwarden(args=["--workers", "2"])
    assert conn_lines(d) == []
    with d.client("tcp") as c:
        r = c.options()
        assert r is not None and r.status == 200
        # bytes of an incomplete message are reported as buffered
        c.send_raw("OPTIONS sip:%s SIP/2.0\r\nVia: SIP/2.0/TCP x" % DOMAIN)
        time.sleep(0.3)
        lines = conn_lines(d)
        mine = [ln for ln in lines if ln["peer"] == "127.0.0.1:%d" % c.local_port]
        assert len(mine) == 1, lines
        ln = mine[0]
        assert ln["proto"] == "tcp" and ln["listen"] == "tcp:127.0.0.1:%d" % d.port, ln
        assert ln["tls"] == "-" and ln["identity"] == "-", ln
        assert ln["worker"] in ("0", "1"), ln
        assert int(ln["buffered"]) == len("OPTIONS sip:%s SIP/2.0\r\nVia: SIP/2.0/TCP x" % DOMAIN), ln
        assert 0 <= int(ln["age"]) < 60 and 0 <= int(ln["idle"]) < 60, ln
        st = status(d)
        assert st["connections"] == "1" and st["connections_tcp"] == "1", st
        assert st["workers"] == "2" and st["workers_answering"] == "2", st
        assert st["version"] and int(st["uptime"]) >= 0, st
    deadline = time.monotonic() + 5
    while conn_lines(d) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert conn_lines(d) == []


def test_status_counts_registrations(sipwarden):
    d = sipwarden()
    assert status(d)["bindings"] == "0"
    with d.client() as c:
        r = c.register("alice", DOMAIN, ALICE_PW)
        assert r is not None and r.status == 200, r
    st = status(d)
    assert st["aors"] == "1" and st["bindings"] == "1", st


def test_connections_lists_tls_with_client_identity(sipwarden, pki):  # noqa: F811
    """Two TLS connections: one with alice's client certificate (its SAN URI is
    listed as the identity), one without (identity -); both established."""
    conf = "[tls]\nca_file = %s\nverify_client = optional\n" % (pki / "ca.crt")
    d, port = start_tls(sipwarden, pki, conf=conf)
    with tls_client(pki, port, cert="alice") as a, tls_client(pki, port) as anon:
        for c in (a, anon):
            r = c.options()
            assert r is not None and r.status == 200
        lines = conn_lines(d)
        by_port = {ln["peer"]: ln for ln in lines}
        la = by_port["127.0.0.1:%d" % a.local_port]
        ln = by_port["127.0.0.1:%d" % anon.local_port]
        assert la["proto"] == "tls" and la["listen"] == "tls:127.0.0.1:%d" % port, la
        assert la["tls"] == a.sock.version(), la
        assert la["identity"] == "sip:alice@%s" % DOMAIN, la
        assert ln["proto"] == "tls" and ln["identity"] == "-", ln
        st = status(d)
        assert st["connections_tls"] == "2", st


def test_bad_request_lines_refused(daemon):
    """Unknown verbs, arguments, control bytes, overlong and several lines get
    one ERR line each; the daemon keeps serving SIP and the control socket."""
    path = sock_path(daemon)
    cases = [
        (b"bogus\n", "unknown verb"),
        (b"STATUS\n", "unknown verb"),
        (b"status now\n", "no arguments"),
        (b" status\n", "stray spaces"),
        (b"\n", "empty request"),
        (b"sta\x00tus\n", "control"),
        (b"status\xff\n", "control"),
        (b"status\nstatus\n", "one request line"),
        (b"x" * (CTL_MAX_LINE + 10), "too long"),
        (b"x" * (CTL_MAX_LINE - 1) + b"\n", "unknown verb"),
    ]
    for data, why in cases:
        out = ctl_request(path, data)
        assert out.startswith("ERR ") and why in out and out.count("\n") == 1, (data, out)
    assert ctl_request(path, b"help\r\n").startswith("OK\n")
    assert ctl_request(path, b"status\r\n").startswith("OK\nversion=")
    with daemon.client() as c:
        r = c.options()
        assert r is not None and r.status == 200
    assert daemon.running()


def test_silent_client_cut_off(daemon):
    """A client that connects and says nothing is answered ERR and closed after
    the client timeout; meanwhile SIP requests are answered at once (the
    control thread is not a worker), and the next control client is served."""
    path = sock_path(daemon)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(CTL_CLIENT_TIMEOUT + 5)
    s.connect(path)
    t0 = time.monotonic()
    with daemon.client() as c:
        r = c.options(timeout=1.0)
        assert r is not None and r.status == 200
    assert time.monotonic() - t0 < CTL_CLIENT_TIMEOUT - 1, "SIP waited for the control client"
    out = b""
    while True:
        chunk = s.recv(4096)
        if not chunk:
            break
        out += chunk
    waited = time.monotonic() - t0
    s.close()
    assert out.startswith(b"ERR timed out"), out
    assert CTL_CLIENT_TIMEOUT - 0.5 <= waited <= CTL_CLIENT_TIMEOUT + 3, waited
    # a trickling client gets no more time than a silent one
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(CTL_CLIENT_TIMEOUT + 5)
    s.connect(path)
    t0 = time.monotonic()
    closed = False
    for ch in b"statu" * 3:
        try:
            s.sendall(bytes([ch]))
        except OSError:
            closed = True
            break
        time.sleep(0.3)
    s.close()
    assert closed or time.monotonic() - t0 < CTL_CLIENT_TIMEOUT + 3
    assert status(daemon)["version"]


def test_ctl_when_daemon_not_running(sipwarden):
    d = sipwarden(start=False)
    for cmd in ("status", "connections"):
        r = d.ctl(cmd, check=False)
        assert r.returncode == 4, r
        assert "not running" in r.stderr and str(d.db) in r.stderr, r.stderr
        assert r.stdout == ""


def test_socket_file_life_cycle(sipwarden):
    """Mode 0600; a stale socket file left behind is replaced at start; the file
    goes at exit; a live socket (another daemon) is not taken over."""
    d = sipwarden(start=False)
    path = sock_path(d)
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(path)
    stale.close()  # the file stays, nobody listens: what a killed daemon leaves
    assert stat.S_ISSOCK(os.lstat(path).st_mode)
    d.start()
    st = os.lstat(path)
    assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600, oct(st.st_mode)
    assert status(d)["version"]
    # a second daemon on the same database refuses to steal the live socket
    other = subprocess.run([str(d.bin), "--listen", "udp:127.0.0.1:%d" % free_port(), "--db", d.db_url],
                           capture_output=True, text=True, timeout=30, env=d.env())
    assert other.returncode != 0 and "in use" in other.stderr, other
    assert status(d)["version"]
    d.stop()
    assert not os.path.exists(path)
    # a regular file in the way is never deleted
    with open(path, "w") as f:
        f.write("not a socket")
    p = subprocess.run(d.argv(), capture_output=True, text=True, timeout=30, env=d.env())
    assert p.returncode != 0 and "not a socket" in p.stderr, p
    assert open(path).read() == "not a socket"


def test_socket_from_config_and_option(sipwarden, tmp_path):
    """[server] control_socket places the socket; sipwarden-ctl finds it with
    -c CONFIG or --socket PATH; control_socket = none turns it off."""
    path = tmp_path / "ctl.sock"
    conf = tmp_path / "sw.conf"
    conf.write_text("[server]\ncontrol_socket = %s\n" % path)
    d = sipwarden(args=["-c", str(conf)])
    assert stat.S_ISSOCK(os.lstat(path).st_mode)
    assert not os.path.exists(sock_path(d))
    r = subprocess.run([str(d.ctl_bin), "-c", str(conf), "--db", d.db_url, "status"],
                       capture_output=True, text=True, timeout=30, env=d.env())
    assert r.returncode == 0 and "version=" in r.stdout, r
    r = subprocess.run([str(d.ctl_bin), "--socket", str(path), "connections"],
                       capture_output=True, text=True, timeout=30, env=d.env())
    assert r.returncode == 0 and r.stdout == "", r
    d.stop()
    assert not os.path.exists(path)

    off = tmp_path / "off.conf"
    off.write_text("[server]\ncontrol_socket = none\n")
    d2 = sipwarden(args=["-c", str(off)])
    assert not os.path.exists(sock_path(d2))
    r = subprocess.run([str(d2.ctl_bin), "-c", str(off), "status"],
                       capture_output=True, text=True, timeout=30, env=d2.env())
    assert r.returncode == 1 and "disables the control socket" in r.stderr, r
    log = d2.log_text()
    assert not re.search(r"control socket on", log), log
