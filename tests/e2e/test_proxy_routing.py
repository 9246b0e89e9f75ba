"""Proxy routing end to end: loops and spirals (RFC 3261 §16.3 item 4, §16.6
item 8), challenges merged across forked branches (§16.7 steps 6-7), and
foreign domains found through DNS SRV/A (RFC 3263) with a tiny DNS server.

The "other elements" here are raw UDP sockets on loopback: a next-hop proxy
that sends requests back to us, phones that answer 401, a DNS responder.
"""

import socket
import struct
import threading
import time

from conftest import DOMAIN, PASSWORDS
from sipclient import Message, SipClient, authorization_value, rand_token
from test_proxy import RawUas, final, register_contact


def conf(sipwarden, tmp_path, text, **kw):
    path = tmp_path / "routing.conf"
    path.write_text("[auth]\nalgorithms = MD5\nqop = auth\n" + text)
    return sipwarden(args=["--config", str(path)], **kw)


def authed_call(c, caller, ruri, call_id=None, cseq=2):
    """INVITE ruri as caller: 407, then the same with credentials (sent, not awaited)."""
    call_id = call_id or rand_token(8) + "@routing.test"

    def build(n, headers=()):
        return c.build("INVITE", ruri, ruri, from_uri="sip:%s@%s" % (caller, DOMAIN), call_id=call_id,
                       cseq=n, contacts=["<sip:%s@%s>" % (caller, c.local_hostport)], headers=headers)
    first = c.transact(build(cseq - 1), call_id=call_id)
    assert first is not None and first.status == 407, first
    ch = first.challenges("proxy-authenticate")
    auth = authorization_value(ch[-1], caller, PASSWORDS[(caller, DOMAIN)], "INVITE", ruri)
    c.send_raw(build(cseq, ["Proxy-Authorization: " + auth]))
    return call_id


def final_for(c, call_id, cseq="2", timeout=3.0):
    """The final response to INVITE CSeq cseq of call_id (others' retransmissions skipped)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = c.recv(deadline - time.monotonic())
        if m is None:
            return None
        if m.status and m.status >= 200 and m.get("call-id") == call_id and \
                (m.get("cseq") or "").split()[:1] == [cseq]:
            return m
    return None


def bound_socket(ip):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((ip, 0))
    return s


def recv_msg(sock, timeout=3.0, want=None):
    """Next SIP message on sock (want: a predicate), bounded by timeout."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        sock.settimeout(left)
        try:
            data, src = sock.recvfrom(65535)
        except socket.timeout:
            return None
        if not data.strip():
            continue
        m = Message(data, src)
        if want is None or want(m):
            return m


def proxied(req, via_host, via_port, ruri=None):
    """req as a proxy would send it on: our Via on top, Max-Forwards - 1,
    optionally another Request-URI; everything else unchanged."""
    text = req.raw.decode() if isinstance(req.raw, bytes) else req.raw
    head, _, body = text.partition("\r\n\r\n")
    lines = head.split("\r\n")
    start = lines[0].split(" ")
    if ruri:
        start[1] = ruri
    out = [" ".join(start), "Via: SIP/2.0/UDP %s:%d;branch=z9hG4bKrefl%s;rport" % (via_host, via_port, rand_token(6))]
    for ln in lines[1:]:
        if ln.lower().startswith("max-forwards:"):
            ln = "Max-Forwards: %d" % (int(ln.split(":")[1]) - 1)
        out.append(ln)
    return ("\r\n".join(out) + "\r\n\r\n" + body).encode()


# ---------------------------------------------------------------- loops and spirals

