/* Response steering: a classic BPF program on a listen address's
 * SO_REUSEPORT group that picks the socket of the worker named in a UDP
 * response's branch, so a response reaches the worker holding its client
 * transaction without a hand-off between workers. The kernel runs it on the
 * UDP payload of each datagram; an index past the group's sockets (what the
 * program returns for anything it does not recognise) makes the kernel fall
 * back to its usual 4-tuple hash.
 *
 * Requests (with request scanning on) are placed by their Call-ID instead of
 * their sender: the program finds the header ("Call-ID", any case, at the
 * start of a line, up to one SP/HTAB before the colon and two after it),
 * hashes the first bytes of its value (up to CALLID_HASHED, ending at the
 * first byte below '!') and returns the hash modulo the group's sockets. A
 * transaction's retransmissions, its ACK and CANCEL, and a dialog's requests
 * share the Call-ID and so the worker, whoever sends them, and the requests
 * of one busy sender (an SBC, a trunk) spread over every worker. A request
 * whose Call-ID is not found in the scanned bytes (compact form "i:",
 * further down, too near the end, a Call-Info header before it) is placed by
 * address; tp_callid_worker computes the same hash from the parsed value, and
 * the worker that receives such a request hands it to the right one
 * (handover.c), so where a request is served never depends on the scan.
 *
 * The program: a datagram that starts with "SIP/" is scanned for the first
 * copy of the branch prefix; there it reads a decimal index of one or two
 * digits followed by 'x' (txn_branch_make's form). Classic BPF only jumps
 * forward, so the scan is unrolled: one 4-byte load per aligned word, which
 * any copy of a prefix of 7 or more bytes covers with one of its first four
 * windows, then the whole prefix is checked where a window matched. The
 * datagram's length is checked once per 64-byte block, so no load runs past
 * its end. The kernel caps a program's size (net.core.optmem_max, 20 KiB on
 * older kernels), so tp_steer_attach tries shorter scans when it must. */
#include "transport/tp_int.h"

#include <errno.h>
#include <linux/filter.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#ifndef SO_ATTACH_REUSEPORT_CBPF
#define SO_ATTACH_REUSEPORT_CBPF 51
#endif

#define STEER_FIRST 8u      /* "SIP/2.0 " comes first; a multiple of 4 */
#define STEER_BLOCK 64u     /* bytes per length check */
#define STEER_MIN_PREFIX 7u /* so that one of the first four windows is whole */
#define STEER_MAX_PREFIX 12u
#define FALLBACK 0xffffffffu
/* Request scan: from this byte (after the shortest request line's method),
 * a length check per REQ_BLOCK bytes, hashing at most CALLID_HASHED bytes
 * of the value (enough to pass a long constant prefix such as a run or node
 * id before a counter). REQ_TAIL is what the check reads past a window's
 * start before the value: "\ncall-id" (8), SP, ':', two SP, its first byte.
 * Further value bytes are read up to the first byte below '!', and a
 * well-formed message has its line's CR there; a datagram cut inside the
 * value stops the program (the kernel then takes socket 0, whose parser
 * refuses it). */
#define REQ_FIRST 16u
#define REQ_BLOCK 16u
#define CALLID_HASHED 32u
#define HASH_GROUP 8u /* value bytes between two jumps to the hash's end */
#define REQ_TAIL (8u + 4u + 1u)
_Static_assert(CALLID_HASHED % HASH_GROUP == 0, "whole groups");
/* Scratch memory of the request check: the hash and the value's start. */
#define M_HASH 0
#define M_BASE 3

static uint32_t be32(const char *s)
{
	return (uint32_t)(uint8_t)s[0] << 24 | (uint32_t)(uint8_t)s[1] << 16 | (uint32_t)(uint8_t)s[2] << 8 |
	       (uint8_t)s[3];
}

struct prog {
	struct sock_filter *v;
	size_t n, cap;
	bool full;
	/* jumps to the check's fallback, patched once it is placed */
	size_t fail_at[16];
	bool fail_if_true[16];
	size_t nfail;
};

static size_t emit(struct prog *p, uint16_t code, uint8_t jt, uint8_t jf, uint32_t k)
{
	if (p->n >= p->cap) {
		p->full = true;
		return p->n;
	}
	p->v[p->n] = (struct sock_filter){ code, jt, jf, k };
	return p->n++;
}

/* A test that goes on when it holds and returns FALLBACK when not, right
 * here (a jump to a shared return could be more than 255 instructions off). */
static void emit_test_or_fallback(struct prog *p, uint16_t op, uint32_t k)
{
	emit(p, BPF_JMP | op | BPF_K, 1, 0, k);
	emit(p, BPF_RET | BPF_K, 0, 0, FALLBACK);
}

