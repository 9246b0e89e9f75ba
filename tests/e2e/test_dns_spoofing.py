"""Forged DNS answers are not believed (RFC 5452 §9.1): the resolver of the
proxy (src/proxy/dns.c) must take an answer only from the server it asked,
on the address and port it asked, and only when the answer's question
section is the question it sent. Each test here forges one of these with the
right query ID (an off-path attacker guesses it; a test server knows it) and
points the name at a "rogue" phone, which must never see the call. The
records an accepted answer holds are checked too: test_dns_answers.py."""

import socket

import pytest

from sipclient import SipClient
from test_proxy import RawUas
from test_proxy_routing import TinyDns, authed_call, bound_socket, dns_daemon, final


class ForgingDns(TinyDns):
    """TinyDns that answers every A query for `name` with `ip`, either from
    another socket (spoof_source) or with another question (wrong_question)."""

    def __init__(self, name, ip, spoof_source=False, wrong_question=False):
        super().__init__({(name, 1): (60, [ip])})
        self.spoof_source, self.wrong_question = spoof_source, wrong_question
        self.other = bound_socket("127.0.0.1")

    def answer(self, q):
        r = super().answer(q)
        if r and self.wrong_question:
            # same id and records, but the question names another domain
            o = 12
            while r[o]:
                o += 1 + r[o]
            r = r[:12] + self.name_bytes("elsewhere.example") + r[o + 1:]
        return r

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
                (self.other if self.spoof_source else self.sock).sendto(r, src)

    def close(self):
        super().close()
        self.other.close()


def run_forged(sipwarden, tmp_path, **forge):
    rogue = RawUas()
    dns = ForgingDns("victim.example", "127.0.0.1", **forge)
    try:
        d = dns_daemon(sipwarden, tmp_path, dns, workers=1)
        with SipClient("127.0.0.1", d.port) as c:
            authed_call(c, "alice", "sip:carol@victim.example:%d" % rogue.port)
            inv = rogue.recv(timeout=4.0)
            assert inv is None, "call sent where a forged DNS answer pointed: %r" % inv
            r = final(c, cseq="2", timeout=6)
            assert r is not None and r.status == 503, r
    finally:
        dns.close()
        rogue.close()


def test_answer_from_another_port_is_ignored(sipwarden, tmp_path):
    run_forged(sipwarden, tmp_path, spoof_source=True)


def test_answer_to_another_question_is_ignored(sipwarden, tmp_path):
    run_forged(sipwarden, tmp_path, wrong_question=True)
