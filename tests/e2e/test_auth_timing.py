"""No answer, timing or header differs between an unknown user and a wrong
password. Interleaved REGISTER round trips over loopback UDP (300 of each,
bounded in time too) answer one nonce with a wrong password for a known user
and for an unknown one; the medians and 90th percentiles must agree within a
tolerance (on a machine shared with other work a trial may be disturbed: up
to three trials are run and one must agree), and every answer must be
byte-identical to its counterpart once the server's fresh nonce and tag (and the client's own tag, branch, Call-ID
and CSeq, which differ by construction) are masked. The 403 of a block is
compared the same way. The limiter is off for the timing part (it would block)."""

import random
import re
import statistics
import time

from conftest import DOMAIN, PASSWORDS
from sipclient import SipClient, authorization_value, rand_token

ALICE_PW = PASSWORDS[("alice", DOMAIN)]
ROUNDS = 300
TRIALS = 3
TIME_BUDGET_S = 120.0
# Tolerances: medians within 7 % (or 8 us) of each other, 90th percentiles
# within 25 % (or 100 us; the tail is where other processes show), and the
# median of the paired differences (each round's two trips, so that noise
# common to both cancels) within 5 % (or 6 us). On the ASan build a round trip
# takes ~150 us; when only a found row was read (no decoy row for an unknown
# user) a known user was 9-20 us slower (paired 9-12 us); with the decoy row
# in the same statement the paired difference is 0.7-5 us (the unknown user
# pays for one more b-tree seek), and 0.4-2 us on the release build.
MEDIAN_TOL, MEDIAN_ABS_US = 0.07, 8.0
P90_TOL, P90_ABS_US = 0.25, 100.0
PAIRED_TOL, PAIRED_ABS_US = 0.05, 6.0


def masked(r):
    text = r.raw.decode("utf-8", "replace")
    text = re.sub(r'nonce="[^"]*"', 'nonce="N"', text)
    text = re.sub(r"tag=[0-9A-Za-z]+", "tag=T", text)
    text = re.sub(r"branch=[^;\s]+", "branch=B", text)
    text = re.sub(r"(?im)^(call-id:).*$", r"\1 C", text)
    text = re.sub(r"(?im)^(cseq:) \d+", r"\1 S", text)
    return text


def p90(xs):
    s = sorted(xs)
    return s[int(0.9 * (len(s) - 1))]


def one(c, ch, user, password, call_id, cseq):
    """One REGISTER answering ch as user: (round trip in us, response)."""
    auth = authorization_value(ch, user, password, "REGISTER", "sip:%s" % DOMAIN, cnonce="c0ffee")
    data = c.build("REGISTER", "sip:%s" % DOMAIN, "sip:alice@%s" % DOMAIN, call_id=call_id, cseq=cseq,
                   contacts=["<%s>" % c.contact_uri("alice")], headers=["Authorization: %s" % auth])
    t0 = time.perf_counter_ns()
    r = c.transact(data, call_id=call_id, cseq=cseq)
    dt = (time.perf_counter_ns() - t0) / 1000.0
    assert r is not None and r.status == 401, r and r.start_line
    return dt, r


def trial(c, ch, call_id, cseq, deadline, rng):
    """ROUNDS interleaved round trips of each kind: ({kind: [us]}, masked answer pairs, next cseq)."""
    who = {"wrong": ("alice", "not-her-password"), "unknown": ("nobody-at-all", "not-her-password")}
    times = {"wrong": [], "unknown": []}
    shapes = []
    for i in range(ROUNDS):
        assert time.monotonic() < deadline, "timing loop over its time budget at round %d" % i
        # a random order each round: no periodic effect (worker hand-over,
        # the client's own loop) can line up with one kind
        order = ("wrong", "unknown") if rng.random() < 0.5 else ("unknown", "wrong")
        pair = {}
        for kind in order:
            cseq += 1
            dt, r = one(c, ch, *who[kind], call_id=call_id, cseq=cseq)
            times[kind].append(dt)
            pair[kind] = r
        if i % 25 == 0:
            shapes.append((i, masked(pair["wrong"]), masked(pair["unknown"])))
    return times, shapes, cseq


