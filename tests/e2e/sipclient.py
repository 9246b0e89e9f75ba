"""A small raw-socket SIP client for the end-to-end tests.

It builds requests byte by byte (so tests can also send broken ones), reads
responses over UDP or TCP with bounded timeouts, parses status line, headers
(compact forms folded to their long names, repeated headers kept) and Contact
lists, and answers HTTP Digest challenges (RFC 2617 / RFC 7616 / RFC 8760: MD5,
SHA-256, SHA-512-256 and -sess, qop auth and auth-int with nc/cnonce,
userhash, and the RFC 2069 form without qop). Standard library only.
"""

import hashlib
import os
import re
import select
import socket
import time

COMPACT = {
    "i": "call-id", "m": "contact", "e": "content-encoding", "l": "content-length",
    "c": "content-type", "f": "from", "s": "subject", "k": "supported", "t": "to",
    "v": "via", "o": "event", "u": "allow-events", "r": "refer-to", "b": "referred-by",
    "x": "session-expires", "a": "accept-contact", "j": "reject-contact", "d": "request-disposition",
    "y": "identity", "n": "identity-info",
}

DEFAULT_TIMEOUT = 3.0


def md5hex(text):
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def rand_token(n=8):
    return os.urandom(n).hex()


# ---------------------------------------------------------------- parsing

def split_top_level(value, sep=","):
    """Split a header value on sep outside quoted strings and <...>."""
    parts, cur, quoted, angle, esc = [], [], False, False, False
    for ch in value:
        if esc:
            cur.append(ch)
            esc = False
            continue
        if quoted and ch == "\\":
            cur.append(ch)
            esc = True
            continue
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch == "<":
            angle = True
        elif not quoted and ch == ">":
            angle = False
        if ch == sep and not quoted and not angle:
            parts.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    if "".join(cur).strip():
        parts.append("".join(cur).strip())
    return parts


_PARAM_RE = re.compile(r'\s*([A-Za-z0-9_\-\.]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^\s,]*)\s*(?:,|$)')


def parse_auth_params(value):
    """Parse 'Digest k=v, k="v"' into (scheme, {lower-key: unquoted value})."""
    value = value.strip()
    scheme, _, rest = value.partition(" ")
    params = {}
    pos = 0
    rest = rest.strip()
    while pos < len(rest):
        m = _PARAM_RE.match(rest, pos)
        if not m:
            break
        key, val = m.group(1).lower(), m.group(2)
        if len(val) >= 2 and val[0] == '"' and val[-1] == '"':
            val = re.sub(r"\\(.)", r"\1", val[1:-1])
        params[key] = val
        pos = m.end()
    return scheme, params


def parse_params(text):
    """';a=b;c' -> {'a': 'b', 'c': None} (keys lower-cased)."""
    out = {}
    for part in text.split(";"):
        part = part.strip()
        if not part:
            continue
        k, eq, v = part.partition("=")
        out[k.strip().lower()] = v.strip().strip('"') if eq else None
    return out


def parse_contact(value):
    """One Contact entry -> (uri, params). '*' -> ('*', {})."""
    value = value.strip()
    if value == "*":
        return "*", {}
    if "<" in value:
        start = value.index("<")
        end = value.index(">", start)
        return value[start + 1:end], parse_params(value[end + 1:])
    uri, _, rest = value.partition(";")
    return uri.strip(), parse_params(rest)


