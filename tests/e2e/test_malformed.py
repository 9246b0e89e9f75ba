"""Malformed input: each message gets 400 (with a reason) or no answer at all, and the
daemon keeps serving: a full REGISTER still succeeds right after."""

import random

import pytest

from conftest import DOMAIN, PASSWORDS
from sipclient import bindings

ALICE_PW = PASSWORDS[("alice", DOMAIN)]
SW_MAX_HEADERS = 128  # src/base/limits.h


def register_bytes(c, headers=None, drop=(), body=b"", content_length=None, extra=(), call_id=None):
    """A REGISTER for alice from client c, with header lines removed/replaced as asked."""
    lines = [
        "REGISTER sip:%s SIP/2.0" % DOMAIN,
        "Via: %s" % c.via(),
        "Max-Forwards: 70",
        "From: <sip:alice@%s>;tag=mal1" % DOMAIN,
        "To: <sip:alice@%s>" % DOMAIN,
        "Call-ID: %s" % (call_id or "malformed-%d@test" % random.randrange(1 << 30)),
        "CSeq: 1 REGISTER",
        "Contact: <%s>" % c.contact_uri("alice"),
    ]
    lines = [ln for ln in lines if ln.split(":", 1)[0] not in drop]
    if headers:
        for name, value in headers.items():
            lines = [("%s: %s" % (name, value)) if ln.split(":", 1)[0] == name else ln for ln in lines]
    lines += list(extra)
    cl = len(body) if content_length is None else content_length
    lines.append("Content-Length: %s" % cl)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def case_garbage(c):
    rnd = random.Random(4475)
    return bytes(rnd.randrange(256) for _ in range(300))


def case_garbage_text(c):
    return b"HELLO THERE\r\n\r\n"


def case_missing_call_id(c):
    return register_bytes(c, drop=("Call-ID",))


def case_missing_via(c):
    return register_bytes(c, drop=("Via",))


def case_bad_cseq_number(c):
    return register_bytes(c, headers={"CSeq": "abc REGISTER"})


def case_cseq_method_mismatch(c):
    return register_bytes(c, headers={"CSeq": "1 INVITE"})


def case_cseq_overflow(c):
    return register_bytes(c, headers={"CSeq": "99999999999999999999 REGISTER"})


def case_content_length_too_big(c):
    return register_bytes(c, body=b"v=0\r\n", content_length=500)


def case_content_length_negative(c):
    return register_bytes(c, content_length=-5)


def case_too_many_headers(c):
    extra = ["X-Pad-%d: %d" % (i, i) for i in range(SW_MAX_HEADERS + 72)]
    return register_bytes(c, extra=extra)


def case_oversize_header(c):
    # one header line far past SW_MAX_HEADER_LEN, datagram ~65000 bytes
    return register_bytes(c, extra=["X-Huge: " + "a" * 64600])


def case_nul_in_header(c):
    return register_bytes(c, extra=["X-Nul: abc\x00def\x00"]).replace(
        b"From: <sip:alice", b"From: <sip:al\x00ice")


def case_truncated_start_line(c):
    return b"REGISTER sip:" + DOMAIN.encode() + b"\r\n\r\n"


def case_no_header_end(c):
    return register_bytes(c).rstrip(b"\r\n")


def case_bad_via(c):
    return register_bytes(c, headers={"Via": "SIP/2.0/UDP ;;;branch="})


CASES = [case_garbage, case_garbage_text, case_missing_call_id, case_missing_via,
         case_bad_cseq_number, case_cseq_method_mismatch, case_cseq_overflow,
         case_content_length_too_big, case_content_length_negative, case_too_many_headers,
         case_oversize_header, case_nul_in_header,
         case_truncated_start_line, case_no_header_end, case_bad_via]


def assert_400_or_nothing(c, data, wait=1.0):
    c.send_raw(data)
    r = c.recv(wait)
    if r is None:
        return None
    assert r.status == 400, "malformed message answered %r" % r.start_line
    assert r.reason.strip(), "400 without a reason phrase"
    return r


@pytest.mark.parametrize("case", CASES, ids=[f.__name__[5:] for f in CASES])
def test_malformed_udp(daemon, case):
    """Each malformed datagram -> 400 or silence; then a full REGISTER still gets 200."""
    with daemon.client() as c:
        data = case(c)
        assert len(data) <= 65507
        assert_400_or_nothing(c, data)
    assert daemon.running(), "daemon died on %s" % case.__name__
    with daemon.client() as c:
        r = c.register("alice", DOMAIN, ALICE_PW)
        assert r is not None and r.status == 200, r and r.start_line
        assert c.contact_uri("alice") in bindings(r)


def test_max_size_datagram(daemon):
    """A 65507-byte datagram (largest IPv4 UDP payload, consistent Content-Length) is
    answered 400/401/413/513 or dropped, and the daemon keeps serving."""
    with daemon.client() as c:
        extra = ["Content-Type: text/plain"]
        head = register_bytes(c, body=b"", content_length=10000, extra=extra, call_id="max@test")
        body = b"x" * (65507 - len(head))
        data = register_bytes(c, body=body, extra=extra, call_id="max@test")
        assert len(data) == 65507
        c.send_raw(data)
        r = c.recv(1.0)
        assert r is None or r.status in (400, 401, 413, 513), r.start_line
    with daemon.client() as c:
        r = c.register("alice", DOMAIN, ALICE_PW)
        assert r is not None and r.status == 200, r and r.start_line


def test_tcp_message_over_size_limit(daemon):
    """Over TCP, a Content-Length past SW_MAX_MSG_SIZE is refused (400/413/513) or the
    connection closed, without waiting for the whole body."""
    with daemon.client("tcp") as c:
        try:
            c.send_raw(register_bytes(c, content_length=1000000, extra=["Content-Type: text/plain"]))
            c.send_raw(b"x" * 70000)
            r = c.recv(3.0)
        except ConnectionError:  # reset, broken pipe or closed: refused
            r = None
            closed = True
        else:
            closed = r is None and c.tcp_closed(0.5)
        assert closed or (r is not None and r.status in (400, 413, 513)), \
            "oversize TCP message neither refused nor connection closed: %r" % (r and r.start_line)
    with daemon.client("tcp") as c:
        r = c.register("alice", DOMAIN, ALICE_PW)
        assert r is not None and r.status == 200, r and r.start_line


def test_malformed_stream_does_not_stop_tcp(daemon):
    """Garbage on a TCP connection -> 400 or the connection closed; new TCP clients still register."""
    with daemon.client("tcp") as c:
        c.send_raw(b"\x16\x03\x01\x02\x00" + bytes(range(256)) + b"\r\n\r\n")
        try:
            r = c.recv(1.0)
        except ConnectionError:
            r = None
        if r is not None:
            assert r.status == 400, r.start_line
    with daemon.client("tcp") as c:
        r = c.register("alice", DOMAIN, ALICE_PW)
        assert r is not None and r.status == 200, r and r.start_line


def test_many_malformed_in_a_row(daemon):
    """A burst of every malformed case, three times over, leaves the daemon serving."""
    with daemon.client() as c:
        for _ in range(3):
            for case in CASES:
                c.send_raw(case(c))
        # drain whatever came back; only 400s are allowed
        while True:
            r = c.recv(0.5)
            if r is None:
                break
            assert r.status == 400, r.start_line
    with daemon.client() as c:
        assert c.options().status == 200
        r = c.register("alice", DOMAIN, ALICE_PW)
        assert r is not None and r.status == 200
