"""sipwarden-ua and the UA library against the real daemon (and a SIPp UAS for calls):
exit codes, registration state, stale nonces, TCP, and the application-handled mode."""

import hashlib
import socket
import subprocess
import time

import pytest

from conftest import DOMAIN, PASSWORDS, binary, build_dir, free_port, require_tool

ALICE = "alice@%s" % DOMAIN
ALICE_PW = PASSWORDS[("alice", DOMAIN)]
RUN_TIMEOUT = 30


def ua_daemon(sipwarden, args=(), algorithms=None, qop=None):
    """A daemon whose alice has a cleartext password stored, so that every digest
    algorithm can be verified (HA1 columns exist only for some hashes)."""
    d = sipwarden(args=list(args), users=(), start=False)
    d.add_user("alice", DOMAIN, ALICE_PW, plaintext=True)
    if algorithms or qop:
        conf = d.dir / "auth.conf"
        lines = ["[auth]"]
        if algorithms:
            lines.append("algorithms = %s" % algorithms)
        if qop:
            lines.append("qop = %s" % qop)
        conf.write_text("\n".join(lines) + "\n")
        d.extra_args = ["--config", str(conf)] + d.extra_args
    return d.start()


@pytest.fixture
def daemon(sipwarden):
    return ua_daemon(sipwarden)