class Message:
    """A parsed SIP message (response or request)."""

    def __init__(self, raw, source=None):
        self.raw = raw
        self.source = source
        head, sep, body = raw.partition(b"\r\n\r\n")
        if not sep:
            head, sep, body = raw.partition(b"\n\n")
        self.body = body
        lines = head.decode("utf-8", "replace").replace("\r\n", "\n").split("\n")
        self.start_line = lines[0]
        self.status = None
        self.reason = None
        self.method = None
        if self.start_line.startswith("SIP/2.0 "):
            parts = self.start_line.split(" ", 2)
            self.status = int(parts[1])
            self.reason = parts[2] if len(parts) > 2 else ""
        else:
            self.method = self.start_line.split(" ", 1)[0]
        self.headers = []  # (canonical lower name, value) in wire order
        for line in lines[1:]:
            if line[:1] in (" ", "\t") and self.headers:
                name, val = self.headers[-1]
                self.headers[-1] = (name, val + " " + line.strip())
                continue
            name, colon, val = line.partition(":")
            if not colon:
                continue
            name = name.strip().lower()
            self.headers.append((COMPACT.get(name, name), val.strip()))

    def get(self, name):
        """First value of header name (case-insensitive, compact forms folded) or None."""
        name = COMPACT.get(name.lower(), name.lower())
        for n, v in self.headers:
            if n == name:
                return v
        return None

    def get_all(self, name):
        name = COMPACT.get(name.lower(), name.lower())
        return [v for n, v in self.headers if n == name]

    def header_names(self):
        return [n for n, _ in self.headers]

    def contacts(self):
        """Every Contact entry as (uri, params), comma-separated lists expanded."""
        out = []
        for value in self.get_all("contact"):
            for entry in split_top_level(value):
                out.append(parse_contact(entry))
        return out

    def challenges(self, header="www-authenticate"):
        """Every Digest challenge as a params dict."""
        return [parse_auth_params(v)[1] for v in self.get_all(header)
                if v.strip().lower().startswith("digest")]

    def top_via_params(self):
        via = self.get("via")
        if via is None:
            return None
        first = split_top_level(via)[0]
        _, _, params = first.partition(";")
        return parse_params(params)

    def __repr__(self):
        return "<SIP %s>" % self.start_line


# ---------------------------------------------------------------- digest

HASHES = {"MD5": "md5", "SHA-256": "sha256", "SHA-512-256": "sha512_256"}


def hhex(algorithm, text):
    """Hex digest of text with the hash of a digest algorithm (RFC 7616 §3.2; -sess ignored)."""
    base = algorithm.upper().replace("-SESS", "")
    name = {k.upper(): v for k, v in HASHES.items()}[base]
    data = text if isinstance(text, bytes) else text.encode("utf-8")
    return hashlib.new(name, data).hexdigest()


def digest_response(username, realm, password, method, uri, nonce,
                    qop=None, nc="00000001", cnonce=None, algorithm="MD5", body=b""):
    """request-digest of RFC 2617 §3.2.2.1 / RFC 7616 §3.4.1 for any algorithm
    (MD5, SHA-256, SHA-512-256 and their -sess forms), qop auth, auth-int or none."""
    ha1 = hhex(algorithm, "%s:%s:%s" % (username, realm, password))
    if algorithm.upper().endswith("-SESS"):
        ha1 = hhex(algorithm, "%s:%s:%s" % (ha1, nonce, cnonce))
    if qop == "auth-int":
        ha2 = hhex(algorithm, "%s:%s:%s" % (method, uri, hhex(algorithm, body)))
    else:
        ha2 = hhex(algorithm, "%s:%s" % (method, uri))
    if qop:
        return hhex(algorithm, "%s:%s:%s:%s:%s:%s" % (ha1, nonce, nc, cnonce, qop, ha2))
    return hhex(algorithm, "%s:%s:%s" % (ha1, nonce, ha2))


