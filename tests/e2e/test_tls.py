"""SIP over TLS and hardened streams: the RFC 3665 §2.1 registration over TLS
(SIPp and the Python client, sips: URIs), client certificates, SNI, the
TLS-only policy for digest, and limits that keep slow, silent or hostile
clients (idle connections, slowloris, garbage handshakes, oversized
Content-Length) from holding the server's resources. Loopback only; every
wait is bounded."""

import os
import select
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import DOMAIN, PASSWORDS, free_port, require_tool
from sipclient import SipClient, authorization_value, bindings, rand_token

SCENARIOS = Path(__file__).resolve().parent / "sipp"
ALICE_PW = PASSWORDS[("alice", DOMAIN)]
BOB_PW = PASSWORDS[("bob", DOMAIN)]


# ---------------------------------------------------------------- certificates

def openssl(*args, cwd):
    r = subprocess.run(["openssl"] + list(args), cwd=cwd, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, "openssl %s failed:\n%s" % (" ".join(args), r.stderr)


def make_ca(d, name):
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-days", "2", "-subj", "/CN=%s" % name, "-keyout", "%s.key" % name,
            "-out", "%s.crt" % name, cwd=d)


def make_leaf(d, ca, name, san):
    """A key and a certificate for name signed by ca, with subjectAltName san."""
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-subj", "/CN=%s" % name, "-keyout", "%s.key" % name, "-out", "%s.csr" % name, cwd=d)
    (Path(d) / ("%s.ext" % name)).write_text("subjectAltName=%s\n" % san)
    openssl("x509", "-req", "-in", "%s.csr" % name, "-CA", "%s.crt" % ca, "-CAkey", "%s.key" % ca,
            "-CAcreateserial", "-days", "2", "-extfile", "%s.ext" % name,
            "-out", "%s.crt" % name, cwd=d)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A test CA with a server certificate (example.com, 127.0.0.1), a second server
    name for SNI (other.test), a client certificate for alice, and a client
    certificate from a CA the server does not trust."""
    require_tool("openssl")
    d = tmp_path_factory.mktemp("pki")
    make_ca(d, "ca")
    make_ca(d, "rogue-ca")
    make_leaf(d, "ca", "server", "DNS:%s,IP:127.0.0.1" % DOMAIN)
    make_leaf(d, "ca", "other", "DNS:other.test")
    make_leaf(d, "ca", "alice", "URI:sip:alice@%s" % DOMAIN)
    make_leaf(d, "rogue-ca", "mallory", "URI:sip:alice@%s" % DOMAIN)
    return d


def start_tls(sipwarden, pki, conf="", args=(), **kw):
    """A daemon with a tls: listen address on a port of its own; returns (daemon, tls port).
    conf: extra INI text (sections and settings) for a config file."""
    port = free_port()
    argv = ["--listen", "tls:127.0.0.1:%d" % port,
            "--tls-cert", str(pki / "server.crt"), "--tls-key", str(pki / "server.key")]
    if conf:
        path = pki / ("conf-%s.ini" % rand_token(4))
        path.write_text(conf)
        argv = ["-c", str(path)] + argv
    d = sipwarden(args=argv + list(args), **kw)
    return d, port


def client_ctx(pki, cert=None, max_version=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(str(pki / "ca.crt"))
    if cert:
        ctx.load_cert_chain(str(pki / ("%s.crt" % cert)), str(pki / ("%s.key" % cert)))
    if max_version:
        ctx.maximum_version = max_version
    return ctx


def tls_client(pki, port, cert=None, sni=DOMAIN, timeout=3.0, **kw):
    return SipClient("127.0.0.1", port, "tls", timeout=timeout, ssl_context=client_ctx(pki, cert, **kw),
                     server_hostname=sni)


def closed_within(sock, timeout):
    """True when the peer closes sock (EOF or reset) within timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        ready, _, _ = select.select([sock], [], [], left)
        if not ready:
            return False
        try:
            if not sock.recv(4096):
                return True
        except OSError:
            return True


# ---------------------------------------------------------------- RFC 3665 §2.1 over TLS

