/* libFuzzer harness for the TCP/TLS stream framer (transport/frame.c): the
 * input is scanned as a connection buffer, consuming message after message as
 * a connection would, checking every reported length stays inside it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "transport/tp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size ? size : 1);
	size_t off = 0;

	if (!buf)
		return 0;
	if (size)
		memcpy(buf, data, size);
	for (int i = 0; i < 1000 && off < size; i++) {
		size_t skip, len;
		enum tp_frame f = tp_frame_scan(buf + off, size - off, 4096, &skip, &len);
		if (skip > size - off || (f == TP_FRAME_MSG && skip + len > size - off))
			abort();
		if (f == TP_FRAME_MSG)
			off += skip + len;
		else if (f == TP_FRAME_PING)
			off += skip;
		else
			break;
	}
	free(buf);
	return 0;
}