def test_request_sent_back_unchanged_is_a_loop(sipwarden, tmp_path):
    """The next hop for far.example hands the INVITE straight back: 482."""
    hop = bound_socket("127.0.0.1")
    try:
        hop_port = hop.getsockname()[1]
        d = conf(sipwarden, tmp_path, "[proxy]\noutbound = udp:127.0.0.1:%d\n" % hop_port)
        with SipClient("127.0.0.1", d.port) as c:
            call_id = authed_call(c, "alice", "sip:carol@far.example")
            inv = recv_msg(hop, want=lambda m: m.method == "INVITE")
            assert inv is not None, "INVITE not forwarded to the next hop"
            hop.sendto(proxied(inv, "127.0.0.1", hop_port), ("127.0.0.1", d.port))
            r = recv_msg(hop, want=lambda m: m.status and m.status >= 200)
            assert r is not None and r.status == 482, r
            # The answer is for the returned copy (the hop's Via on top).
            assert "z9hG4bKrefl" in r.get_all("via")[0]
            # The hop relays the 482 upstream: alice learns it.
            lines = r.raw.decode().split("\r\n")
            vias = [i for i, ln in enumerate(lines) if ln.lower().startswith("via:")]
            del lines[vias[0]]
            hop.sendto("\r\n".join(lines).encode(), ("127.0.0.1", d.port))
            got = final(c, cseq="2")
            assert got is not None and got.status == 482 and got.get("call-id") == call_id, got
    finally:
        hop.close()


def test_retargeted_request_spirals_through(sipwarden, tmp_path):
    """The next hop (a trusted forwarding service) sends the INVITE back with
    another Request-URI, a local user: it is a spiral and reaches bob."""
    hop = bound_socket("127.0.0.3")
    bob = RawUas()
    try:
        hop_port = hop.getsockname()[1]
        d = conf(sipwarden, tmp_path, "[proxy]\noutbound = udp:127.0.0.3:%d\ntrusted = 127.0.0.3/32 name=fwd\n"
                 % hop_port)
        register_contact(d, "bob", bob.port)
        with SipClient("127.0.0.1", d.port) as c:
            authed_call(c, "alice", "sip:carol@far.example")
            inv = recv_msg(hop, want=lambda m: m.method == "INVITE")
            assert inv is not None
            hop.sendto(proxied(inv, "127.0.0.3", hop_port, ruri="sip:bob@%s" % DOMAIN), ("127.0.0.1", d.port))
            got = bob.recv()
            assert got is not None and got.method == "INVITE", "spiral refused: %r" % (
                recv_msg(hop, timeout=0.5, want=lambda m: m.status and m.status >= 200),)
            assert len(got.get_all("via")) == 4  # us, the hop, us, alice
            bob.answer(got, 486, "Busy Here")
            r = recv_msg(hop, want=lambda m: m.status and m.status >= 200)
            assert r is not None and r.status == 486, r
    finally:
        hop.close()
        bob.close()


# ---------------------------------------------------------------- merged challenges

def answer_with(uas, req, code, reason, extra, tag):
    to = req.get("to") + ("" if "tag=" in req.get("to") else ";tag=" + tag)
    lines = ["SIP/2.0 %d %s" % (code, reason)]
    lines += ["Via: %s" % v for v in req.get_all("via")]
    lines += ["From: %s" % req.get("from"), "To: %s" % to, "Call-ID: %s" % req.get("call-id"),
              "CSeq: %s" % req.get("cseq")] + list(extra) + ["Content-Length: 0", "", ""]
    uas.sock.sendto("\r\n".join(lines).encode(), req.source)


def test_challenges_of_forked_branches_are_merged(sipwarden, tmp_path):
    """bob's two phones each answer 401 for their own realm: alice gets one
    401 carrying both WWW-Authenticate challenges (RFC 3261 §16.7 step 7)."""
    d = conf(sipwarden, tmp_path, "")
    phones = [RawUas(), RawUas()]
    try:
        with SipClient("127.0.0.1", d.port) as c:
            r = c.register("bob", DOMAIN, PASSWORDS[("bob", DOMAIN)],
                           contacts=["<sip:bob@127.0.0.1:%d>" % p.port for p in phones])
            assert r.status == 200
            authed_call(c, "alice", "sip:bob@%s" % DOMAIN)
            for n, p in enumerate(phones):
                inv = p.recv()
                assert inv is not None and inv.method == "INVITE"
                answer_with(p, inv, 401, "Unauthorized",
                            ['WWW-Authenticate: Digest realm="realm%d.test", nonce="n%d", algorithm=MD5' % (n, n)],
                            "ph%d" % n)
            got = final(c, cseq="2")
            assert got is not None and got.status == 401, got
            realms = sorted(ch.get("realm") for ch in got.challenges("www-authenticate"))
            assert realms == ["realm0.test", "realm1.test"], got.raw
            # Unmodified, and not repeated.
            text = got.raw.decode()
            assert text.count('nonce="n0"') == 1 and text.count('nonce="n1"') == 1
    finally:
        for p in phones:
            p.close()