def authorization_value(challenge, username, password, method, uri,
                        use_qop=True, nc=1, cnonce=None, response=None, realm=None,
                        qop=None, body=b"", userhash=False):
    """Build the Authorization header value answering challenge (a params dict),
    with the challenge's algorithm (MD5 when absent).

    use_qop=False gives the RFC 2069 form (no qop/nc/cnonce) even when the
    challenge offered qop=auth. qop= picks "auth" or "auth-int" (default auth);
    body is the entity body for auth-int. userhash=True sends H(user:realm) as
    the username (RFC 7616 §3.4.4). response= overrides the computed digest.
    """
    realm = challenge["realm"] if realm is None else realm
    nonce = challenge["nonce"]
    algorithm = challenge.get("algorithm", "MD5")
    chosen = None
    if use_qop and "qop" in challenge:
        offered = [q.strip() for q in challenge["qop"].split(",")]
        chosen = qop or "auth"
        assert chosen in offered, "challenge offers no qop=%s: %r" % (chosen, challenge)
    ncs = "%08x" % nc
    cnonce = cnonce or rand_token(6)
    if response is None:
        response = digest_response(username, realm, password, method, uri, nonce,
                                   qop=chosen, nc=ncs, cnonce=cnonce, algorithm=algorithm, body=body)
    shown_user = hhex(algorithm, "%s:%s" % (username, realm)) if userhash else username
    parts = ['Digest username="%s"' % shown_user, 'realm="%s"' % realm,
             'nonce="%s"' % nonce, 'uri="%s"' % uri, 'response="%s"' % response,
             "algorithm=%s" % algorithm]
    if chosen:
        parts += ["qop=%s" % chosen, "nc=%s" % ncs, 'cnonce="%s"' % cnonce]
    if "opaque" in challenge:
        parts.append('opaque="%s"' % challenge["opaque"])
    if userhash:
        parts.append("userhash=true")
    return ", ".join(parts)


def pick_challenge(challenges, algorithm=None):
    """The challenge for algorithm (case-insensitive), or the server's first choice."""
    if algorithm is None:
        return challenges[0]
    for ch in challenges:
        if ch.get("algorithm", "MD5").upper() == algorithm.upper():
            return ch
    raise AssertionError("no %s challenge among %r" % (algorithm, challenges))


# ---------------------------------------------------------------- client

