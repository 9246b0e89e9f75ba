/* libFuzzer harness for the sip layer's message path: sip_msg_parse on an
 * exact-size heap copy (and the response peek before it), then everything the
 * daemon does with a parsed message: Contact lists, Authorization credentials,
 * and a reply. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sip/sip.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void walk_addrs(const struct sip_msg *msg, enum sip_hdr_id id)
{
	const struct sip_hdr *h;
	struct sip_addr a;

	for (h = sip_msg_hdr(msg, id); h; h = sip_msg_hdr_next(msg, h)) {
		struct slice cur = h->value;
		int n = 0;
		while (sip_addr_list_next(&cur, &a) == 1) {
			struct slice v;
			(void)sip_param_find(a.params, "expires", &v);
			(void)sip_param_find(a.uri.params, "transport", &v);
			if (++n > 1000)
				abort(); /* the cursor must always advance */
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct sip_msg msg;
	struct sip_parse_err err;
	struct sip_digest_cred cred;
	struct sip_src src = { "2001:db8::7", 5062 };
	char out[4096];
	struct sip_buf b;
	const struct sip_hdr *h;
	char *buf = malloc(size ? size : 1);
	int rc;

	if (!buf)
		return 0;
	if (size)
		memcpy(buf, data, size);
	/* The peek before the parse (the daemon routes responses with it) reads
	 * within the buffer, and agrees with the parser whenever both answer. */
	struct slice peeked;
	bool peek_ok = sip_peek_response_branch(buf, size, &peeked);
	if (peek_ok && (peeked.p < buf || peeked.p + peeked.len > buf + size))
		abort();
	rc = sip_msg_parse(&msg, buf, size, &err);
	if (rc == 0 && peek_ok && !msg.is_request &&
	    (peeked.p != msg.via1.branch.p || peeked.len != msg.via1.branch.len))
		abort();
	if (rc == 0 || err.can_reply) {
		if (msg.len > size || msg.body.len > msg.len)
			abort();
		walk_addrs(&msg, SIP_HDR_CONTACT);
		walk_addrs(&msg, SIP_HDR_ROUTE);
		for (h = sip_msg_hdr(&msg, SIP_HDR_AUTHORIZATION); h; h = sip_msg_hdr_next(&msg, h))
			(void)sip_digest_cred_parse(&cred, h->value);
		(void)sip_msg_hdr_by_name(&msg, "Subject");
		sip_buf_init(&b, out, sizeof(out));
		rc = sip_reply_build(&b, &msg, rc ? err.status : 401, NULL, "fz", &src,
				     "WWW-Authenticate: Digest realm=\"x\", nonce=\"y\"\r\n");
		if (rc == 0 && b.len > sizeof(out))
			abort();
		sip_buf_init(&b, out, sizeof(out));
		(void)sip_reply_build(&b, &msg, 100, "Trying", NULL, NULL, NULL);
	}
	free(buf);
	return 0;
}
