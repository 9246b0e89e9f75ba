"""Which records of a DNS answer the proxy's resolver (src/proxy/dns.c,
dns_answer.c) believes, end to end: only records owned by the name asked or
the end of its CNAME chain (followed, the end asked in turn, bounded), SRV
records of the answer section only, and never a truncated (TC) answer over
UDP as if it were whole: the question is asked again over TCP to the same
server (RFC 1035 §4.2.2). A "rogue" phone stands where a wrongly believed
record points and must never see the call.

ScriptedDns answers from a function of the question, over UDP and over TCP
on the same loopback port."""

import socket
import struct
import threading
import time

import pytest

from sipclient import SipClient
from test_proxy import RawUas, final
from test_proxy_routing import TinyDns, authed_call, bound_socket, call_and_answer, dns_daemon

name_bytes = TinyDns.name_bytes


def rr(owner, qtype, rdata, ttl=60):
    return name_bytes(owner) + struct.pack("!HHIH", qtype, 1, ttl, len(rdata)) + rdata


def a(owner, ip, ttl=60):
    return rr(owner, 1, socket.inet_aton(ip), ttl)


def cname(owner, target):
    return rr(owner, 5, name_bytes(target))


def srv(owner, prio, weight, port, target):
    return rr(owner, 33, struct.pack("!HHH", prio, weight, port) + name_bytes(target))


class ScriptedDns:
    """A DNS server on 127.0.0.1, UDP and TCP on one port. script(name, qtype,
    tcp) returns None (no answer) or (flags, answers, additional) with flags
    added to QR|RD|RA (0x0200: TC, 3: NXDOMAIN). Counts questions per transport.
    With tcp=False the TCP port is held (bound) but refuses connections."""

    def __init__(self, script, tcp=True, udp_hook=None):
        self.script = script
        # udp_hook(dns, src, reply) -> the bytes sent instead of each UDP answer
        self.udp_hook = udp_hook
        self.queries, self.tcp_queries = [], []
        for _ in range(50):
            self.sock = bound_socket("127.0.0.1")
            self.port = self.sock.getsockname()[1]
            self.tsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                self.tsock.bind(("127.0.0.1", self.port))
                break
            except OSError:
                self.sock.close()
                self.tsock.close()
        else:
            raise RuntimeError("no port free for both UDP and TCP")
        self.sock.settimeout(0.2)
        self.tsock.settimeout(0.2)
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self.serve_udp, daemon=True)]
        if tcp:
            self.tsock.listen(4)
            self.threads.append(threading.Thread(target=self.serve_tcp, daemon=True))
        for t in self.threads:
            t.start()

    def answer(self, q, tcp):
        qid = struct.unpack("!H", q[:2])[0]
        o, labels = 12, []
        while o < len(q) and q[o] and len(labels) < 128:
            labels.append(q[o + 1:o + 1 + q[o]].decode().lower())
            o += 1 + q[o]
        qtype = struct.unpack("!H", q[o + 1:o + 3])[0]
        name = ".".join(labels)
        (self.tcp_queries if tcp else self.queries).append((name, qtype))
        got = self.script(name, qtype, tcp)
        if got is None:
            return None
        flags, answers, extra = got
        head = struct.pack("!HHHHHH", qid, 0x8180 | flags, 1, len(answers), 0, len(extra))
        return head + q[12:o + 5] + b"".join(answers) + b"".join(extra)

    def serve_udp(self):
        while not self.stopping.is_set():
            try:
                q, src = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            r = self.answer(q, False)
            if r and self.udp_hook:
                r = self.udp_hook(self, src, r)
            if r:
                self.sock.sendto(r, src)

    def recv_exact(self, conn, n):
        data = b""
        for _ in range(64):
            if len(data) >= n:
                break
            chunk = conn.recv(n - len(data))
            if not chunk:
                break
            data += chunk
        return data

    def serve_tcp(self):
        while not self.stopping.is_set():
            try:
                conn, _ = self.tsock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(2.0)
                try:
                    hdr = self.recv_exact(conn, 2)
                    if len(hdr) < 2:
                        continue
                    q = self.recv_exact(conn, struct.unpack("!H", hdr)[0])
                    r = self.answer(q, True)
                    if r:
                        conn.sendall(struct.pack("!H", len(r)) + r)
                except OSError:
                    continue

    def close(self):
        self.stopping.set()
        for t in self.threads:
            t.join(2)
        self.sock.close()
        self.tsock.close()