/* In the check: a test whose failure jumps to the check's fallback. */
static void emit_check_test(struct prog *p, uint16_t op, uint32_t k, bool fail_if_true)
{
	size_t at = emit(p, BPF_JMP | op | BPF_K, 0, 0, k);
	p->fail_at[p->nfail] = at;
	p->fail_if_true[p->nfail++] = fail_if_true;
}

/* The check (X = where the prefix would start): the prefix's bytes, then
 * the index, returned; FALLBACK when anything differs. */
static void emit_check(struct prog *p, const char *prefix, size_t plen)
{
	size_t off = 0;

	while (off < plen) {
		if (plen - off >= 4) {
			emit(p, BPF_LD | BPF_W | BPF_IND, 0, 0, (uint32_t)off);
			emit_check_test(p, BPF_JEQ, be32(prefix + off), false);
			off += 4;
		} else {
			emit(p, BPF_LD | BPF_B | BPF_IND, 0, 0, (uint32_t)off);
			emit_check_test(p, BPF_JEQ, (uint8_t)prefix[off], false);
			off += 1;
		}
	}
	/* first digit into M[0] (below '0' wraps above 9) */
	emit(p, BPF_LD | BPF_B | BPF_IND, 0, 0, (uint32_t)plen);
	emit(p, BPF_ALU | BPF_SUB | BPF_K, 0, 0, '0');
	emit_check_test(p, BPF_JGT, 9, true);
	emit(p, BPF_ST, 0, 0, 0);
	/* 'x' next: the index is M[0] */
	emit(p, BPF_LD | BPF_B | BPF_IND, 0, 0, (uint32_t)plen + 1);
	size_t one = emit(p, BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 'x');
	/* else a second digit, then 'x': M[0] * 10 + M[1] */
	emit(p, BPF_ALU | BPF_SUB | BPF_K, 0, 0, '0');
	emit_check_test(p, BPF_JGT, 9, true);
	emit(p, BPF_ST, 0, 0, 1);
	emit(p, BPF_LD | BPF_B | BPF_IND, 0, 0, (uint32_t)plen + 2);
	emit_check_test(p, BPF_JEQ, 'x', false);
	emit(p, BPF_LD | BPF_MEM, 0, 0, 0);
	emit(p, BPF_ALU | BPF_MUL | BPF_K, 0, 0, 10);
	emit(p, BPF_LDX | BPF_MEM, 0, 0, 1);
	emit(p, BPF_ALU | BPF_ADD | BPF_X, 0, 0, 0);
	emit(p, BPF_RET | BPF_A, 0, 0, 0);
	size_t at_one = emit(p, BPF_LD | BPF_MEM, 0, 0, 0);
	emit(p, BPF_RET | BPF_A, 0, 0, 0);
	size_t fallback = emit(p, BPF_RET | BPF_K, 0, 0, FALLBACK);
	if (p->full)
		return;
	p->v[one].jt = (uint8_t)(at_one - one - 1);
	for (size_t i = 0; i < p->nfail; i++) {
		uint8_t d = (uint8_t)(fallback - p->fail_at[i] - 1);
		if (p->fail_if_true[i])
			p->v[p->fail_at[i]].jt = d;
		else
			p->v[p->fail_at[i]].jf = d;
	}
}

/* A test in the request check: on failure return FALLBACK, on success go on
 * (the return sits right after the test, so no jump is ever out of range). */
static void req_test(struct prog *p, uint16_t op, uint32_t k)
{
	emit_test_or_fallback(p, op, k);
}

/* X += 1 when the byte at X is SP or HTAB (one optional blank). */
static void req_skip_blank(struct prog *p)
{
	emit(p, BPF_LD | BPF_B | BPF_IND, 0, 0, 0);
	emit(p, BPF_JMP | BPF_JEQ | BPF_K, 1, 0, ' ');
	emit(p, BPF_JMP | BPF_JEQ | BPF_K, 0, 3, '\t');
	emit(p, BPF_MISC | BPF_TXA, 0, 0, 0);
	emit(p, BPF_ALU | BPF_ADD | BPF_K, 0, 0, 1);
	emit(p, BPF_MISC | BPF_TAX, 0, 0, 0);
}

/* The request check (X = where "\ncall-id" would start): the header name,
 * the colon, then the hash of the value's first bytes modulo nsock. */
