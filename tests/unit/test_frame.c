/* Unit tests for TCP stream framing (transport/frame.c, RFC 3261 §18.3, RFC 5626 §3.5.1),
 * and the scanner against a plain byte-by-byte form of the same rules on
 * generated streams. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include "transport/tp.h"

static enum tp_frame scan(const char *s, size_t max, size_t *skip, size_t *len)
{
	return tp_frame_scan(s, strlen(s), max, skip, len);
}

static void whole_message_without_body(void **state)
{
	(void)state;
	const char *m = "OPTIONS sip:a SIP/2.0\r\nContent-Length: 0\r\n\r\nNEXT";
	size_t skip, len;
	assert_int_equal(scan(m, 65535, &skip, &len), TP_FRAME_MSG);
	assert_int_equal(skip, 0);
	assert_int_equal(len, strlen(m) - 4);
}

static void body_by_content_length(void **state)
{
	(void)state;
	const char *m = "MESSAGE sip:a SIP/2.0\r\nl: 5\r\n\r\nhelloEXTRA";
	size_t skip, len;
	assert_int_equal(scan(m, 65535, &skip, &len), TP_FRAME_MSG);
	assert_int_equal(len, strlen(m) - 5);
}

static void partial_headers_and_body_need_more(void **state)
{
	(void)state;
	size_t skip, len;
	assert_int_equal(scan("REGISTER sip:a SIP/2.0\r\nVia: x\r\n", 65535, &skip, &len), TP_FRAME_MORE);
	assert_int_equal(scan("MESSAGE sip:a SIP/2.0\r\nContent-Length: 10\r\n\r\nabc", 65535, &skip, &len),
			 TP_FRAME_MORE);
}

static void keepalive_ping_and_leading_crlf(void **state)
{
	(void)state;
	size_t skip, len;
	assert_int_equal(scan("\r\n\r\nOPTIONS", 65535, &skip, &len), TP_FRAME_PING);
	assert_int_equal(skip, 4);
	assert_int_equal(scan("\r\nOPTIONS sip:a SIP/2.0\r\n\r\n", 65535, &skip, &len), TP_FRAME_MSG);
	assert_int_equal(skip, 2);
	assert_int_equal(scan("\r\n", 65535, &skip, &len), TP_FRAME_MORE);
}

static void content_length_is_not_trusted(void **state)
{
	(void)state;
	size_t skip, len;
	/* Larger than the limit: refused at once, not waited for. */
	assert_int_equal(scan("INVITE sip:a SIP/2.0\r\nContent-Length: 99999999\r\n\r\n", 65535, &skip, &len),
			 TP_FRAME_BAD);
	assert_int_equal(scan("INVITE sip:a SIP/2.0\r\nContent-Length: 70000\r\n\r\n", 65535, &skip, &len),
			 TP_FRAME_BAD);
	/* Conflicting or non-numeric values. */
	assert_int_equal(scan("INVITE sip:a SIP/2.0\r\nContent-Length: 1\r\nl: 2\r\n\r\nab", 65535, &skip, &len),
			 TP_FRAME_BAD);
	assert_int_equal(scan("INVITE sip:a SIP/2.0\r\nContent-Length: 1x\r\n\r\nab", 65535, &skip, &len),
			 TP_FRAME_BAD);
	assert_int_equal(scan("INVITE sip:a SIP/2.0\r\nContent-Length: -1\r\n\r\n", 65535, &skip, &len),
			 TP_FRAME_BAD);
}

static void endless_headers_are_cut_at_the_limit(void **state)
{
	(void)state;
	char buf[200];
	size_t skip, len;
	memset(buf, 'a', sizeof(buf) - 1);
	buf[sizeof(buf) - 1] = '\0';
	assert_int_equal(scan(buf, 256, &skip, &len), TP_FRAME_MORE);
	assert_int_equal(scan(buf, 100, &skip, &len), TP_FRAME_BAD);
	/* exactly at the limit is still acceptable */
	const char *m = "A sip:a SIP/2.0\r\nContent-Length: 3\r\n\r\nabc";
	assert_int_equal(scan(m, strlen(m), &skip, &len), TP_FRAME_MSG);
	assert_int_equal(scan(m, strlen(m) - 1, &skip, &len), TP_FRAME_BAD);
}

/* The framing rules read byte by byte, as plainly as they are stated. */
static long ref_content_length(const char *h, size_t len)
{
	long value = -1;

	for (size_t i = 0; i < len;) {
		size_t eol = i;
		while (eol < len && h[eol] != '\n')
			eol++;
		const char *line = h + i;
		size_t n = eol - i, namelen = 0;
		if (n > 15 && strncasecmp(line, "Content-Length", 14) == 0)
			namelen = 14;
		else if (n > 1 && (line[0] == 'l' || line[0] == 'L') && (line[1] == ':' || line[1] == ' ' || line[1] == '\t'))
			namelen = 1;
		if (namelen) {
			size_t j = namelen;
			while (j < n && (line[j] == ' ' || line[j] == '\t'))
				j++;
			if (j < n && line[j] == ':') {
				long v = 0;
				int digits = 0;
				for (j++; j < n && (line[j] == ' ' || line[j] == '\t'); j++)
					;
				for (; j < n && line[j] >= '0' && line[j] <= '9'; j++, digits++) {
					if (v > 10000000)
						return -2;
					v = v * 10 + (line[j] - '0');
				}
				while (j < n && (line[j] == ' ' || line[j] == '\t' || line[j] == '\r'))
					j++;
				if (!digits || j != n || (value >= 0 && value != v))
					return -2;
				value = v;
			}
		}
		i = eol + 1;
	}
	return value;
}