def expect_not_routed(sipwarden, tmp_path, dns, rogue, ruri, status):
    """A call to ruri must not reach rogue and must end with status."""
    d = dns_daemon(sipwarden, tmp_path, dns, workers=1)
    with SipClient("127.0.0.1", d.port) as c:
        authed_call(c, "alice", ruri)
        r = final(c, cseq="2", timeout=6)
        assert rogue.recv(timeout=0.5) is None, "call sent where a record not ours pointed"
        assert r is not None and r.status == status, r
    return d


def test_address_owned_by_another_name_is_not_used(sipwarden, tmp_path):
    """victim.example A: the answer holds only an A owned by another name (and
    the additional section one for victim.example): no address, 404."""
    rogue = RawUas()

    def script(name, qtype, tcp):
        if name == "victim.example":
            return 0, [a("rogue.example", "127.0.0.1")], [a("victim.example", "127.0.0.1")]
        return 3, [], []

    dns = ScriptedDns(script)
    try:
        expect_not_routed(sipwarden, tmp_path, dns, rogue, "sip:carol@victim.example:%d" % rogue.port, 404)
        assert dns.queries == [("victim.example", 1), ("victim.example", 28)], dns.queries
    finally:
        dns.close()
        rogue.close()


def test_srv_owned_by_another_name_is_not_used(sipwarden, tmp_path):
    """_sip._udp.victim.example SRV answered with a SRV of another owner: as if
    there were none, the domain's own A (NXDOMAIN here): 404."""
    rogue = RawUas()

    def script(name, qtype, tcp):
        if name == "_sip._udp.victim.example":
            return 0, [srv("_sip._udp.rogue.example", 0, 0, rogue.port, "rogue.example")], \
                [a("rogue.example", "127.0.0.1")]
        return 3, [], []

    dns = ScriptedDns(script)
    try:
        expect_not_routed(sipwarden, tmp_path, dns, rogue, "sip:carol@victim.example", 404)
        assert [q[0] for q in dns.queries] == ["_sip._udp.victim.example", "victim.example"], dns.queries
    finally:
        dns.close()
        rogue.close()


def test_cname_followed_and_its_target_asked(sipwarden, tmp_path):
    """alias.example A gets only "CNAME real.example": real.example's A is
    asked and the call goes there; within one answer, the chain's end's A."""
    phone = RawUas()

    def script(name, qtype, tcp):
        if name == "alias.example" and qtype == 1:
            return 0, [cname("alias.example", "real.example")], []
        if name == "real.example" and qtype == 1:
            return 0, [a("real.example", "127.0.0.1")], []
        if name == "one.example" and qtype == 1:
            return 0, [cname("one.example", "two.example"), a("two.example", "127.0.0.1")], []
        return 3, [], []

    dns = ScriptedDns(script)
    try:
        d = dns_daemon(sipwarden, tmp_path, dns, workers=1)
        with SipClient("127.0.0.1", d.port) as c:
            call_and_answer(c, phone, "sip:carol@alias.example:%d" % phone.port)
            assert dns.queries == [("alias.example", 1), ("real.example", 1)], dns.queries
            call_and_answer(c, phone, "sip:carol@one.example:%d" % phone.port)
            assert dns.queries[2:] == [("one.example", 1)], dns.queries
    finally:
        dns.close()
        phone.close()


def test_cname_loop_ends_in_503(sipwarden, tmp_path):
    """a -> b -> a, one CNAME an answer: the chain is asked a bounded number
    of times, then the call gets 503 (DNS failed), not a hang."""
    rogue = RawUas()

    def script(name, qtype, tcp):
        if name in ("a.loop.example", "b.loop.example"):
            return 0, [cname(name, "b.loop.example" if name[0] == "a" else "a.loop.example")], []
        return 3, [], []

    dns = ScriptedDns(script)
    try:
        expect_not_routed(sipwarden, tmp_path, dns, rogue, "sip:carol@a.loop.example:%d" % rogue.port, 503)
        assert 2 <= len(dns.queries) <= 10, dns.queries
    finally:
        dns.close()
        rogue.close()


def test_additional_section_srv_is_no_candidate(sipwarden, tmp_path):
    """The answer's one SRV (weight 0) points at the phone; a SRV of the same
    owner and priority with weight 65535 in the additional section points at
    the rogue. Counted, it would win nearly every pick: every call goes to the
    phone."""
    phone, rogue = RawUas(), RawUas()
    owner = "_sip._udp.far.example"

    def script(name, qtype, tcp):
        if name == owner:
            return 0, [srv(owner, 10, 0, phone.port, "sip1.far.example")], \
                [srv(owner, 10, 65535, rogue.port, "rogue.far.example"),
                 a("sip1.far.example", "127.0.0.1"), a("rogue.far.example", "127.0.0.1")]
        return 3, [], []

    dns = ScriptedDns(script)
    try:
        d = dns_daemon(sipwarden, tmp_path, dns, workers=1)
        with SipClient("127.0.0.1", d.port) as c:
            call_and_answer(c, phone, "sip:carol@far.example")
            assert rogue.recv(timeout=0.3) is None
            assert dns.queries == [(owner, 33)], dns.queries
    finally:
        dns.close()
        phone.close()
        rogue.close()