def test_tls_register_python_client(sipwarden, pki):
    """401 then 200 over TLS with a verified server certificate; the reply says
    Via SIP/2.0/TLS, the binding is kept, and keep-alive CRLFs are answered."""
    d, port = start_tls(sipwarden, pki)
    with tls_client(pki, port) as c:
        assert c.sock.version() in ("TLSv1.2", "TLSv1.3")
        r = c.register("alice", DOMAIN, ALICE_PW)
        assert c.last_first.status == 401, c.last_first
        assert r is not None and r.status == 200, r
        assert r.get("via").startswith("SIP/2.0/TLS"), r.get("via")
        want = "sip:alice@%s;transport=tls" % c.local_hostport
        assert want in bindings(r), bindings(r)
        # RFC 5626 §3.5.1 ping/pong over TLS
        c.sock.sendall(b"\r\n\r\n")
        ready, _, _ = select.select([c.sock], [], [], 3)
        assert ready and c.sock.recv(16) == b"\r\n"
        # the connection still carries requests after the pong
        r = c.register("alice", DOMAIN, ALICE_PW, contacts=[])
        assert r is not None and r.status == 200
        local_port = c.local_port
    d.stop()
    # the binding remembers where it came from: "tls:IP:PORT"
    listing = d.ctl("reg", "list", "alice@%s" % DOMAIN).stdout
    assert "tls:127.0.0.1:%d" % local_port in listing, listing


def test_tls_register_sips_uris(sipwarden, pki):
    """Seed 002 style: sips: Request-URI, To, From and Contact over TLS."""
    d, port = start_tls(sipwarden, pki)
    with tls_client(pki, port) as c:
        ruri, aor = "sips:%s" % DOMAIN, "sips:alice@%s" % DOMAIN
        contact = "<sips:alice@%s>" % c.local_hostport
        call_id = rand_token(8) + "@tls.test"
        r1 = c.request("REGISTER", ruri, aor, call_id=call_id, cseq=1, contacts=[contact], expires=3600)
        assert r1 is not None and r1.status == 401, r1
        auth = authorization_value(r1.challenges()[0], "alice", ALICE_PW, "REGISTER", ruri)
        r2 = c.request("REGISTER", ruri, aor, call_id=call_id, cseq=2, contacts=[contact], expires=3600,
                       headers=["Authorization: %s" % auth])
        assert r2 is not None and r2.status == 200, r2
        assert "sips:alice@%s" % c.local_hostport in bindings(r2), bindings(r2)


def write_csv(path, users):
    lines = ["SEQUENTIAL"]
    for user, domain, password in users:
        lines.append("%s;%s;[authentication username=%s password=%s]" % (user, domain, user, password))
    path.write_text("\n".join(lines) + "\n")


def sipp_has_tls(sipp):
    """Debian's sip-tester 3.6.1 is built without OpenSSL ("-t l1" then fails)."""
    out = subprocess.run([sipp, "-v"], capture_output=True, text=True, timeout=10)
    return "TLS" in (out.stdout + out.stderr)


class TlsBridge:
    """Plain TCP on a local port, TLS (verified, SNI example.com) toward the daemon:
    lets a TLS-less SIPp drive the daemon's TLS transport. One thread, bounded."""

    def __init__(self, pki, target_port):
        self.ctx = client_ctx(pki)
        self.target = ("127.0.0.1", target_port)
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(8)
        self.port = self.lsock.getsockname()[1]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        pairs = {}  # sock -> peer sock
        try:
            while not self.stop.is_set():
                socks = [self.lsock] + list(pairs)
                ready = [s for s in socks if getattr(s, "pending", lambda: 0)()]
                if not ready:
                    ready, _, _ = select.select(socks, [], [], 0.2)
                for s in ready:
                    if s is self.lsock:
                        plain, _ = self.lsock.accept()
                        tls = self.ctx.wrap_socket(socket.create_connection(self.target, timeout=5),
                                                   server_hostname=DOMAIN)
                        # TLS 1.3 session tickets make the socket readable with no
                        # application data: never block on them.
                        tls.setblocking(False)
                        pairs[plain], pairs[tls] = tls, plain
                        continue
                    if s not in pairs:
                        continue
                    try:
                        data = s.recv(65536)
                    except (ssl.SSLWantReadError, BlockingIOError):
                        continue
                    except OSError:
                        data = b""
                    peer = pairs[s]
                    if data:
                        peer.sendall(data)
                    else:
                        for x in (s, peer):
                            pairs.pop(x, None)
                            x.close()
        finally:
            for x in pairs:
                x.close()
            self.lsock.close()

    def close(self):
        self.stop.set()
        self.thread.join(5)