class SipClient:
    """One local socket talking SIP to one server address.

    proto is "udp", "tcp" or "tls" (tls needs ssl_context, an ssl.SSLContext;
    server_hostname is sent as SNI); host may be an IPv4 or IPv6 literal.
    bind_ip picks the local address of a tcp/tls socket. Every receive is
    bounded by a timeout; nothing here loops without a deadline.
    """

    def __init__(self, host, port, proto="udp", timeout=DEFAULT_TIMEOUT, ssl_context=None,
                 server_hostname=None, bind_ip=None):
        self.host, self.port, self.proto = host, port, proto.lower()
        self.timeout = timeout
        self.family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._buf = b""
        self.cseq = {}       # call-id -> last CSeq number used
        self.call_ids = {}   # (user, domain) -> Call-ID of this "UA"
        self.tag = rand_token(4)
        if self.proto == "udp":
            self.sock = socket.socket(self.family, socket.SOCK_DGRAM)
            self.sock.bind((bind_ip or host, 0))
        elif self.proto in ("tcp", "tls"):
            src = (bind_ip, 0) if bind_ip else None
            self.sock = socket.create_connection((host, port), timeout=timeout, source_address=src)
            if self.proto == "tls":
                if ssl_context is None:
                    self.sock.close()
                    raise ValueError("proto tls needs ssl_context")
                try:
                    self.sock = ssl_context.wrap_socket(self.sock, server_hostname=server_hostname)
                except Exception:
                    self.sock.close()
                    raise
        else:
            raise ValueError("proto must be udp, tcp or tls")
        self.local_ip, self.local_port = self.sock.getsockname()[:2]

    # -- raw I/O
    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send_raw(self, data):
        if isinstance(data, str):
            data = data.encode("utf-8")
        if self.proto == "udp":
            self.sock.sendto(data, (self.host, self.port))
        else:
            self.sock.sendall(data)

    def recv(self, timeout=None):
        """Next message from the server, or None when timeout passes first."""
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        if self.proto == "udp":
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                ready, _, _ = select.select([self.sock], [], [], left)
                if not ready:
                    return None
                data, src = self.sock.recvfrom(70000)
                if data.strip() == b"":  # keep-alive
                    continue
                return Message(data, src)
        while True:
            msg = self._take_tcp_message()
            if msg is not None:
                return msg
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            if not self._pending():
                ready, _, _ = select.select([self.sock], [], [], left)
                if not ready:
                    return None
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("server closed the TCP connection")
            self._buf += chunk

    def _pending(self):
        """Bytes TLS already decrypted (select cannot see them)."""
        pending = getattr(self.sock, "pending", None)
        return pending() if pending else 0

    def _take_tcp_message(self):
        self._buf = self._buf.lstrip(b"\r\n")
        end = self._buf.find(b"\r\n\r\n")
        if end < 0:
            return None
        head = self._buf[:end].decode("utf-8", "replace")
        m = re.search(r"(?im)^(?:content-length|l)\s*:\s*(\d+)\s*$", head)
        length = int(m.group(1)) if m else 0
        total = end + 4 + length
        if len(self._buf) < total:
            return None
        raw, self._buf = self._buf[:total], self._buf[total:]
        return Message(raw, (self.host, self.port))

    def tcp_closed(self, timeout=1.0):
        """True when the server closes the TCP connection within timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self._pending():
                ready, _, _ = select.select([self.sock], [], [], max(0, deadline - time.monotonic()))
                if not ready:
                    return False
            try:
                chunk = self.sock.recv(65536)
            except (ConnectionError, OSError):
                return True
            if not chunk:
                return True
            self._buf += chunk
        return False

    # -- message building
    @property
    def hostport(self):
        if self.family == socket.AF_INET6:
            return "[%s]:%d" % (self.host, self.port)
        return "%s:%d" % (self.host, self.port)

    @property
    def local_hostport(self):
        if self.family == socket.AF_INET6:
            return "[%s]:%d" % (self.local_ip, self.local_port)
        return "%s:%d" % (self.local_ip, self.local_port)

    def via(self, branch=None, sent_by=None, rport=True):
        branch = branch or "z9hG4bK" + rand_token(6)
        v = "SIP/2.0/%s %s;branch=%s" % (self.proto.upper(), sent_by or self.local_hostport, branch)
        return v + (";rport" if rport else "")

    def build(self, method, ruri, to_uri, from_uri=None, call_id=None, cseq=1,
              contacts=(), expires=None, headers=(), body=b"", via=None, cseq_method=None):
        """Bytes of a request. contacts: list of full Contact values (e.g. '<sip:a@h>;expires=5')."""
        if isinstance(body, str):
            body = body.encode("utf-8")
        from_uri = from_uri or to_uri
        call_id = call_id or rand_token(10) + "@sipwarden.test"
        lines = ["%s %s SIP/2.0" % (method, ruri),
                 "Via: %s" % (via or self.via()),
                 "Max-Forwards: 70",
                 "From: <%s>;tag=%s" % (from_uri, rand_token(4)),
                 "To: <%s>" % to_uri,
                 "Call-ID: %s" % call_id,
                 "CSeq: %d %s" % (cseq, cseq_method or method)]
        for c in contacts:
            lines.append("Contact: %s" % c)
        if expires is not None:
            lines.append("Expires: %s" % expires)
        lines += list(headers)
        lines.append("User-Agent: sipwarden-e2e")
        lines.append("Content-Length: %d" % len(body))
        return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + body

    def transact(self, data, timeout=None, call_id=None, cseq=None):
        """Send data, return the first final response (1xx skipped) matching call_id/cseq."""
        timeout = self.timeout if timeout is None else timeout
        self.send_raw(data)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            msg = self.recv(left)
            if msg is None:
                return None
            if msg.status is None or msg.status < 200:
                continue
            if call_id is not None and msg.get("call-id") != call_id:
                continue
            if cseq is not None:
                c = (msg.get("cseq") or "").split()
                if not c or c[0] != str(cseq):
                    continue
            return msg

    def request(self, method, ruri, to_uri, call_id=None, cseq=None, timeout=None, **kw):
        call_id = call_id or rand_token(10) + "@sipwarden.test"
        if cseq is None:
            cseq = self.cseq.get(call_id, 0) + 1
        self.cseq[call_id] = max(cseq, self.cseq.get(call_id, 0))
        data = self.build(method, ruri, to_uri, call_id=call_id, cseq=cseq, **kw)
        return self.transact(data, timeout=timeout, call_id=call_id, cseq=cseq)

    def options(self, ruri=None, timeout=None):
        ruri = ruri or "sip:%s" % self.hostport
        return self.request("OPTIONS", ruri, ruri, timeout=timeout)

    # -- registration
    def contact_uri(self, user, tag=""):
        return "sip:%s%s@%s;transport=%s" % (user, tag, self.local_hostport, self.proto)

    def challenge(self, user, domain):
        """Params of a fresh challenge, from an unauthenticated REGISTER on a Call-ID of its own."""
        r = self.request("REGISTER", "sip:%s" % domain, "sip:%s@%s" % (user, domain))
        assert r is not None, "no answer to unauthenticated REGISTER"
        assert r.status == 401, "expected 401, got %s" % r.start_line
        ch = r.challenges()
        assert ch, "401 without a Digest WWW-Authenticate"
        return ch[0]

    def register(self, user, domain, password=None, contacts=None, expires=None,
                 auth_user=None, call_id=None, cseq=None, use_qop=True, headers=(),
                 challenge=None, realm=None, ruri=None, timeout=None, algorithm=None,
                 qop=None, userhash=False):
        """REGISTER user@domain; answers one 401 when password is given.

        contacts: None -> one Contact for this socket; [] -> no Contact (query);
        a list of Contact values otherwise. challenge: answer this challenge
        straight away instead of sending an unauthenticated request first.
        algorithm picks which of the server's challenges to answer (default:
        its first, preferred one); qop and userhash as in authorization_value.
        Returns the final response; the answered challenge is kept in
        self.last_challenge, the Authorization value in self.last_auth and the
        first response in self.last_first.
        """
        if contacts is None:
            contacts = ["<%s>" % self.contact_uri(user)]
        ruri = ruri or "sip:%s" % domain
        to_uri = "sip:%s@%s" % (user, domain)
        call_id = call_id or self.call_ids.setdefault((user, domain), rand_token(10) + "@sipwarden.test")
        auth_user = auth_user or user

        def send(cs, auth_hdr):
            hdrs = list(headers)
            if auth_hdr:
                hdrs.append("Authorization: %s" % auth_hdr)
            return self.request("REGISTER", ruri, to_uri, call_id=call_id, cseq=cs,
                                contacts=contacts, expires=expires, headers=hdrs, timeout=timeout)

        if challenge is not None:
            auth = authorization_value(challenge, auth_user, password, "REGISTER", ruri,
                                       use_qop=use_qop, realm=realm, qop=qop, userhash=userhash)
            self.last_auth = auth
            self.last_challenge = challenge
            self.last_first = None
            return send(cseq, auth)

        first = send(cseq, None)
        self.last_first = first
        self.last_challenge = None
        if first is None or first.status != 401 or password is None:
            return first
        ch = first.challenges()
        assert ch, "401 without a Digest WWW-Authenticate: %r" % first.raw
        self.last_challenge = pick_challenge(ch, algorithm)
        auth = authorization_value(self.last_challenge, auth_user, password, "REGISTER", ruri,
                                   use_qop=use_qop, realm=realm, qop=qop, userhash=userhash)
        self.last_auth = auth
        return send(None if cseq is None else cseq + 1, auth)


def bindings(response, user=None):
    """{contact uri: expires int} from a 200 response's Contact list."""
    out = {}
    for uri, params in response.contacts():
        if uri == "*":
            continue
        if user is not None and ("sip:%s" % user) not in uri:
            continue
        exp = params.get("expires")
        out[uri] = int(exp) if exp is not None and exp.isdigit() else None
    return out
