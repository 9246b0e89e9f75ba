"""RFC 4475 torture messages, byte-exact over UDP, judged against the manifest.

Messages come from $SW_RFC4475_DIR (default <repo>/../shared/rfc4475/messages), with
manifest.json one level up. Each outcome must be in the message's accept list:
  drop     no response within the wait window
  NNN      that final status code
  not-400  any response other than 400, or none
  any      anything
and after every message the daemon must still answer a liveness OPTIONS with 200.

Replies go where the message's top Via says (RFC 3261 §18.2.2): to the source port
when it carries rport, else to received=127.0.0.1 and the sent-by port (5060 when
absent). Catch sockets listen on 127.0.0.1 at those Via ports (UDP and TCP) when
they are free; a message whose expected reply could only land on a port we could
not bind is skipped rather than judged.
"""

import hashlib
import json
import os
import re
import select
import socket
import time
from pathlib import Path

import pytest

from conftest import REPO, Daemon, DOMAIN, DEFAULT_USERS
from sipclient import Message

MSG_DIR = Path(os.environ.get("SW_RFC4475_DIR", REPO.parent / "shared" / "rfc4475" / "messages"))
MANIFEST = MSG_DIR.parent / "manifest.json"
WAIT = 0.6


def load_manifest():
    if not MANIFEST.exists():
        return []
    return json.loads(MANIFEST.read_text())["messages"]


MESSAGES = load_manifest()


def top_via_port(data):
    """(port the reply should reach when no rport, has_rport) from the top Via."""
    text = data.decode("latin-1")
    head = re.split(r"\r?\n\r?\n", text, maxsplit=1)[0]
    # unfold continuation lines
    head = re.sub(r"\r?\n[ \t]+", " ", head)
    for line in head.splitlines()[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() in ("via", "v"):
            first = value.split(",")[0]
            m = re.match(r"\s*SIP\s*/\s*[\d.]+\s*/\s*\w+\s+([^;\s]+(?:\s*:\s*\d+)?)", first, re.I)
            rport = re.search(r";\s*rport\b", first, re.I) is not None
            port = 5060
            if m:
                hp = m.group(1).replace(" ", "")
                pm = re.search(r":(\d+)$", hp) if not hp.startswith("[") or "]:" in hp else None
                if pm:
                    port = int(pm.group(1))
            return port, rport
    return 5060, False


def call_id_of(data):
    m = re.search(rb"(?im)^(?:call-id|i)[ \t]*:[ \t]*(\S[^\r\n]*?)[ \t]*\r?$", data)
    return m.group(1).decode("latin-1") if m else None


class Catcher:
    """UDP and TCP listeners on 127.0.0.1:port, when the port is free."""

    def __init__(self, port):
        self.port = port
        self.udp = self.tcp = None
        self.conns = []
        try:
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            u.bind(("127.0.0.1", port))
            self.udp = u
            t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            t.bind(("127.0.0.1", port))
            t.listen(8)
            t.setblocking(False)
            self.tcp = t
        except OSError:
            pass

    @property
    def ok(self):
        return self.udp is not None

    def sockets(self):
        return [s for s in [self.udp, self.tcp] + self.conns if s is not None]

    def close(self):
        for s in self.sockets():
            s.close()


def collect(sender, catchers, call_id, wait=WAIT):
    """Responses seen within wait on the sender and catch sockets; stops at the first final
    response for call_id. Returns the list of parsed responses for call_id."""
    deadline = time.monotonic() + wait
    tcp_bufs = {}
    seen = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return seen
        socks = [sender] + [s for c in catchers for s in c.sockets()]
        ready, _, _ = select.select(socks, [], [], left)
        for s in ready:
            datagrams = []
            listening = [c for c in catchers if c.tcp is s]
            if listening:
                try:
                    conn, _ = s.accept()
                    listening[0].conns.append(conn)
                except OSError:
                    pass
                continue
            if s.type == socket.SOCK_DGRAM:
                datagrams.append(s.recv(70000))
            else:
                chunk = s.recv(65536)
                if not chunk:
                    for c in catchers:
                        if s in c.conns:
                            c.conns.remove(s)
                    s.close()
                    continue
                buf = tcp_bufs.get(s, b"") + chunk
                parts = buf.split(b"\r\n\r\n")
                tcp_bufs[s] = parts[-1]
                datagrams += [p + b"\r\n\r\n" for p in parts[:-1]]  # no bodies expected
            for d in datagrams:
                if not d.startswith(b"SIP/2.0 "):
                    continue
                m = Message(d)
                if call_id is not None and m.get("call-id") != call_id:
                    continue
                seen.append(m)
                if m.status >= 200:
                    return seen


def judge(outcome, accept):
    for token in accept:
        if token == "any":
            return True
        if token == "drop" and outcome == "drop":
            return True
        if token == "not-400" and outcome != 400:
            return True
        if token.isdigit() and outcome == int(token):
            return True
    return False


@pytest.fixture(scope="module")
def torture_daemon(tmp_path_factory):
    d = Daemon(tmp_path_factory.mktemp("rfc4475"), users=DEFAULT_USERS, domains=(DOMAIN,))
    d.start()
    yield d
    d.teardown()


@pytest.fixture(scope="module")
def catchers():
    cs = [Catcher(p) for p in (5060, 5050)]
    yield {c.port: c for c in cs}
    for c in cs:
        c.close()


def test_manifest_present():
    """The torture archive is where the suite expects it (skips the suite otherwise)."""
    if not MANIFEST.exists():
        pytest.skip("RFC 4475 messages not found at %s" % MSG_DIR)
    assert len(MESSAGES) == 49


@pytest.mark.parametrize("entry", MESSAGES, ids=[m["name"] for m in MESSAGES])
def test_torture_message(torture_daemon, catchers, entry):
    """The daemon's answer to this RFC 4475 message is one the manifest accepts, and it
    still answers OPTIONS with 200 afterwards."""
    path = MSG_DIR.parent / entry["file"]
    data = path.read_bytes()
    assert hashlib.sha256(data).hexdigest() == entry["sha256"], "%s bytes altered" % path
    assert len(data) == entry["bytes"]

    port, rport = top_via_port(data)
    reachable = rport or (port in catchers and catchers[port].ok)
    active = [c for c in catchers.values() if c.ok]
    for c in active:  # drain anything left over from the previous message
        while c.udp is not None and select.select([c.udp], [], [], 0)[0]:
            c.udp.recv(70000)

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        s.sendto(data, ("127.0.0.1", torture_daemon.port))
        seen = collect(s, active, call_id_of(data))
    finals = [m for m in seen if m.status >= 200]
    outcome = finals[0].status if finals else "drop"

    assert torture_daemon.running(), "daemon died on %s" % entry["name"]
    with torture_daemon.client(timeout=2.0) as c:
        r = c.options()
        assert r is not None and r.status == 200, "no liveness after %s" % entry["name"]

    if judge(outcome, entry["accept"]):
        return
    if outcome == "drop" and entry["message"] == "request" and not reachable:
        pytest.skip("reply would go to 127.0.0.1:%d, which could not be bound here" % port)
    pytest.fail("%s (%s, %s): outcome %s not in accepted %s\n%s" % (
        entry["name"], entry["section"], entry["title"], outcome, entry["accept"],
        finals[0].raw.decode("utf-8", "replace") if finals else ""))