def test_tls_register_sipp(sipwarden, pki):
    """20 RFC 3665 §2.1 flows (401, answer, 200, un-REGISTER) driven by SIPp over TLS:
    with -t l1 when SIPp has TLS, else over a local TCP-to-TLS bridge."""
    sipp = require_tool("sipp")
    # SIPp answers MD5 challenges only.
    d, port = start_tls(sipwarden, pki, conf="[auth]\nalgorithms = MD5\n")
    csv = d.dir / "alice.csv"
    write_csv(csv, [("alice", DOMAIN, ALICE_PW)])
    stat = d.dir / "sipp_tls.csv"
    calls = 20
    bridge = None
    if sipp_has_tls(sipp):
        target, transport = port, ["-t", "l1", "-tls_cert", str(pki / "alice.crt"),
                                   "-tls_key", str(pki / "alice.key")]
    else:
        bridge = TlsBridge(pki, port)
        target, transport = bridge.port, ["-t", "t1"]
    cmd = [sipp, "127.0.0.1:%d" % target, "-sf", str(SCENARIOS / "register_auth.xml"),
           "-inf", str(csv), "-auth_uri", DOMAIN] + transport + [
           "-i", "127.0.0.1", "-p", str(free_port()), "-mp", str(free_port()),
           "-m", str(calls), "-r", "20", "-l", "1", "-timeout", "30s", "-timeout_error",
           "-nostdin", "-trace_stat", "-stf", str(stat)]
    try:
        p = subprocess.run(cmd, cwd=d.dir, capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail("sipp did not finish within 60 s")
    finally:
        if bridge:
            bridge.close()
    info = "sipp exit %d\n%s\n%s\n%s" % (p.returncode, " ".join(cmd), p.stdout[-2000:], p.stderr[-1500:])
    assert p.returncode == 0, info
    rows = [ln for ln in stat.read_text().splitlines() if ln.strip()]
    stats = dict(zip(rows[0].split(";"), rows[-1].split(";")))
    assert int(stats.get("SuccessfulCall(C)", -1)) == calls, info
    assert int(stats.get("FailedCall(C)", -1)) == 0, info
    assert d.running()
    d.stop()
    assert "sip:alice@127.0.0.1" not in d.ctl("reg", "list").stdout  # unregistered at the end


def test_tls_min_version(sipwarden, pki):
    """min_version = 1.3 refuses a client that stops at TLS 1.2; 1.3 clients register."""
    d, port = start_tls(sipwarden, pki, conf="[tls]\nmin_version = 1.3\n")
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        tls_client(pki, port, max_version=ssl.TLSVersion.TLSv1_2).close()
    with tls_client(pki, port) as c:
        assert c.sock.version() == "TLSv1.3"
        assert c.register("alice", DOMAIN, ALICE_PW).status == 200


def test_tls_sni_picks_certificate(sipwarden, pki):
    """[tls] sni: a client asking for other.test gets that name's certificate (its
    hostname check passes); one asking for example.com gets the default."""
    conf = "[tls]\nsni = other.test:%s:%s\n" % (pki / "other.crt", pki / "other.key")
    d, port = start_tls(sipwarden, pki, conf=conf)
    for name in ("other.test", DOMAIN):
        with tls_client(pki, port, sni=name) as c:
            names = [v for k, v in c.sock.getpeercert().get("subjectAltName", ()) if k == "DNS"]
            assert name in names, (name, names)
            assert c.options().status == 200


# ---------------------------------------------------------------- client certificates

def test_client_certificate_required(sipwarden, pki):
    """verify_client = require: alice's certificate from the trusted CA registers; a
    certificate from another CA and no certificate at all are refused at the handshake;
    with require_cert_identity_match, alice's certificate cannot register bob."""
    conf = ("[tls]\nca_file = %s\nverify_client = require\nrequire_cert_identity_match = yes\n"
            % (pki / "ca.crt"))
    d, port = start_tls(sipwarden, pki, conf=conf)
    with tls_client(pki, port, cert="alice") as c:
        r = c.register("alice", DOMAIN, ALICE_PW)
        assert r is not None and r.status == 200, r
        r = c.register("bob", DOMAIN, BOB_PW)
        assert r is not None and r.status == 403, r
        assert r.reason == "Certificate Does Not Match"
    for cert in ("mallory", None):
        # TLS 1.3 reports a refused client certificate on the first read.
        with pytest.raises((ssl.SSLError, ConnectionError, OSError, AssertionError)):
            c = tls_client(pki, port, cert=cert, timeout=2)
            try:
                r = c.options(timeout=2)
                assert r is not None, "no answer"
                raise AssertionError("refused certificate %s got %s" % (cert, r.start_line))
            finally:
                c.close()
    assert "handshake" in d.log_text()
    with d.client() as u:
        assert u.options().status == 200


# ---------------------------------------------------------------- TLS-only digest policy

def test_tls_only_domain_refuses_plaintext_digest(sipwarden, pki):
    """[auth] tls_only_domains: REGISTER over UDP and TCP gets 403 TLS Required (no
    challenge, nothing bound); over TLS the usual 401/200."""
    d, port = start_tls(sipwarden, pki, conf="[auth]\ntls_only_domains = example.com, other.test\n")
    for proto in ("udp", "tcp"):
        with d.client(proto) as c:
            r = c.register("alice", DOMAIN, ALICE_PW)
            assert r is not None and r.status == 403, r
            assert r.reason == "TLS Required"
            assert not r.get_all("www-authenticate")
    with tls_client(pki, port) as c:
        r = c.register("alice", DOMAIN, ALICE_PW)
        assert c.last_first.status == 401
        assert r is not None and r.status == 200, r
    assert "tls_required" in d.log_text()


# ---------------------------------------------------------------- limits

def test_idle_connections_cut_normal_client_registers(sipwarden, pki):
    """200 silent connections (TCP and TLS ports) from 127.0.0.1: beyond
    max_connections_per_ip they are refused at once, the rest are cut by the idle
    and handshake timeouts; meanwhile a client from 127.0.0.2 registers over TCP."""
    conf = ("[server]\ntcp_idle_timeout = 2\nmax_connections_per_ip = 60\n"
            "[tls]\nhandshake_timeout = 2\n")
    d, port = start_tls(sipwarden, pki, conf=conf)
    socks = []
    try:
        for i in range(200):
            s = socket.create_connection(("127.0.0.1", port if i % 2 else d.port), timeout=3)
            socks.append(s)
        with SipClient("127.0.0.1", d.port, "tcp", bind_ip="127.0.0.2") as c:
            r = c.register("alice", DOMAIN, ALICE_PW)
            assert r is not None and r.status == 200, r
        deadline = time.monotonic() + 8
        still_open = [s for s in socks if not closed_within(s, max(0.01, deadline - time.monotonic()))]
        assert not still_open, "%d of 200 idle connections still open" % len(still_open)
        assert "per IP" in d.log_text()
    finally:
        for s in socks:
            s.close()
    # the limits do not stick: a fresh client from 127.0.0.1 is served again
    with d.client("tcp") as c:
        assert c.register("bob", DOMAIN, BOB_PW).status == 200
    with tls_client(pki, port) as c:
        assert c.register("bob", DOMAIN, BOB_PW).status == 200


def test_slowloris_cut_while_normal_client_registers(sipwarden, pki):
    """A client sending a REGISTER one byte per second (never idle) is cut after
    tcp_message_timeout, on TCP and on TLS; a normal client registers meanwhile."""
    conf = "[server]\ntcp_idle_timeout = 60\ntcp_message_timeout = 2\n"
    d, port = start_tls(sipwarden, pki, conf=conf)
    slow_tcp = SipClient("127.0.0.1", d.port, "tcp")
    slow_tls = tls_client(pki, port)
    data = slow_tcp.build("REGISTER", "sip:%s" % DOMAIN, "sip:alice@%s" % DOMAIN)
    try:
        start = time.monotonic()
        cut = {}
        for i in range(12):
            for name, c in (("tcp", slow_tcp), ("tls", slow_tls)):
                if name in cut:
                    continue
                try:
                    c.sock.sendall(data[i:i + 1])
                except OSError:
                    cut[name] = time.monotonic() - start
            if i == 1:
                with d.client("tcp", timeout=3) as n:
                    assert n.register("alice", DOMAIN, ALICE_PW).status == 200
            if len(cut) == 2:
                break
            time.sleep(1)
        for name, c in (("tcp", slow_tcp), ("tls", slow_tls)):
            if name not in cut and c.tcp_closed(timeout=2):
                cut[name] = time.monotonic() - start
        assert set(cut) == {"tcp", "tls"}, cut
        assert all(t <= 8 for t in cut.values()), cut
    finally:
        slow_tcp.close()
        slow_tls.close()
    with tls_client(pki, port) as c:
        assert c.register("alice", DOMAIN, ALICE_PW).status == 200


def test_content_length_never_trusted(daemon):
    """A Content-Length past the message size limit, and headers that never end,
    close the connection instead of buffering; the server keeps answering."""
    with daemon.client("tcp") as c:
        c.send_raw(c.build("REGISTER", "sip:%s" % DOMAIN, "sip:alice@%s" % DOMAIN)
                   .replace(b"Content-Length: 0", b"Content-Length: 10000000"))
        assert c.tcp_closed(timeout=3)
    with daemon.client("tcp") as c:
        try:
            c.send_raw(b"REGISTER sip:%s SIP/2.0\r\n" % DOMAIN.encode() + b"X-Pad: " + b"a" * 70000)
        except OSError:
            pass
        assert c.tcp_closed(timeout=3)
    with daemon.client("tcp") as c:
        assert c.register("alice", DOMAIN, ALICE_PW).status == 200


def test_tcp_keepalive_pong(daemon):
    """RFC 5626 §3.5.1 over TCP: a CRLFCRLF ping gets a CRLF pong, then SIP continues."""
    with daemon.client("tcp") as c:
        c.send_raw(b"\r\n\r\n")
        ready, _, _ = select.select([c.sock], [], [], 3)
        assert ready and c.sock.recv(16) == b"\r\n"
        assert c.options().status == 200


# ---------------------------------------------------------------- hostile handshakes

def test_tls_garbage_does_not_hurt(sipwarden, pki):
    """Random bytes, plaintext SIP and a truncated ClientHello on the TLS port are
    dropped (the last one by the handshake timeout); the daemon keeps serving TLS."""
    d, port = start_tls(sipwarden, pki, conf="[tls]\nhandshake_timeout = 2\n")
    with d.client() as u:
        plain_sip = u.build("OPTIONS", "sip:%s" % DOMAIN, "sip:%s" % DOMAIN)
    for payload in (os.urandom(4096), os.urandom(17) * 3, b"\x16\x03\x01\xff\xff" + os.urandom(300),
                    plain_sip):
        s = socket.create_connection(("127.0.0.1", port), timeout=3)
        try:
            s.sendall(payload)
        except OSError:
            pass
        assert closed_within(s, 4), payload[:40]
        s.close()
    # a truncated ClientHello that then goes silent
    s = socket.create_connection(("127.0.0.1", port), timeout=3)
    s.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
    t0 = time.monotonic()
    assert closed_within(s, 6)
    assert time.monotonic() - t0 >= 1.0
    s.close()
    assert d.running()
    with tls_client(pki, port) as c:
        assert c.register("alice", DOMAIN, ALICE_PW).status == 200
    with d.client() as u:
        assert u.options().status == 200
