"""sipwarden-ua over TLS against the daemon's TLS transport: the RFC 3665 §2.1
registration (401 then 200) with a verified server certificate, sips: URIs,
SNI and host name checks, certificates that must be refused (wrong CA, wrong
name), client certificates accepted and refused when the daemon requires one,
and OPTIONS/MESSAGE (a MESSAGE delivered to a TLS-registered sipwarden-ua over
its own connection). Loopback only; certificates made per module."""

import subprocess
import time
from pathlib import Path

import pytest

from conftest import DOMAIN, PASSWORDS, binary, build_dir, free_port, require_tool
from test_tls import make_ca, make_leaf  # the suite's certificate helpers

ALICE = "alice@%s" % DOMAIN
ALICE_PW = PASSWORDS[("alice", DOMAIN)]
BOB_PW = PASSWORDS[("bob", DOMAIN)]
RUN_TIMEOUT = 30
MAKE_CERT = Path(__file__).resolve().parents[2] / "scripts" / "make-cert"


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """ca: signs the daemon's certificate (example.com, 127.0.0.1), one for
    "localhost" only (served by SNI), and alice's client certificate; rogue-ca:
    signs mallory's. selfsigned/: what scripts/make-cert writes."""
    require_tool("openssl")
    d = tmp_path_factory.mktemp("ua-pki")
    make_ca(d, "ca")
    make_ca(d, "rogue-ca")
    make_leaf(d, "ca", "server", "DNS:%s,IP:127.0.0.1" % DOMAIN)
    make_leaf(d, "ca", "lh", "DNS:localhost")
    make_leaf(d, "ca", "alice", "URI:sip:alice@%s" % DOMAIN)
    make_leaf(d, "rogue-ca", "mallory", "URI:sip:alice@%s" % DOMAIN)
    r = subprocess.run([str(MAKE_CERT), str(d / "selfsigned"), "localhost"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return d


def start_tls(sipwarden, pki, conf="", cert="server"):
    """A daemon with udp/tcp (the fixture's) plus tls: on a port of its own."""
    port = free_port()
    argv = ["--listen", "tls:127.0.0.1:%d" % port,
            "--tls-cert", str(pki / ("%s.crt" % cert)), "--tls-key", str(pki / ("%s.key" % cert))]
    if conf:
        path = pki / ("conf-%d.ini" % port)
        path.write_text(conf)
        argv = ["--config", str(path)] + argv
    return sipwarden(args=argv), port


def ua(*args, timeout=RUN_TIMEOUT):
    cmd = [str(binary("sipwarden-ua"))] + [str(a) for a in args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def ua_tls(port, command, *args, pki=None, user=ALICE, password=ALICE_PW, host="127.0.0.1",
           transport=("--transport", "tls")):
    ca = ["--tls-ca", pki / "ca.crt"] if pki is not None else []
    return ua(command, "--user", user, "--password", password, "--server", "%s:%d" % (host, port),
              *transport, "--timeout", "5", *ca, *args)


def check(r, code, status_line=None):
    assert r.returncode == code, "exit %d (want %d)\nstdout: %s\nstderr: %s" % (
        r.returncode, code, r.stdout, r.stderr)
    if status_line:
        assert r.stdout.strip().splitlines()[-1] == status_line, r.stdout
    assert ALICE_PW not in r.stderr + r.stdout and BOB_PW not in r.stderr + r.stdout


def sent(r):
    """The messages sipwarden-ua sent, from --trace output."""
    return [m.split("---- received ----")[0] for m in r.stderr.split("---- sent ----\n")[1:]]


def bindings(daemon, aor=ALICE, wait=3.0):
    deadline = time.monotonic() + wait
    while True:
        rows = [l for l in daemon.ctl("reg", "list", aor).stdout.splitlines() if "sip" in l]
        if rows or time.monotonic() > deadline:
            return rows
        time.sleep(0.1)


# ---------------------------------------------------------------- RFC 3665 §2.1 over TLS

def test_register_over_tls_401_then_200(sipwarden, pki):
    d, port = start_tls(sipwarden, pki)
    r = ua_tls(port, "register", "--expires", "300", "--trace", pki=pki)
    check(r, 0, "200 OK")
    assert "TLS: TLSv1." in r.stderr and "server certificate verified" in r.stderr, r.stderr
    out = sent(r)
    assert len(out) == 2, r.stderr
    for m in out:
        assert m.startswith("REGISTER sip:%s SIP/2.0" % DOMAIN), m
        assert "\nVia: SIP/2.0/TLS 127.0.0.1:" in m, m
        assert ";transport=tls>" in m, m
    assert "Authorization: Digest" not in out[0] and "Authorization: Digest" in out[1]
    got = r.stderr.split("---- received ----\n")[1:]
    assert got[0].startswith("SIP/2.0 401 ") and got[1].startswith("SIP/2.0 200 "), r.stderr
    rows = bindings(d)
    assert rows and "tls:127.0.0.1:" in "\n".join(rows), rows
    check(ua_tls(port, "unregister", pki=pki), 0, "200 OK")


def test_sips_aor_means_tls(sipwarden, pki):
    """A sips: AOR needs no --transport: TLS, sips: in the REGISTER URI, To, From and
    Contact (no transport=tls there, RFC 5630 §3.1.3); --transport udp contradicts it."""
    d, port = start_tls(sipwarden, pki)
    r = ua_tls(port, "register", "--trace", pki=pki, user="sips:" + ALICE, transport=())
    check(r, 0, "200 OK")
    m = sent(r)[-1]
    assert m.startswith("REGISTER sips:%s SIP/2.0" % DOMAIN), m
    assert "Via: SIP/2.0/TLS " in m and "To: <sips:%s>" % ALICE in m, m
    assert "Contact: <sips:alice@127.0.0.1:" in m and "transport=tls" not in m, m
    assert "sips:alice@127.0.0.1" in "\n".join(bindings(d))
    r = ua_tls(port, "register", pki=pki, user="sips:" + ALICE, transport=("--transport", "udp"))
    check(r, 1)
    # sips: in front of the server works the same way
    r = ua("options", "--user", ALICE, "--password", ALICE_PW, "--server", "sips:127.0.0.1:%d" % port,
           "--tls-ca", pki / "ca.crt", "--timeout", "5")
    check(r, 0, "200 OK")


def test_self_signed_from_make_cert(sipwarden, pki):
    """scripts/make-cert's certificate is its own CA: trusted with --tls-ca, and
    registration works with the server named localhost."""
    ss = pki / "selfsigned"
    d, port = start_tls(sipwarden, ss, cert="localhost")
    r = ua_tls(port, "register", "--tls-ca", ss / "localhost.crt", host="localhost")
    check(r, 0, "200 OK")
    r = ua_tls(port, "register", "--tls-ca", ss / "localhost.crt")  # 127.0.0.1 is in its SANs too
    check(r, 0, "200 OK")


# ---------------------------------------------------------------- server certificate checks

def test_wrong_ca_fails_cleanly(sipwarden, pki):
    """A CA that did not sign the server's certificate, and the system store (which
    does not know the test CA): the handshake fails, exit 3, and nothing was sent."""
    d, port = start_tls(sipwarden, pki)
    for ca in (["--tls-ca", pki / "rogue-ca.crt"], []):
        r = ua_tls(port, "register", "--trace", *ca)
        check(r, 3, "TLS: server certificate not accepted: unable to get local issuer certificate")
        assert not sent(r), r.stderr
    assert not bindings(d, wait=0.2)
    # --tls-insecure connects anyway, and says so
    r = ua_tls(port, "register", "--tls-ca", pki / "rogue-ca.crt", "--tls-insecure")
    check(r, 0, "200 OK")
    assert "NOT verified" in r.stderr and "warning" in r.stderr, r.stderr


def test_wrong_name_fails(sipwarden, pki):
    """The certificate is valid but for other names: refused (RFC 5922 §7.2)."""
    d, port = start_tls(sipwarden, pki)
    r = ua_tls(port, "options", "--tls-server-name", "other.test", pki=pki)
    check(r, 3)
    assert "server certificate not accepted" in r.stdout and "mismatch" in r.stdout, r.stdout
    r = ua_tls(port, "options", "--tls-server-name", DOMAIN, pki=pki)
    check(r, 0, "200 OK")


def test_sni_is_the_server_host_name(sipwarden, pki):
    """The daemon serves the localhost-only certificate only to clients asking for
    "localhost" by SNI; its default certificate does not name localhost."""
    conf = "[tls]\nsni = localhost:%s:%s\n" % (pki / "lh.crt", pki / "lh.key")
    d, port = start_tls(sipwarden, pki, conf=conf)
    check(ua_tls(port, "register", pki=pki, host="localhost"), 0, "200 OK")
    # No SNI for an IP address: the default certificate, which names 127.0.0.1.
    check(ua_tls(port, "register", pki=pki), 0, "200 OK")


def test_tls_to_a_plain_tcp_port_fails_cleanly(daemon):
    r = ua("options", "--user", ALICE, "--server", "127.0.0.1:%d" % daemon.port, "--transport", "tls",
           "--tls-insecure", "--timeout", "3")
    check(r, 3)
    assert "TLS" in r.stdout, r.stdout


def test_bad_tls_files_are_usage_errors(pki, tmp_path):
    r = ua("options", "--user", ALICE, "--server", "127.0.0.1:1", "--transport", "tls",
           "--tls-ca", tmp_path / "missing.crt")
    check(r, 1)
    assert "missing.crt" in r.stderr, r.stderr
    r = ua("options", "--user", ALICE, "--server", "127.0.0.1:1", "--transport", "tls",
           "--tls-cert", pki / "alice.crt", "--tls-key", pki / "mallory.key")
    check(r, 1)
    assert "does not match" in r.stderr, r.stderr
    check(ua("options", "--user", ALICE, "--server", "127.0.0.1:1", "--tls-ca", pki / "ca.crt"), 1)


# ---------------------------------------------------------------- client certificates

def test_client_certificate_accepted_and_refused(sipwarden, pki):
    """[tls] verify_client = require: alice's certificate from the trusted CA
    registers; mallory's (another CA) and none at all are refused with exit 3."""
    conf = "[tls]\nca_file = %s\nverify_client = require\n" % (pki / "ca.crt")
    d, port = start_tls(sipwarden, pki, conf=conf)
    r = ua_tls(port, "register", "--tls-cert", pki / "alice.crt", "--tls-key", pki / "alice.key", pki=pki)
    check(r, 0, "200 OK")
    for cert in (["--tls-cert", pki / "mallory.crt", "--tls-key", pki / "mallory.key"], []):
        r = ua_tls(port, "register", *cert, pki=pki)
        check(r, 3)
        assert r.stdout.startswith("TLS: "), r.stdout
    assert len(bindings(d)) == 1


# ---------------------------------------------------------------- OPTIONS and MESSAGE

def test_options_over_tls(sipwarden, pki):
    d, port = start_tls(sipwarden, pki)
    r = ua_tls(port, "options", "--trace", pki=pki)
    check(r, 0, "200 OK")
    assert sent(r)[0].startswith("OPTIONS sip:127.0.0.1:%d;transport=tls SIP/2.0" % port), r.stderr


def test_message_over_tls(sipwarden, pki):
    """bob (sipwarden-ua, registered over UDP) stays; alice's MESSAGE over TLS is
    challenged (407), answered on the same connection, and delivered; bob's 200
    comes back to alice over TLS."""
    d, port = start_tls(sipwarden, pki)
    bob = subprocess.Popen([str(binary("sipwarden-ua")), "register", "--user", "bob@%s" % DOMAIN,
                            "--password", BOB_PW, "--server", "127.0.0.1:%d" % d.port,
                            "--timeout", "5", "--stay", "6", "--trace"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert bindings(d, aor="bob@%s" % DOMAIN, wait=8), "bob did not register"
        r = ua_tls(port, "message", "--to", "sip:bob@%s" % DOMAIN, "--body", "hello over TLS", "--trace",
                   pki=pki)
        check(r, 0, "200 OK")
        assert "SIP/2.0 407 " in r.stderr, r.stderr
        assert len(sent(r)) == 2 and "Proxy-Authorization: Digest" in sent(r)[1], r.stderr
        out, err = bob.communicate(timeout=20)
    finally:
        if bob.poll() is None:
            bob.kill()
            bob.wait(5)
    assert bob.returncode == 0, err
    assert "MESSAGE sip:bob@127.0.0.1:" in err and "hello over TLS" in err, err


def test_register_example_over_tls(sipwarden, pki):
    """examples/register.c with transport tls and a CA file: the library API alone."""
    d, port = start_tls(sipwarden, pki)
    prog = build_dir() / "examples" / "register"
    if not prog.exists():
        pytest.fail("%s not built" % prog, pytrace=False)
    r = subprocess.run([str(prog), "127.0.0.1:%d" % port, ALICE, ALICE_PW, "tls", str(pki / "ca.crt")],
                       capture_output=True, text=True, timeout=RUN_TIMEOUT)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "registered: 200 OK" in r.stdout and "unregistered: 200 OK" in r.stdout, r.stdout
    r = subprocess.run([str(prog), "127.0.0.1:%d" % port, ALICE, ALICE_PW, "tls", str(pki / "rogue-ca.crt")],
                       capture_output=True, text=True, timeout=RUN_TIMEOUT)
    assert r.returncode == 1 and "server certificate not accepted" in r.stdout, r.stdout + r.stderr
