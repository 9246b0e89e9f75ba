/* The byte-class table behind the sip layer's character predicates (RFC 3261
 * §25.1 token, LWS, generic-param characters; §19.1 host and URI characters;
 * RFC 3986 §3.1 scheme characters). Built at compile time from the same rules
 * the predicates used to spell out, so a scanner pays one load per byte. */
#include "sip/sip_int.h"

#define IN(c, lo, hi) ((c) >= (lo) && (c) <= (hi))
#define ALPHA(c) (IN(c, 'a', 'z') || IN(c, 'A', 'Z'))
#define DIGIT(c) IN(c, '0', '9')
#define TOKEN(c) (ALPHA(c) || DIGIT(c) || (c) == '-' || (c) == '.' || (c) == '!' || (c) == '%' || \
		  (c) == '*' || (c) == '_' || (c) == '+' || (c) == '`' || (c) == '\'' || (c) == '~')
#define PARAM(c) (TOKEN(c) || (c) == '[' || (c) == ']' || (c) == '/' || (c) == ':' || (c) == '&' || \
		  (c) == '$')
#define LWS(c) ((c) == ' ' || (c) == '\t' || (c) == '\r' || (c) == '\n')
#define HEX(c) (DIGIT(c) || IN(c, 'a', 'f') || IN(c, 'A', 'F'))
#define HOST(c) (ALPHA(c) || DIGIT(c) || (c) == '-' || (c) == '.' || (c) == '_')
#define URI(c) ((c) > 0x20 && (c) != 0x7f && (c) != '"' && (c) != '<' && (c) != '>')
#define SCHEME(c) (ALPHA(c) || DIGIT(c) || (c) == '+' || (c) == '-' || (c) == '.')
#define AUTHVAL(c) (TOKEN(c) || (c) == '/' || (c) == ':' || (c) == '@' || (c) == '=' || (c) == '[' || \
		    (c) == ']')

#define BIT(cond, bit) ((cond) ? (bit) : 0)
#define CC(c)                                                                                    \
	(uint16_t)(BIT(TOKEN(c), SIP_CC_TOKEN) | BIT(PARAM(c), SIP_CC_PARAM) |                  \
		   BIT(LWS(c), SIP_CC_LWS) | BIT(DIGIT(c), SIP_CC_DIGIT) |                       \
		   BIT(ALPHA(c), SIP_CC_ALPHA) | BIT(HEX(c), SIP_CC_HEX) |                       \
		   BIT(HOST(c), SIP_CC_HOST) | BIT(URI(c), SIP_CC_URI) |                         \
		   BIT(SCHEME(c), SIP_CC_SCHEME) | BIT(AUTHVAL(c), SIP_CC_AUTHVAL) |             \
		   BIT(IN(c, 'A', 'Z'), SIP_CC_UPPER) | BIT((c) > 0x20 && (c) != 0x7f, SIP_CC_WORD) |    \
		   BIT((c) != '"' && (c) != '\\', SIP_CC_QTEXT))
#define CC4(c) CC(c), CC((c) + 1), CC((c) + 2), CC((c) + 3)
#define CC16(c) CC4(c), CC4((c) + 4), CC4((c) + 8), CC4((c) + 12)
#define CC64(c) CC16(c), CC16((c) + 16), CC16((c) + 32), CC16((c) + 48)

const uint16_t sip_cc[256] = { CC64(0), CC64(64), CC64(128), CC64(192) };
