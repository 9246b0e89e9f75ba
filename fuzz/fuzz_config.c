/* libFuzzer harness for the configuration loader (app/config.c): the input is
 * written to an in-memory file and loaded as sipwarden.conf; errors must come
 * back as text naming a line, never as a crash. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "app/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct sw_config cfg;
	char path[64], err[600];
	int fd = memfd_create("sipwarden-conf", MFD_CLOEXEC);

	if (fd < 0)
		return 0;
	if (size && write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return 0;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	config_defaults(&cfg);
	err[0] = '\0';
	if (config_load_file(&cfg, path, err, sizeof(err)) == 0)
		config_finish(&cfg, err, sizeof(err));
	else if (err[0] == '\0')
		abort(); /* a rejected file always says why */
	close(fd);
	return 0;
}
