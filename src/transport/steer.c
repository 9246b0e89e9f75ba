/* Response steering: a classic BPF program on a listen address's
 * SO_REUSEPORT group that picks the socket of the worker named in a UDP
 * response's branch, so a response reaches the worker holding its client
 * transaction without a hand-off between workers. The kernel runs it on the
 * UDP payload of each datagram; an index past the group's sockets (what the
 * program returns for anything it does not recognise) makes the kernel fall
 * back to its usual 4-tuple hash, which is where every request goes.
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

int tp_steer_build(const char *prefix, size_t scan_bytes, struct sock_filter *out, size_t cap)
{
	struct prog p = { .v = out, .cap = cap };
	size_t plen = strlen(prefix);
	/* the check reads the prefix, two digits and 'x' past a window's start */
	uint32_t tail = (uint32_t)plen + 3;

	if (plen < STEER_MIN_PREFIX || plen > STEER_MAX_PREFIX || scan_bytes < STEER_BLOCK ||
	    scan_bytes % STEER_BLOCK)
		return -EINVAL;
	emit(&p, BPF_LD | BPF_W | BPF_LEN, 0, 0, 0);
	emit_test_or_fallback(&p, BPF_JGE, STEER_FIRST + STEER_BLOCK + tail);
	emit(&p, BPF_LD | BPF_W | BPF_ABS, 0, 0, 0);
	emit_test_or_fallback(&p, BPF_JEQ, be32("SIP/"));
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
	return (int)p.n;
}

int tp_steer_attach(int fd, const char *prefix, size_t *scan_bytes)
{
	struct sock_filter *insns = calloc(BPF_MAXINSNS, sizeof(*insns));
	int err = -EINVAL;

	if (!insns)
		return -ENOMEM;
	/* Longest scan first; a kernel whose optmem_max refuses the program
	 * (ENOMEM) gets a shorter one. */
	for (size_t scan = 1024; scan >= 128; scan /= 2) {
		int n = tp_steer_build(prefix, scan, insns, BPF_MAXINSNS);
		if (n < 0) {
			err = n;
			continue;
		}
		struct sock_fprog prog = { .len = (unsigned short)n, .filter = insns };
		if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof(prog)) == 0) {
			*scan_bytes = scan;
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