def test_a_challenge_is_preferred_over_busy(sipwarden, tmp_path):
    """One phone busy (486), the other 407: the 407 is the one that goes up
    (§16.7 step 6 prefers what the caller can act on), with its challenge."""
    d = conf(sipwarden, tmp_path, "")
    phones = [RawUas(), RawUas()]
    try:
        with SipClient("127.0.0.1", d.port) as c:
            r = c.register("bob", DOMAIN, PASSWORDS[("bob", DOMAIN)],
                           contacts=["<sip:bob@127.0.0.1:%d>" % p.port for p in phones])
            assert r.status == 200
            authed_call(c, "alice", "sip:bob@%s" % DOMAIN)
            invs = [p.recv() for p in phones]
            assert all(i is not None for i in invs)
            answer_with(phones[0], invs[0], 486, "Busy Here", [], "ph0")
            time.sleep(0.2)
            answer_with(phones[1], invs[1], 407, "Proxy Authentication Required",
                        ['Proxy-Authenticate: Digest realm="gw.test", nonce="g1"'], "ph1")
            got = final(c, cseq="2")
            assert got is not None and got.status == 407, got
            assert [ch.get("realm") for ch in got.challenges("proxy-authenticate")] == ["gw.test"]
    finally:
        for p in phones:
            p.close()


# ---------------------------------------------------------------- DNS (RFC 3263)

class TinyDns:
    """A DNS server on loopback answering from a dict: {(name, qtype): (ttl, rdata-list)}
    with qtype 33 (SRV: (prio, weight, port, target)) or 1 (A: "IP"); names not in
    `exists` get NXDOMAIN; names in `silent` get no answer at all. Counts queries."""

    def __init__(self, records, exists=(), silent=(), additional=None):
        self.records, self.exists, self.silent = records, set(exists), set(silent)
        self.additional = additional or {}
        self.queries = []
        self.sock = bound_socket("127.0.0.1")
        self.port = self.sock.getsockname()[1]
        self.sock.settimeout(0.2)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    @staticmethod
    def name_bytes(name):
        return b"".join(bytes([len(p)]) + p.encode() for p in name.split(".") if p) + b"\0"

    def rr(self, name, qtype, ttl, data):
        if qtype == 33:
            prio, weight, port, target = data
            rdata = struct.pack("!HHH", prio, weight, port) + self.name_bytes(target)
        else:
            rdata = socket.inet_aton(data)
        return name + struct.pack("!HHIH", qtype, 1, ttl, len(rdata)) + rdata

    def answer(self, q):
        qid, _, qd = struct.unpack("!HHH", q[:6])
        o, labels = 12, []
        while q[o]:
            labels.append(q[o + 1:o + 1 + q[o]].decode().lower())
            o += 1 + q[o]
        qtype = struct.unpack("!H", q[o + 1:o + 3])[0]
        question = q[12:o + 5]
        name = ".".join(labels)
        self.queries.append((name, qtype))
        if name in self.silent:
            return None
        ttl, datas = self.records.get((name, qtype), (0, []))
        rcode = 0 if (name in self.exists or datas) else 3
        answers = [self.rr(b"\xc0\x0c", qtype, ttl, d) for d in datas]
        extra = []
        if qtype == 33:
            for d in datas:
                for a_ttl, ip in self.additional.get(d[3], []):
                    extra.append(self.rr(self.name_bytes(d[3]), 1, a_ttl, ip))
        head = struct.pack("!HHHHHH", qid, 0x8180 | rcode, 1, len(answers), 0, len(extra))
        return head + question + b"".join(answers) + b"".join(extra)

    def serve(self):
        while not self.stopping.is_set():
            try:
                q, src = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            r = self.answer(q)
            if r:
                self.sock.sendto(r, src)

    def close(self):
        self.stopping.set()
        self.thread.join(2)
        self.sock.close()