def test_unknown_user_and_wrong_password_same_time_and_bytes(sipwarden):
    d = sipwarden(auth={"max_failures": 0, "algorithms": "SHA-256, MD5"})
    deadline = time.monotonic() + TIME_BUDGET_S
    results = []
    rng = random.Random(4242)
    with d.client() as c:
        ch = c.challenge("alice", DOMAIN)
        call_id = rand_token(10)
        cseq = 0
        # warm-up: caches, page faults, the first runs of each statement
        for i in range(20):
            cseq += 1
            one(c, ch, "alice" if i % 2 else "nobody-at-all", "x", call_id=call_id, cseq=cseq)
        for n in range(TRIALS):
            times, shapes, cseq = trial(c, ch, call_id, cseq, deadline, rng)
            for i, wrong, unknown in shapes:
                assert wrong == unknown, "round %d:\n%s\n---\n%s" % (i, wrong, unknown)
            med = {k: statistics.median(v) for k, v in times.items()}
            q90 = {k: p90(v) for k, v in times.items()}
            ok_med = abs(med["wrong"] - med["unknown"]) <= max(MEDIAN_TOL * min(med.values()), MEDIAN_ABS_US)
            ok_p90 = abs(q90["wrong"] - q90["unknown"]) <= max(P90_TOL * min(q90.values()), P90_ABS_US)
            # each wrong-password trip minus the unknown-user trip next to it: noise common to both cancels
            paired = statistics.median([a - b for a, b in zip(times["wrong"], times["unknown"])])
            ok_pair = abs(paired) <= max(PAIRED_TOL * min(med.values()), PAIRED_ABS_US)
            ok = ok_med and ok_p90 and ok_pair
            print("\ntrial %d: REGISTER round trips, %d each (us): wrong password median %.1f p90 %.1f;"
                  " unknown user median %.1f p90 %.1f; paired median difference %.1f -> %s"
                  % (n + 1, ROUNDS, med["wrong"], q90["wrong"], med["unknown"], q90["unknown"], paired,
                     "within tolerance" if ok else "outside tolerance"))
            results.append((med, q90, paired))
            if ok:
                return
    raise AssertionError("unknown user and wrong password differ in time in every trial "
                         "(median tolerance %d %% or %.0f us, p90 %d %% or %.0f us, paired %d %% or %.0f us): %r"
                         % (MEDIAN_TOL * 100, MEDIAN_ABS_US, P90_TOL * 100, P90_ABS_US, PAIRED_TOL * 100,
                            PAIRED_ABS_US, results))


def test_block_answer_identical_for_unknown_and_known_user(sipwarden):
    """The 403 of a (user, source) block says nothing about the user's existence."""
    d = sipwarden(auth={"max_failures": 3, "max_source_failures": 100, "failure_window": 60,
                        "block_time": 60})
    answers = {}
    with SipClient(d.host, d.port, "udp", timeout=2.0, bind_ip="127.0.0.2") as c:
        for user in ("alice", "nobody-at-all"):
            call_id = rand_token(10)
            for attempt in range(12):
                r = c.register("alice", DOMAIN, "wrong", auth_user=user, call_id=call_id,
                               cseq=10 * attempt + 1, timeout=1.2)
                if r is None:  # slowed: no answer within the same second
                    time.sleep(1.05)
                    continue
                if r.status == 403:
                    answers[user] = r
                    break
                assert r.status == 401, r.start_line
            assert user in answers, "no block for %s\n%s" % (user, d.log_tail())
    assert masked(answers["alice"]) == masked(answers["nobody-at-all"])
    assert answers["alice"].reason == "Forbidden"