def ua(*args, timeout=RUN_TIMEOUT):
    cmd = [str(binary("sipwarden-ua"))] + [str(a) for a in args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def ua_on(daemon, command, *args, transport="udp", password=ALICE_PW):
    extra = ["--password", password] if password is not None else []
    return ua(command, "--user", ALICE, "--server", "127.0.0.1:%d" % daemon.port,
              "--transport", transport, "--timeout", "5", *extra, *args)


def example(name):
    path = build_dir() / "examples" / name
    if not path.exists():
        pytest.fail("%s not built" % path, pytrace=False)
    return path


def bindings(daemon, aor=ALICE, wait=3.0):
    """Rows of `sipwarden-ctl reg list AOR`, polled past the write-back interval."""
    deadline = time.monotonic() + wait
    while True:
        out = daemon.ctl("reg", "list", aor).stdout
        rows = [l for l in out.splitlines() if "sip:" in l]
        if rows or time.monotonic() > deadline:
            return rows
        time.sleep(0.1)


def no_bindings(daemon, aor=ALICE, wait=3.0):
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        out = daemon.ctl("reg", "list", aor).stdout
        if not [l for l in out.splitlines() if "sip:" in l]:
            return True
        time.sleep(0.1)
    return False


def check(r, code, status_line=None):
    assert r.returncode == code, "exit %d (want %d)\nstdout: %s\nstderr: %s" % (
        r.returncode, code, r.stdout, r.stderr)
    if status_line:
        assert r.stdout.strip().splitlines()[-1] == status_line, r.stdout
    assert "Secr3t" not in r.stderr + r.stdout, "password printed"


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_register_and_unregister(daemon, transport):
    r = ua_on(daemon, "register", "--expires", "300", transport=transport)
    check(r, 0, "200 OK")
    rows = bindings(daemon)
    assert rows, "no binding after register"
    r = ua_on(daemon, "unregister", transport=transport)
    check(r, 0, "200 OK")
    assert no_bindings(daemon), "binding still there after unregister"


def test_wrong_password_exit_2_no_loop(daemon):
    r = ua_on(daemon, "register", "--trace", password="not-the-password")
    check(r, 2, "401 Unauthorized (credentials rejected)")
    # One challenge answered once, then give up: two REGISTERs on the wire.
    assert r.stderr.count("REGISTER sip:%s SIP/2.0" % DOMAIN) == 2, r.stderr


def test_password_file_and_ha1(daemon, tmp_path):
    pw = tmp_path / "pw"
    pw.write_text(ALICE_PW + "\n")
    check(ua_on(daemon, "register", "--password-file", pw, password=None), 0, "200 OK")
    a1 = ("alice:%s:%s" % (DOMAIN, ALICE_PW)).encode()
    check(ua_on(daemon, "register", "--ha1", hashlib.sha256(a1).hexdigest(), password=None), 0, "200 OK")


def test_md5_ha1(sipwarden):
    d = ua_daemon(sipwarden, algorithms="MD5")
    a1 = ("alice:%s:%s" % (DOMAIN, ALICE_PW)).encode()
    check(ua_on(d, "register", "--ha1", hashlib.md5(a1).hexdigest(), password=None), 0, "200 OK")
    check(ua_on(d, "register", "--ha1", hashlib.md5(b"x").hexdigest(), password=None), 2)


def test_realm_credentials(daemon):
    r = ua_on(daemon, "register", "--realm-credentials", "%s=alice:%s" % (DOMAIN, ALICE_PW),
              password=None)
    check(r, 0, "200 OK")
    r = ua_on(daemon, "register", "--realm-credentials", "other.realm=alice:%s" % ALICE_PW,
              password=None)
    check(r, 2)


def test_options_ok(daemon):
    check(ua_on(daemon, "options"), 0, "200 OK")
    check(ua_on(daemon, "options", transport="tcp"), 0, "200 OK")


@pytest.mark.parametrize("algorithms,qop,expect", [
    ("MD5", "auth", "algorithm=MD5,"),
    ("MD5-sess", "auth", "algorithm=MD5-sess,"),
    ("SHA-256", "auth", "algorithm=SHA-256,"),
    ("SHA-256-sess", "auth", "algorithm=SHA-256-sess,"),
    ("SHA-512-256", "auth", "algorithm=SHA-512-256,"),
    ("MD5, SHA-256, SHA-512-256", "auth", "algorithm=SHA-512-256,"),
    ("MD5", "auth-int", "qop=auth-int"),
    ("SHA-256", "auth, auth-int", "qop=auth,"),
])
def test_every_algorithm_and_qop(sipwarden, algorithms, qop, expect):
    """Built-in handling answers whatever the registrar offers, the strongest algorithm
    when several are offered, auth-int only when it is the only qop."""
    d = ua_daemon(sipwarden, algorithms=algorithms, qop=qop)
    r = ua_on(d, "register", "--trace")
    check(r, 0, "200 OK")
    auth = [l for l in r.stderr.splitlines() if l.startswith("Authorization: ")]
    assert len(auth) == 1, r.stderr
    assert expect in auth[0], auth[0]


def test_other_sip_failure_exit_4(daemon):
    r = ua_on(daemon, "message", "--to", "sip:nobody@%s" % DOMAIN, "--body", "hi")
    assert r.returncode == 4, r.stdout + r.stderr
    code = int(r.stdout.split()[0])
    assert code >= 300 and code not in (401, 403, 407), r.stdout


def test_timeout_against_silent_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    try:
        t0 = time.monotonic()
        r = ua("options", "--user", ALICE, "--server", "127.0.0.1:%d" % s.getsockname()[1],
               "--timeout", "1.5", "--t1", "0.1")
        check(r, 3)
        assert "timeout" in r.stdout
        assert time.monotonic() - t0 < 10
        # Retransmissions happened (Timer E) before the timeout (Timer F).
        n = 0
        s.settimeout(0.2)
        try:
            while True:
                s.recv(65535)
                n += 1
        except socket.timeout:
            pass
        assert n >= 3, "only %d transmissions" % n
    finally:
        s.close()


def test_transport_error_tcp_refused():
    port = free_port()
    r = ua("register", "--user", ALICE, "--password", "x", "--server", "127.0.0.1:%d" % port,
           "--transport", "tcp", "--timeout", "2")
    check(r, 3)


def test_usage_error():
    assert ua("register").returncode == 1
    assert ua("dance", "--user", ALICE, "--server", "127.0.0.1").returncode == 1


def test_stale_nonce_recovered(sipwarden):
    d = ua_daemon(sipwarden, args=["--nonce-lifetime", "1"])
    r = ua_on(d, "register", "--repeat", "2", "--interval", "2.5", "--trace")
    check(r, 0, "200 OK")
    # The second REGISTER reused the cached nonce pre-emptively, got stale=true
    # and was answered again without failing.
    assert "stale=true" in r.stderr, r.stderr
    assert r.stdout.count("200 OK") == 2


def test_nonce_reused_preemptively(daemon):
    r = ua_on(daemon, "register", "--repeat", "2", "--interval", "0", "--trace")
    check(r, 0, "200 OK")
    assert r.stderr.count("401 Unauthorized") == 1, r.stderr
    assert "nc=00000002" in r.stderr, r.stderr


def test_refresh_before_expiry(sipwarden):
    d = ua_daemon(sipwarden, args=["--min-expires", "2"])
    r = ua_on(d, "register", "--expires", "2", "--stay", "2.5", "--trace")
    check(r, 0, "200 OK")
    assert "refresh: 200 OK" in r.stderr, r.stderr


def test_no_auth_prints_challenge(daemon):
    r = ua_on(daemon, "register", "--no-auth")
    check(r, 2, "401 Unauthorized")
    assert 'header=WWW-Authenticate realm="%s" algorithm=MD5' % DOMAIN in r.stderr, r.stderr


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_app_handled_example(daemon, transport):
    r = subprocess.run([str(example("app_auth")), "127.0.0.1:%d" % daemon.port, ALICE, ALICE_PW,
                        transport], capture_output=True, text=True, timeout=RUN_TIMEOUT)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "security handling: application" in r.stdout
    assert "first attempt: 401" in r.stdout and "second attempt: 200 OK" in r.stdout, r.stdout
    assert bindings(daemon)
    r = subprocess.run([str(example("app_auth")), "127.0.0.1:%d" % daemon.port, ALICE, "bad",
                        transport], capture_output=True, text=True, timeout=RUN_TIMEOUT)
    assert r.returncode == 2, r.stdout + r.stderr


def test_register_example(daemon):
    r = subprocess.run([str(example("register")), "127.0.0.1:%d" % daemon.port, ALICE, ALICE_PW],
                       capture_output=True, text=True, timeout=RUN_TIMEOUT)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "registered: 200 OK" in r.stdout and "unregistered: 200 OK" in r.stdout


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_call_against_sipp_uas(tmp_path, transport):
    sipp = require_tool("sipp")
    port = free_port()
    t = "u1" if transport == "udp" else "t1"
    proc = subprocess.Popen([sipp, "-sn", "uas", "-i", "127.0.0.1", "-p", str(port), "-t", t,
                             "-m", "1", "-nostdin", "-timeout", "20s"], cwd=tmp_path,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        r = ua("call", "--user", ALICE, "--server", "127.0.0.1:%d" % port, "--transport", transport,
               "--to", "sip:service@127.0.0.1:%d" % port, "--timeout", "5", "--hold", "0.3",
               "--trace")
        check(r, 0, "200 OK")
        assert "ACK sip:" in r.stderr and "BYE sip:" in r.stderr, r.stderr
        assert "BYE: 200 OK" in r.stderr, r.stderr
        rc = proc.wait(10)
        # SIPp's uas scenario ends with a 4 s pause; over TCP it counts our closing
        # the connection during that pause as a failed call, so only UDP checks it.
        if transport == "udp":
            assert rc == 0, "sipp uas did not see a complete call"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