static void emit_req_check(struct prog *p, unsigned nsock)
{
	/* every byte read below lies within REQ_TAIL of the window's start */
	emit(p, BPF_LD | BPF_W | BPF_LEN, 0, 0, 0);
	emit(p, BPF_ALU | BPF_SUB | BPF_X, 0, 0, 0);
	req_test(p, BPF_JGE, REQ_TAIL);
	emit(p, BPF_LD | BPF_B | BPF_IND, 0, 0, 0);
	req_test(p, BPF_JEQ, '\n');
	emit(p, BPF_LD | BPF_W | BPF_IND, 0, 0, 1);
	emit(p, BPF_ALU | BPF_OR | BPF_K, 0, 0, 0x20202020u);
	req_test(p, BPF_JEQ, be32("call"));
	emit(p, BPF_LD | BPF_B | BPF_IND, 0, 0, 5);
	req_test(p, BPF_JEQ, '-');
	emit(p, BPF_LD | BPF_H | BPF_IND, 0, 0, 6);
	emit(p, BPF_ALU | BPF_OR | BPF_K, 0, 0, 0x2020u);
	req_test(p, BPF_JEQ, (uint32_t)('i' << 8 | 'd'));
	/* X past the name, an optional blank, the colon, up to two blanks */
	emit(p, BPF_MISC | BPF_TXA, 0, 0, 0);
	emit(p, BPF_ALU | BPF_ADD | BPF_K, 0, 0, 8);
	emit(p, BPF_MISC | BPF_TAX, 0, 0, 0);
	req_skip_blank(p);
	emit(p, BPF_LD | BPF_B | BPF_IND, 0, 0, 0);
	req_test(p, BPF_JEQ, ':');
	emit(p, BPF_MISC | BPF_TXA, 0, 0, 0);
	emit(p, BPF_ALU | BPF_ADD | BPF_K, 0, 0, 1);
	emit(p, BPF_MISC | BPF_TAX, 0, 0, 0);
	req_skip_blank(p);
	req_skip_blank(p);
	/* hash = hash * 31 + byte over the value's bytes, stopping at the
	 * first one below '!' (its end: CR, or blanks before it) */
	emit(p, BPF_MISC | BPF_TXA, 0, 0, 0);
	emit(p, BPF_ST, 0, 0, M_BASE);
	emit(p, BPF_LD | BPF_IMM, 0, 0, 2166136261u);
	emit(p, BPF_ST, 0, 0, M_HASH);
	/* Per byte: X = start, the byte, the stop test, hash * 31 + byte.
	 * A stop jumps (at most 255 ahead) to the jump after its group of
	 * HASH_GROUP bytes, which goes on to the end. */
	size_t stops[CALLID_HASHED], tramps[CALLID_HASHED / HASH_GROUP];
	for (uint32_t i = 0; i < CALLID_HASHED; i++) {
		emit(p, BPF_LDX | BPF_MEM, 0, 0, M_BASE);
		emit(p, BPF_LD | BPF_B | BPF_IND, 0, 0, i);
		stops[i] = emit(p, BPF_JMP | BPF_JGE | BPF_K, 0, 0, '!'); /* jf: patched */
		emit(p, BPF_MISC | BPF_TAX, 0, 0, 0);
		emit(p, BPF_LD | BPF_MEM, 0, 0, M_HASH);
		emit(p, BPF_ALU | BPF_MUL | BPF_K, 0, 0, 31);
		emit(p, BPF_ALU | BPF_ADD | BPF_X, 0, 0, 0);
		emit(p, BPF_ST, 0, 0, M_HASH);
		if (i % HASH_GROUP == HASH_GROUP - 1) {
			emit(p, BPF_JMP | BPF_JA, 0, 0, 1); /* over the group's jump */
			tramps[i / HASH_GROUP] = emit(p, BPF_JMP | BPF_JA, 0, 0, 0); /* to the end: patched */
		}
	}
	/* fold the high bits down, then the socket index */
	size_t end = emit(p, BPF_LD | BPF_MEM, 0, 0, M_HASH);
	emit(p, BPF_MISC | BPF_TAX, 0, 0, 0);
	emit(p, BPF_ALU | BPF_RSH | BPF_K, 0, 0, 16);
	emit(p, BPF_ALU | BPF_XOR | BPF_X, 0, 0, 0);
	emit(p, BPF_MISC | BPF_TAX, 0, 0, 0);
	emit(p, BPF_ALU | BPF_RSH | BPF_K, 0, 0, 8);
	emit(p, BPF_ALU | BPF_XOR | BPF_X, 0, 0, 0);
	emit(p, BPF_ALU | BPF_MOD | BPF_K, 0, 0, nsock);
	emit(p, BPF_RET | BPF_A, 0, 0, 0);
	if (p->full)
		return;
	for (uint32_t i = 0; i < CALLID_HASHED; i++)
		p->v[stops[i]].jf = (uint8_t)(tramps[i / HASH_GROUP] - stops[i] - 1);
	for (uint32_t g = 0; g < CALLID_HASHED / HASH_GROUP; g++)
		p->v[tramps[g]].k = (uint32_t)(end - tramps[g] - 1);
}

