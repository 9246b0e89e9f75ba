"""Retransmissions (RFC 3261 §17.2.2) are not replays: an authenticated REGISTER sent
again byte for byte (a lost 200 OK over UDP) gets the same answer again without being
processed twice, while the same credentials in a new request are refused."""

from conftest import DOMAIN, PASSWORDS
from sipclient import authorization_value, rand_token

ALICE_PW = PASSWORDS[("alice", DOMAIN)]


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
        assert again.raw == first.raw  # the stored answer, not a new one
    # The same Authorization in a new request (new CSeq/branch) is a replay: refused.
    replay = client.build("REGISTER", "sip:%s" % DOMAIN, "sip:alice@%s" % DOMAIN, call_id=call_id, cseq=8,
                          contacts=["<%s>" % client.contact_uri("alice")], expires=600,
                          headers=["Authorization: %s" % auth])
    r = client.transact(replay, call_id=call_id, cseq=8)
    assert r is not None and r.status == 401, r and r.start_line
