"""UDP requests served by the worker their Call-ID names ([server]
udp_spread_by_call_id, on by default).

One sender address:port (an SBC, a trunk, SIPp) reaches every worker: the
kernel program places each request by its Call-ID (transport/steer.c), and a
request it could not place (compact "i:" form) is handed by the worker that
got it to the one its Call-ID names, so a CANCEL in compact form still meets
its INVITE. With the option off, one sender stays on one worker.
"""

import time

from conftest import DOMAIN, PASSWORDS
from sipclient import rand_token
from test_proxy import RawUas, authed_invite, final, register_contact


def start(sipwarden, tmp_path, workers, spread=None):
    conf = tmp_path / "spread.conf"
    text = "[server]\nworkers = %d\n" % workers
    if spread is not None:
        text += "udp_spread_by_call_id = %s\n" % spread
    text += "[auth]\nalgorithms = MD5\nqop = auth\n"
    conf.write_text(text)
    return sipwarden(args=["--config", str(conf)])


def status(daemon, key):
    r = daemon.ctl("status")
    assert r.returncode == 0, r.stderr
    line = [l for l in r.stdout.splitlines() if l.startswith(key + "=")]
    assert line, r.stdout
    return line[0].split("=", 1)[1]


def per_worker(daemon):
    return [int(x) for x in status(daemon, "udp_datagrams_per_worker").split(",")]


def handed_over(daemon):
    return int(status(daemon, "requests_handed_over"))


def options_bytes(c, compact=False):
    ruri = "sip:%s" % c.hostport
    data = c.build("OPTIONS", ruri, ruri, call_id=rand_token(12) + "@spread.test")
    return data.replace(b"\r\nCall-ID: ", b"\r\ni: ") if compact else data


def send_options(daemon, n, compact=False):
    """n OPTIONS from one socket, each with its own Call-ID; all answered."""
    with daemon.client() as c:
        for _ in range(n):
            r = c.transact(options_bytes(c, compact))
            assert r is not None and r.status == 200, r


def test_one_sender_reaches_every_worker(sipwarden, tmp_path):
    daemon = start(sipwarden, tmp_path, 2)
    before = per_worker(daemon)
    send_options(daemon, 40)
    got = [a - b for a, b in zip(per_worker(daemon), before)]
    assert sum(got) >= 40, got
    # Each Call-ID picks a worker with chance 1/2: fewer than 5 of 40 on
    # either one would be a one in ten million event.
    assert min(got) >= 5, got
    # The kernel found every Call-ID: nothing was handed between workers.
    assert handed_over(daemon) == 0


def test_one_sender_stays_on_one_worker_when_spreading_is_off(sipwarden, tmp_path):
    daemon = start(sipwarden, tmp_path, 2, spread="no")
    before = per_worker(daemon)
    send_options(daemon, 40)
    got = [a - b for a, b in zip(per_worker(daemon), before)]
    assert sorted(got)[0] == 0 and sum(got) >= 40, got
    assert handed_over(daemon) == 0


def test_compact_call_id_is_handed_to_its_worker(sipwarden, tmp_path):
    """The kernel program does not read the compact form: such requests
    arrive by address, and the worker that gets one hands it over when its
    Call-ID names another worker. Every request is still answered."""
    daemon = start(sipwarden, tmp_path, 4)
    send_options(daemon, 24, compact=True)
    # With four workers each request is handed over with chance 3/4.
    assert handed_over(daemon) > 0


def cancel_bytes(invite, compact=True):
    """A CANCEL for the INVITE whose bytes are given (same Via, From, To,
    Call-ID, CSeq number), the Call-ID header in compact form."""
    head = invite.split(b"\r\n\r\n", 1)[0].decode()
    lines = head.split("\r\n")
    out = [lines[0].replace("INVITE", "CANCEL", 1)]
    for ln in lines[1:]:
        name = ln.split(":", 1)[0].strip().lower()
        if name in ("via", "max-forwards", "from", "to"):
            out.append(ln)
        elif name == "call-id":
            out.append(("i: " if compact else "Call-ID: ") + ln.split(":", 1)[1].strip())
        elif name == "cseq":
            out.append("CSeq: %s CANCEL" % ln.split(":", 1)[1].split()[0])
    out += ["Content-Length: 0", "", ""]
    return "\r\n".join(out).encode()


def test_cancel_in_compact_form_meets_its_invite(sipwarden, tmp_path):
    """alice's INVITE (Call-ID: ...) is placed by the kernel on the worker
    its Call-ID names; her CANCEL (i: ...) arrives by address. The CANCEL
    must still find the INVITE's transaction: 200 for the CANCEL, bob gets
    it, alice gets 487. A new source port each round; rounds go on until a
    CANCEL was handed over (each round: chance 3/4 with four workers)."""
    daemon = start(sipwarden, tmp_path, 4)
    bob = RawUas()
    try:
        register_contact(daemon, "bob", bob.port)
        for round_ in range(12):
            with daemon.client() as c:
                _, invite = authed_invite(c, "alice", "bob")
                inv = bob.recv()
                assert inv is not None and inv.method == "INVITE", round_
                bob.answer(inv, 180, "Ringing")
                ringing = c.recv(3.0)
                while ringing is not None and ringing.status == 100:
                    ringing = c.recv(3.0)
                assert ringing is not None and ringing.status == 180, ringing
                r = c.transact(cancel_bytes(invite), cseq=2)
                assert r is not None and r.status == 200 and "CANCEL" in r.get("cseq"), (round_, r)
                cancel = bob.recv()
                assert cancel is not None and cancel.method == "CANCEL", (round_, cancel)
                bob.answer(cancel, 200, "OK")
                bob.answer(inv, 487, "Request Terminated")
                r = final(c)
                assert r is not None and r.status == 487, (round_, r)
                ack = bob.recv(1.0)  # the proxy acknowledges the 487 hop by hop
                assert ack is not None and ack.method == "ACK", (round_, ack)
            if handed_over(daemon) > 0:
                break
        assert handed_over(daemon) > 0
    finally:
        bob.close()