/* The request scan from REQ_FIRST over req_bytes: the window search of the
 * response scan, on the bytes lowered with OR 0x20 (so "\n" reads '*'),
 * for "\ncall-id". Window 0 holds the line break; a match of window 1-3
 * ("call", "all-", "ll-i") is a candidate only when the byte where the line
 * break would be is one, tested right there, so that "X-Call-ID" or a URI
 * such as sip:callee@ does not end the scan. Each candidate jumps to the
 * request check. Per word: the load, lowered and kept in X; window 0's test
 * and its pair "X = start; jump to the check"; per window 1-3 its test, the
 * line-break test, the pair, and A restored from X for the next test. */
static void emit_req_scan(struct prog *p, size_t req_bytes, unsigned nsock)
{
	/* "\ncall-id" as the scan sees it */
	static const char lowered[] = { '\n' | 0x20, 'c', 'a', 'l', 'l', '-', 'i', 'd' };
	size_t start = p->n;

	for (uint32_t j = REQ_FIRST; j < REQ_FIRST + req_bytes; j += 4) {
		if ((j - REQ_FIRST) % REQ_BLOCK == 0) {
			/* the next block only when the datagram holds all of it */
			emit(p, BPF_LD | BPF_W | BPF_LEN, 0, 0, 0);
			emit_test_or_fallback(p, BPF_JGE, j + REQ_BLOCK);
		}
		emit(p, BPF_LD | BPF_W | BPF_ABS, 0, 0, j);
		emit(p, BPF_ALU | BPF_OR | BPF_K, 0, 0, 0x20202020u);
		emit(p, BPF_MISC | BPF_TAX, 0, 0, 0);
		emit(p, BPF_JMP | BPF_JEQ | BPF_K, 0, 2, be32(lowered));
		emit(p, BPF_LDX | BPF_IMM, 0, 0, j);
		emit(p, BPF_JMP | BPF_JA, 0, 0, UINT32_MAX - 1); /* to the check, patched below */
		for (uint32_t w = 1; w < 4; w++) {
			emit(p, BPF_JMP | BPF_JEQ | BPF_K, 0, 5, be32(lowered + w));
			emit(p, BPF_LD | BPF_B | BPF_ABS, 0, 0, j - w);
			emit(p, BPF_JMP | BPF_JEQ | BPF_K, 0, 2, '\n');
			emit(p, BPF_LDX | BPF_IMM, 0, 0, j - w);
			emit(p, BPF_JMP | BPF_JA, 0, 0, UINT32_MAX - 1);
			emit(p, BPF_MISC | BPF_TXA, 0, 0, 0);
		}
	}
	emit(p, BPF_RET | BPF_K, 0, 0, FALLBACK);
	size_t check = p->n;
	emit_req_check(p, nsock);
	if (p->full)
		return;
	for (size_t i = start; i < check; i++)
		if (p->v[i].code == (BPF_JMP | BPF_JA) && p->v[i].k == UINT32_MAX - 1)
			p->v[i].k = (uint32_t)(check - i - 1);
}