static enum tp_frame ref_scan(const char *buf, size_t len, size_t max, size_t *skip, size_t *msg_len)
{
	size_t s = 0, hdr_len = 0;

	*skip = 0;
	*msg_len = 0;
	if (len >= 4 && memcmp(buf, "\r\n\r\n", 4) == 0) {
		*skip = 4;
		return TP_FRAME_PING;
	}
	while (s < len && (buf[s] == '\r' || buf[s] == '\n'))
		s++;
	if (s == len) {
		if (len >= 4)
			*skip = len;
		return TP_FRAME_MORE;
	}
	*skip = s;
	const char *p = buf + s;
	size_t n = len - s;
	for (size_t i = 0; i + 1 < n && !hdr_len; i++) {
		if (p[i] == '\n' && p[i + 1] == '\n')
			hdr_len = i + 2;
		else if (p[i] == '\n' && p[i + 1] == '\r' && i + 2 < n && p[i + 2] == '\n')
			hdr_len = i + 3;
	}
	if (!hdr_len)
		return n > max ? TP_FRAME_BAD : TP_FRAME_MORE;
	long cl = ref_content_length(p, hdr_len);
	if (cl == -2)
		return TP_FRAME_BAD;
	if (cl < 0)
		cl = 0;
	if (hdr_len + (size_t)cl > max)
		return TP_FRAME_BAD;
	if (n < hdr_len + (size_t)cl)
		return TP_FRAME_MORE;
	*msg_len = hdr_len + (size_t)cl;
	return TP_FRAME_MSG;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static unsigned rnd(unsigned n)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (unsigned)(rng_state % n);
}

/* Streams of header-like lines (Content-Length in its long, compact, odd and
 * broken spellings among others), mixed line ends, bodies, leading CRLFs,
 * cut at any length and scanned with several limits: both readings agree. */
static void scanner_matches_the_plain_rules(void **state)
{
	static const char *const lines[] = {
		"INVITE sip:a@b SIP/2.0", "SIP/2.0 200 OK", "Via: SIP/2.0/TCP h;branch=z9hG4bK1",
		"Content-Length: 5", "Content-Length:0", "content-length :  12 ", "CONTENT-LENGTH: 3x",
		"Content-Length: -1", "Content-Length: 99999999999", "Content-Lengthy: 4", "Content-Length:",
		"l: 5", "l:5", "L\t: 0", "l :7", "lx: 3", "l", "Contact: <sip:a@b>", "Content-Length: 5\r",
		"", "\r", " folded continuation", "Content-Type: text/plain",
	};
	static const char *const ends[] = { "\r\n", "\n", "\n\r\n", "\r\n\r\n", "\n\n" };
	char buf[2048];
	unsigned agreed_msg = 0;

	(void)state;
	for (int iter = 0; iter < 200000; iter++) {
		size_t o = 0;
		unsigned lead = rnd(4);
		for (unsigned i = 0; i < lead; i++)
			buf[o++] = rnd(2) ? '\r' : '\n';
		unsigned nlines = 1 + rnd(8);
		for (unsigned i = 0; i < nlines && o < 1500; i++) {
			const char *l = lines[rnd(sizeof(lines) / sizeof(lines[0]))];
			const char *e = ends[rnd(4) ? 0 : rnd(sizeof(ends) / sizeof(ends[0]))];
			memcpy(buf + o, l, strlen(l));
			o += strlen(l);
			memcpy(buf + o, e, strlen(e));
			o += strlen(e);
		}
		if (rnd(2)) {
			memcpy(buf + o, "\r\n", 2);
			o += 2;
		}
		unsigned body = rnd(16);
		for (unsigned i = 0; i < body; i++)
			buf[o++] = (char)('a' + rnd(3));
		size_t len = rnd(4) ? o : rnd((unsigned)o + 1);
		size_t max = rnd(3) == 0 ? 1 + rnd(200) : 65535;
		size_t skip_a, len_a, skip_b, len_b;
		enum tp_frame a = tp_frame_scan(buf, len, max, &skip_a, &len_a);
		enum tp_frame b = ref_scan(buf, len, max, &skip_b, &len_b);
		if (a != b || skip_a != skip_b || len_a != len_b)
			fail_msg("iteration %d: scanner %d/%zu/%zu, plain rules %d/%zu/%zu on \"%.*s\"", iter, a, skip_a,
				 len_a, b, skip_b, len_b, (int)len, buf);
		agreed_msg += a == TP_FRAME_MSG;
	}
	/* the streams reach every outcome, complete messages included */
	assert_true(agreed_msg > 10000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(whole_message_without_body),
		cmocka_unit_test(body_by_content_length),
		cmocka_unit_test(partial_headers_and_body_need_more),
		cmocka_unit_test(keepalive_ping_and_leading_crlf),
		cmocka_unit_test(content_length_is_not_trusted),
		cmocka_unit_test(endless_headers_are_cut_at_the_limit),
		cmocka_unit_test(scanner_matches_the_plain_rules),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