def dns_daemon(sipwarden, tmp_path, dns, workers=None):
    args_conf = "[proxy]\ndns_server = 127.0.0.1:%d\n" % dns.port
    path = tmp_path / "dns.conf"
    path.write_text("[auth]\nalgorithms = MD5\nqop = auth\n" + args_conf)
    args = ["--config", str(path)] + (["--workers", str(workers)] if workers else [])
    return sipwarden(args=args)


def call_and_answer(c, phone, ruri, code=486):
    call_id = authed_call(c, "alice", ruri)
    inv = phone.recv()
    while inv is not None and inv.method == "ACK":  # the previous call's hop-by-hop ACK
        inv = phone.recv()
    assert inv is not None and inv.method == "INVITE", "not forwarded to %s" % ruri
    assert inv.start_line.split()[1] == ruri
    phone.answer(inv, code, "Busy Here")
    r = final_for(c, call_id)
    assert r is not None and r.status == code, r
    return inv


def test_foreign_domain_found_by_srv_and_cached(sipwarden, tmp_path):
    """_sip._udp.far.example SRV -> sip1.far.example (address in the additional
    section): carol's server gets the INVITE; the second call uses the cache."""
    phone = RawUas()
    dns = TinyDns({("_sip._udp.far.example", 33): (60, [(10, 5, phone.port, "sip1.far.example"),
                                                        (20, 5, 9, "backup.far.example")])},
                  additional={"sip1.far.example": [(60, "127.0.0.1")]})
    try:
        d = dns_daemon(sipwarden, tmp_path, dns, workers=1)
        with SipClient("127.0.0.1", d.port) as c:
            call_and_answer(c, phone, "sip:carol@far.example")
            assert dns.queries == [("_sip._udp.far.example", 33)], dns.queries
            call_and_answer(c, phone, "sip:carol@far.example")
            assert len(dns.queries) == 1, "TTL 60 answer not cached: %r" % dns.queries
    finally:
        dns.close()
        phone.close()


def test_srv_target_resolved_and_short_ttl_respected(sipwarden, tmp_path):
    """No address in the additional section: the target's A is asked; with
    TTL 1 the next call a second later asks again."""
    phone = RawUas()
    dns = TinyDns({("_sip._udp.short.example", 33): (1, [(0, 0, phone.port, "host.short.example")]),
                   ("host.short.example", 1): (1, ["127.0.0.1"])})
    try:
        d = dns_daemon(sipwarden, tmp_path, dns, workers=1)
        with SipClient("127.0.0.1", d.port) as c:
            call_and_answer(c, phone, "sip:carol@short.example")
            assert dns.queries == [("_sip._udp.short.example", 33), ("host.short.example", 1)], dns.queries
            time.sleep(1.3)
            call_and_answer(c, phone, "sip:carol@short.example")
            assert len(dns.queries) == 4, dns.queries
    finally:
        dns.close()
        phone.close()


def test_explicit_port_means_address_lookup_only(sipwarden, tmp_path):
    """sip:carol@plain.example:PORT: no SRV (RFC 3263 §4.2), the A record."""
    phone = RawUas()
    dns = TinyDns({("plain.example", 1): (60, ["127.0.0.1"])})
    try:
        d = dns_daemon(sipwarden, tmp_path, dns)
        with SipClient("127.0.0.1", d.port) as c:
            call_and_answer(c, phone, "sip:carol@plain.example:%d" % phone.port)
            assert dns.queries == [("plain.example", 1)], dns.queries
    finally:
        dns.close()
        phone.close()


