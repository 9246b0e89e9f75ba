/* Integer to text without printf (fmt.h). */
#include "base/fmt.h"

size_t fmt_u64(char *out, uint64_t v)
{
	char tmp[FMT_U64_MAX];
	size_t n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	for (size_t i = 0; i < n; i++)
		out[i] = tmp[n - 1 - i];
	out[n] = '\0';
	return n;
}

size_t fmt_hex64(char *out, uint64_t v, unsigned width)
{
	static const char digits[] = "0123456789abcdef";
	size_t n = v ? (size_t)(64 - __builtin_clzll(v) + 3) / 4 : 1;

	if (width > 16)
		width = 16;
	if (n < width)
		n = width;
	out[n] = '\0';
	for (size_t i = n; i > 0; i--) {
		out[i - 1] = digits[v & 0xf];
		v >>= 4;
	}
	return n;
}