int tp_steer_build(const char *prefix, size_t scan_bytes, size_t req_bytes, unsigned nsock, struct sock_filter *out,
		   size_t cap)
{
	struct prog p = { .v = out, .cap = cap };
	size_t plen = strlen(prefix);
	/* the check reads the prefix, two digits and 'x' past a window's start */
	uint32_t tail = (uint32_t)plen + 3;
	size_t to_requests = 0;

	if (plen < STEER_MIN_PREFIX || plen > STEER_MAX_PREFIX || scan_bytes < STEER_BLOCK ||
	    scan_bytes % STEER_BLOCK || req_bytes % REQ_BLOCK || (req_bytes && (nsock < 2 || nsock > 100)))
		return -EINVAL;
	emit(&p, BPF_LD | BPF_W | BPF_LEN, 0, 0, 0);
	emit_test_or_fallback(&p, BPF_JGE, req_bytes ? REQ_FIRST + REQ_BLOCK : STEER_FIRST + STEER_BLOCK + tail);
	emit(&p, BPF_LD | BPF_W | BPF_ABS, 0, 0, 0);
	if (req_bytes) {
		/* a response goes on below; anything else to the request scan */
		emit(&p, BPF_JMP | BPF_JEQ | BPF_K, 1, 0, be32("SIP/"));
		to_requests = emit(&p, BPF_JMP | BPF_JA, 0, 0, 0);
		emit(&p, BPF_LD | BPF_W | BPF_LEN, 0, 0, 0);
		emit_test_or_fallback(&p, BPF_JGE, STEER_FIRST + STEER_BLOCK + tail);
	} else {
		emit_test_or_fallback(&p, BPF_JEQ, be32("SIP/"));
	}
	size_t scan_start = p.n;
	for (uint32_t j = STEER_FIRST; j < STEER_FIRST + scan_bytes; j += 4) {
		if (j != STEER_FIRST && (j - STEER_FIRST) % STEER_BLOCK == 0) {
			/* the next block only when the datagram holds all of it */
			emit(&p, BPF_LD | BPF_W | BPF_LEN, 0, 0, 0);
			emit_test_or_fallback(&p, BPF_JGE, j + STEER_BLOCK + tail);
		}
		/* Word j is window w of a prefix starting at j - w, w = 0..3.
		 * Layout: the load, four tests (test w jumps 4 + w ahead, to
		 * its pair), a jump to the next word, then per w a pair "X =
		 * j - w; jump to the check". */
		emit(&p, BPF_LD | BPF_W | BPF_ABS, 0, 0, j);
		for (uint8_t w = 0; w < 4; w++)
			emit(&p, BPF_JMP | BPF_JEQ | BPF_K, (uint8_t)(4 + w), 0, be32(prefix + w));
		emit(&p, BPF_JMP | BPF_JA, 0, 0, 8); /* past the four pairs */
		for (uint32_t w = 0; w < 4; w++) {
			emit(&p, BPF_LDX | BPF_IMM, 0, 0, j - w);
			emit(&p, BPF_JMP | BPF_JA, 0, 0, UINT32_MAX); /* to the check, patched below */
		}
	}
	emit(&p, BPF_RET | BPF_K, 0, 0, FALLBACK);
	size_t check = p.n;
	emit_check(&p, prefix, plen);
	if (p.full)
		return -ENOSPC;
	for (size_t i = scan_start; i < check; i++)
		if (p.v[i].code == (BPF_JMP | BPF_JA) && p.v[i].k == UINT32_MAX)
			p.v[i].k = (uint32_t)(check - i - 1);
	if (req_bytes) {
		size_t req = p.n;

		emit_req_scan(&p, req_bytes, nsock);
		if (p.full)
			return -ENOSPC;
		p.v[to_requests].k = (uint32_t)(req - to_requests - 1);
	}
	return (int)p.n;
}

int tp_steer_attach(int fd, const char *prefix, unsigned nsock, size_t *scan_bytes, size_t *req_bytes)
{
	/* (response scan, request scan): both first, the request scan the longer
	 * (a response's top Via is ours and comes first); then responses alone,
	 * as long as the kernel takes. */
	static const size_t tries[][2] = { { 192, 480 }, { 128, 384 }, { 128, 256 }, { 1024, 0 },
					   { 512, 0 },   { 256, 0 },   { 128, 0 } };
	struct sock_filter *insns = calloc(BPF_MAXINSNS, sizeof(*insns));
	int err = -EINVAL;

	if (!insns)
		return -ENOMEM;
	/* A kernel whose optmem_max refuses the program (ENOMEM) gets a
	 * shorter one. */
	for (size_t t = 0; t < sizeof(tries) / sizeof(tries[0]); t++) {
		size_t req = nsock >= 2 ? tries[t][1] : 0;

		if (nsock < 2 && tries[t][1])
			continue;
		int n = tp_steer_build(prefix, tries[t][0], req, nsock, insns, BPF_MAXINSNS);
		if (n < 0) {
			err = n;
			continue;
		}
		struct sock_fprog prog = { .len = (unsigned short)n, .filter = insns };
		if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof(prog)) == 0) {
			*scan_bytes = tries[t][0];
			*req_bytes = req;
			err = 0;
			break;
		}
		err = -errno;
		if (err != -ENOMEM)
			break;
	}
	free(insns); /* the kernel keeps its own copy */
	return err;
}

unsigned tp_callid_worker(const char *callid, size_t len, unsigned nworkers)
{
	uint32_t h = 2166136261u;

	if (nworkers < 2)
		return 0;
	for (size_t i = 0; i < len && i < CALLID_HASHED; i++) {
		uint8_t c = (uint8_t)callid[i];
		if (c < '!')
			break;
		h = h * 31u + c;
	}
	h ^= h >> 16;
	h ^= h >> 8;
	return h % nworkers;
}
