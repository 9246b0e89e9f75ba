"""Retransmissions (RFC 3261 §17.2.2) are not replays: an authenticated REGISTER sent
again byte for byte (a lost 200 OK over UDP) gets the same answer again without being
processed twice, while the same credentials in a new request are refused. The kept 200
leaves its Contact lines out and lists the AOR's bindings afresh when resent."""

import re

from conftest import DOMAIN, PASSWORDS
from sipclient import authorization_value, rand_token

ALICE_PW = PASSWORDS[("alice", DOMAIN)]


def without_expiry(raw):
    """The answer with the remaining lifetimes blanked: a resend a second later counts
    one second less."""
    return re.sub(rb";expires=\d+", b";expires=N", raw)


def authed_register(client, call_id, cseq, contacts, expires=600):
    ch = client.challenge("alice", DOMAIN)
    auth = authorization_value(ch, "alice", ALICE_PW, "REGISTER", "sip:%s" % DOMAIN)
    return client.build("REGISTER", "sip:%s" % DOMAIN, "sip:alice@%s" % DOMAIN, call_id=call_id, cseq=cseq,
                        contacts=contacts, expires=expires, headers=["Authorization: %s" % auth])


def test_retransmitted_register_gets_the_same_answer(client):
    ch = client.challenge("alice", DOMAIN)
    call_id = rand_token(8) + "@retrans.test"
    auth = authorization_value(ch, "alice", ALICE_PW, "REGISTER", "sip:%s" % DOMAIN)
    data = client.build("REGISTER", "sip:%s" % DOMAIN, "sip:alice@%s" % DOMAIN, call_id=call_id, cseq=7,
                        contacts=["<%s>" % client.contact_uri("alice")], expires=600,
                        headers=["Authorization: %s" % auth])
    first = client.transact(data, call_id=call_id, cseq=7)
    assert first is not None and first.status == 200, first and first.start_line
    for _ in range(3):
        again = client.transact(data, call_id=call_id, cseq=7)
        assert again is not None and again.status == 200, again and again.start_line
        # the kept answer (tags, Authentication-Info and all), not a new one
        assert without_expiry(again.raw) == without_expiry(first.raw)
    # The same Authorization in a new request (new CSeq/branch) is a replay: refused.
    replay = client.build("REGISTER", "sip:%s" % DOMAIN, "sip:alice@%s" % DOMAIN, call_id=call_id, cseq=8,
                          contacts=["<%s>" % client.contact_uri("alice")], expires=600,
                          headers=["Authorization: %s" % auth])
    r = client.transact(replay, call_id=call_id, cseq=8)
    assert r is not None and r.status == 401, r and r.start_line


def contact_values(resp):
    return sorted(v.split(";expires=")[0] for v in resp.get_all("contact"))


def test_resent_answer_lists_the_bindings_as_they_are_now(client):
    mine = "<%s>" % client.contact_uri("alice", "-first")
    other = "<%s>" % client.contact_uri("alice", "-second")
    call_id = rand_token(8) + "@resend.test"
    data = authed_register(client, call_id, 3, [mine])
    first = client.transact(data, call_id=call_id, cseq=3)
    assert first is not None and first.status == 200, first and first.start_line
    assert mine in contact_values(first) and other not in contact_values(first)
    # another phone of alice's registers meanwhile
    call_id2 = rand_token(8) + "@resend.test"
    r = client.transact(authed_register(client, call_id2, 1, [other]), call_id=call_id2, cseq=1)
    assert r is not None and r.status == 200, r and r.start_line
    again = client.transact(data, call_id=call_id, cseq=3)
    assert again is not None and again.status == 200, again and again.start_line
    assert mine in contact_values(again) and other in contact_values(again)
    # the rest of the answer is the one first sent (same To tag, same Authentication-Info)
    assert again.get("to") == first.get("to")
    assert again.get_all("authentication-info") == first.get_all("authentication-info")
    for uri in (mine, other):
        call_id3 = rand_token(8) + "@resend.test"
        client.transact(authed_register(client, call_id3, 1, [uri], expires=0), call_id=call_id3, cseq=1)


def test_answer_listing_many_bindings_is_resent_not_refused(client):
    """Ten bindings make a 200 of well over a kilobyte; it is kept like a short one,
    so its retransmission is answered 200 and not taken for a replayed nonce."""
    contacts = ["<%s>" % client.contact_uri("alice", "-line%02d-%s" % (i, "x" * 40)) for i in range(10)]
    call_id = rand_token(8) + "@many.test"
    data = authed_register(client, call_id, 1, contacts)
    first = client.transact(data, call_id=call_id, cseq=1)
    assert first is not None and first.status == 200, first and first.start_line
    assert len(first.raw) > 1000 and len(first.get_all("contact")) == 10
    again = client.transact(data, call_id=call_id, cseq=1)
    assert again is not None and again.status == 200, again and again.start_line
    assert without_expiry(again.raw) == without_expiry(first.raw)
    removal = rand_token(8) + "@many.test"
    r = client.transact(authed_register(client, removal, 1, ["*"], expires=0), call_id=removal, cseq=1)
    assert r is not None and r.status == 200, r and r.start_line