def test_srv_without_server_is_skipped(sipwarden, tmp_path):
    """At the best priority, a SRV record with port 0 (its target's address
    at hand, the rogue's) and one with target "." (RFC 2782: no service):
    neither names a server, the next priority's record gets the call."""
    phone, rogue = RawUas(), RawUas()
    owner = "_sip._udp.zero.example"

    def script(name, qtype, tcp):
        if name == owner:
            return 0, [srv(owner, 0, 100, 0, "rogue.zero.example"), srv(owner, 0, 100, rogue.port, "."),
                       srv(owner, 10, 0, phone.port, "sip1.zero.example")], \
                [a("rogue.zero.example", "127.0.0.1"), a("sip1.zero.example", "127.0.0.1")]
        return 3, [], []

    dns = ScriptedDns(script)
    try:
        d = dns_daemon(sipwarden, tmp_path, dns, workers=1)
        with SipClient("127.0.0.1", d.port) as c:
            call_and_answer(c, phone, "sip:carol@zero.example")
            assert rogue.recv(timeout=0.3) is None
            assert dns.queries == [(owner, 33)], dns.queries
    finally:
        dns.close()
        phone.close()
        rogue.close()


def test_only_srv_without_server_gets_404(sipwarden, tmp_path):
    """SRV records, all with port 0 or target ".": the domain has said where
    its SIP service is, and it is nowhere: 404, its A record not asked."""
    rogue = RawUas()
    owner = "_sip._udp.none.example"

    def script(name, qtype, tcp):
        if name == owner:
            return 0, [srv(owner, 0, 0, 0, "none.example"), srv(owner, 5, 0, rogue.port, ".")], []
        if name == "none.example":
            return 0, [a("none.example", "127.0.0.1")], []
        return 3, [], []

    dns = ScriptedDns(script)
    try:
        expect_not_routed(sipwarden, tmp_path, dns, rogue, "sip:carol@none.example", 404)
        assert dns.queries == [(owner, 33)], dns.queries
    finally:
        dns.close()
        rogue.close()


def test_host_too_long_for_srv_asked_for_its_address(sipwarden, tmp_path):
    """A host of 244 bytes: with "_sip._udp." the SRV name would pass the 253
    bytes a name may have, so no SRV is asked; as with no SRV records (RFC
    3263 §4.2), the host's A then AAAA are (none here: 404)."""
    rogue = RawUas()
    host = ".".join(["h" * 57] * 4) + ".long.example"
    assert len(host) == 244

    def script(name, qtype, tcp):
        return 0, [], []

    dns = ScriptedDns(script)
    try:
        expect_not_routed(sipwarden, tmp_path, dns, rogue, "sip:carol@" + host, 404)
        assert dns.queries == [(host, 1), (host, 28)], dns.queries
    finally:
        dns.close()
        rogue.close()


def test_truncated_udp_answer_asked_again_over_tcp(sipwarden, tmp_path):
    """The UDP answer has TC set (and what it holds points at the rogue): the
    same question goes to the same server over TCP, whose answer is used."""
    phone, rogue = RawUas(), RawUas()
    owner = "_sip._udp.big.example"

    def script(name, qtype, tcp):
        if name == owner and not tcp:
            return 0x0200, [srv(owner, 0, 0, rogue.port, "rogue.big.example")], [a("rogue.big.example", "127.0.0.1")]
        if name == owner:
            return 0, [srv(owner, 10, 5, phone.port, "sip1.big.example")], [a("sip1.big.example", "127.0.0.1")]
        return 3, [], []

    dns = ScriptedDns(script)
    try:
        d = dns_daemon(sipwarden, tmp_path, dns, workers=1)
        with SipClient("127.0.0.1", d.port) as c:
            call_and_answer(c, phone, "sip:carol@big.example")
            assert rogue.recv(timeout=0.3) is None
            assert dns.queries == [(owner, 33)], dns.queries
            assert dns.tcp_queries == [(owner, 33)], dns.tcp_queries
    finally:
        dns.close()
        phone.close()
        rogue.close()