def test_unknown_domain_gets_404(sipwarden, tmp_path):
    dns = TinyDns({})
    try:
        d = dns_daemon(sipwarden, tmp_path, dns)
        with SipClient("127.0.0.1", d.port) as c:
            authed_call(c, "alice", "sip:carol@nowhere.example")
            r = final(c, cseq="2", timeout=5)
            assert r is not None and r.status == 404, r
            # SRV said NXDOMAIN, then the A lookup said so too.
            assert [q[0] for q in dns.queries] == ["_sip._udp.nowhere.example", "nowhere.example"], dns.queries
    finally:
        dns.close()


def test_dead_dns_gets_503_without_stalling_the_worker(sipwarden, tmp_path):
    """DNS never answers: the call gets 503 + Retry-After after the lookup
    timeout, and meanwhile the same (single) worker keeps serving others."""
    dns = TinyDns({}, silent={"_sip._udp.silent.example"})
    try:
        d = dns_daemon(sipwarden, tmp_path, dns, workers=1)
        with SipClient("127.0.0.1", d.port) as c, SipClient("127.0.0.1", d.port) as other:
            t0 = time.monotonic()
            authed_call(c, "alice", "sip:carol@silent.example")
            time.sleep(0.3)
            r = other.options(timeout=1.0)
            assert r is not None and r.status == 200 and time.monotonic() - t0 < 2.0, \
                "worker blocked by the DNS lookup"
            r = final(c, cseq="2", timeout=8)
            assert r is not None and r.status == 503 and r.get("retry-after"), r
            # two tries of SW_DNS_TRY_MS for the SRV query, within SW_DNS_LOOKUP_TIMEOUT_MS
            assert 1.8 < time.monotonic() - t0 < 8
    finally:
        dns.close()


def test_cancel_while_dns_lookup_runs(sipwarden, tmp_path):
    """CANCEL during the lookup: 200 for the CANCEL, 487 for the INVITE at
    once; the daemon then stops cleanly with the lookup still out."""
    dns = TinyDns({}, silent={"_sip._udp.silent.example"})
    try:
        d = dns_daemon(sipwarden, tmp_path, dns, workers=1)
        with SipClient("127.0.0.1", d.port) as c:
            ruri = "sip:carol@silent.example"
            call_id = rand_token(8) + "@routing.test"
            first = c.transact(c.build("INVITE", ruri, ruri, from_uri="sip:alice@%s" % DOMAIN, call_id=call_id,
                                       cseq=1), call_id=call_id)
            assert first is not None and first.status == 407
            auth = authorization_value(first.challenges("proxy-authenticate")[-1], "alice",
                                       PASSWORDS[("alice", DOMAIN)], "INVITE", ruri)
            via = c.via()
            inv = c.build("INVITE", ruri, ruri, from_uri="sip:alice@%s" % DOMAIN, call_id=call_id, cseq=2,
                          headers=["Proxy-Authorization: " + auth], via=via)
            c.send_raw(inv)
            time.sleep(0.3)
            frm = [ln for ln in inv.decode().split("\r\n") if ln.startswith("From:")][0]
            cancel = "\r\n".join(["CANCEL %s SIP/2.0" % ruri, "Via: " + via, "Max-Forwards: 70", frm,
                                  "To: <%s>" % ruri, "Call-ID: " + call_id, "CSeq: 2 CANCEL",
                                  "Content-Length: 0", "", ""]).encode()
            c.send_raw(cancel)
            got = {}
            deadline = time.monotonic() + 1.5
            while time.monotonic() < deadline and len(got) < 2:
                m = c.recv(deadline - time.monotonic())
                if m is not None and m.status and m.status >= 200 and m.get("call-id") == call_id:
                    got[m.get("cseq")] = m.status
            assert got == {"2 CANCEL": 200, "2 INVITE": 487}, got
        d.stop()
        assert not d.sanitizer_report()
    finally:
        dns.close()