def test_truncated_answer_cut_inside_its_records_asked_over_tcp(sipwarden, tmp_path):
    """The UDP answer has TC set and is cut at 512 bytes inside a record, its
    counts left as they were (more records than the data holds): it is still
    our answer (id, question), so the question goes over TCP, whose whole
    answer routes the call; nothing of the cut answer is used."""
    phone, rogue = RawUas(), RawUas()
    owner = "_sip._udp.cut.example"
    many = ["sip%d.cut.example" % i for i in range(12)]

    def script(name, qtype, tcp):
        if name == owner and not tcp:
            return 0x0200, [srv(owner, 0, 0, rogue.port, t) for t in many], [a(t, "127.0.0.1") for t in many]
        if name == owner:
            return 0, [srv(owner, 10, 5, phone.port, "sip1.cut.example")], [a("sip1.cut.example", "127.0.0.1")]
        return 3, [], []

    def cut(dns, src, reply):
        assert len(reply) > 600
        return reply[:512]

    dns = ScriptedDns(script, udp_hook=cut)
    try:
        d = dns_daemon(sipwarden, tmp_path, dns, workers=1)
        with SipClient("127.0.0.1", d.port) as c:
            call_and_answer(c, phone, "sip:carol@cut.example")
            assert rogue.recv(timeout=0.3) is None
            assert dns.queries == [(owner, 33)], dns.queries
            assert dns.tcp_queries == [(owner, 33)], dns.tcp_queries
    finally:
        dns.close()
        phone.close()
        rogue.close()


def test_truncated_answer_without_tcp_is_a_failure(sipwarden, tmp_path):
    """TC over UDP and the server refuses TCP: 503, the partial answer unused."""
    rogue = RawUas()

    def script(name, qtype, tcp):
        return 0x0200, [a(name, "127.0.0.1")], []

    dns = ScriptedDns(script, tcp=False)
    try:
        expect_not_routed(sipwarden, tmp_path, dns, rogue, "sip:carol@tc.example:%d" % rogue.port, 503)
        assert dns.queries == [("tc.example", 1)], dns.queries
    finally:
        dns.close()
        rogue.close()


def inet_sum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xffff) + (total >> 16)
    return ~total & 0xffff


def udp_with_bad_checksum(src_port, dst_port, payload):
    """An IPv4 UDP datagram 127.0.0.1 -> 127.0.0.1 whose UDP checksum is wrong
    (the IP header's is filled in by the kernel). Longer than 76 bytes, so
    the receiving kernel defers the check to the read."""
    length = 8 + len(payload)
    lo = socket.inet_aton("127.0.0.1")
    good = inet_sum(lo + lo + struct.pack("!BBHHHHH", 0, 17, length, src_port, dst_port, length, 0) + payload)
    udp = struct.pack("!HHHH", src_port, dst_port, length, (good or 0xffff) ^ 0x0101) + payload
    return struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0, lo, lo) + udp


def test_datagram_dropped_on_reading_does_not_stall_the_lookup(sipwarden, tmp_path):
    """Before the real answer, the resolver's socket gets a datagram from the
    server's address and port whose UDP checksum is wrong (its content would
    point at the rogue): readable for poll(), dropped by the kernel when read.
    The lookup goes on waiting within its deadline: the call is routed by
    the real answer, then the resolver takes the next lookup as usual."""
    try:
        raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    except PermissionError:
        pytest.skip("raw sockets need CAP_NET_RAW")
    phone, rogue = RawUas(), RawUas()
    owner = "_sip._udp.csum.example"

    def script(name, qtype, tcp):
        if name == owner:
            return 0, [srv(owner, 10, 0, phone.port, "sip1.csum.example")], [a("sip1.csum.example", "127.0.0.1")]
        if name == "next.example" and qtype == 1:
            return 0, [a("next.example", "127.0.0.1")], []
        return 3, [], []

    def corrupt_first(dns, src, reply):
        if len(dns.queries) != 1:
            return reply
        # the same answer, but with the rogue's port, as a datagram the kernel drops
        forged = reply.replace(struct.pack("!HHH", 10, 0, phone.port), struct.pack("!HHH", 10, 0, rogue.port))
        raw.sendto(udp_with_bad_checksum(dns.port, src[1], forged), ("127.0.0.1", 0))
        time.sleep(0.3)
        return reply

    dns = ScriptedDns(script, udp_hook=corrupt_first)
    try:
        d = dns_daemon(sipwarden, tmp_path, dns, workers=1)
        with SipClient("127.0.0.1", d.port) as c:
            call_and_answer(c, phone, "sip:carol@csum.example")
            assert rogue.recv(timeout=0.3) is None
            call_and_answer(c, phone, "sip:carol@next.example:%d" % phone.port)
            assert dns.queries == [(owner, 33), ("next.example", 1)], dns.queries
    finally:
        dns.close()
        raw.close()
        phone.close()
        rogue.close()
