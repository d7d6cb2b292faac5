// SPDX-License-Identifier: Apache-2.0
/*
 * userfaultfd backend (skeleton: not implemented yet).
 */
#include <errno.h>
#include <stdio.h>

#include "ummu_backend.h"

static int uffd_probe(char *why, size_t len)
{
	if (why && len)
		snprintf(why, len, "userfaultfd backend: not implemented yet");
	return -ENOSYS;
}

static int uffd_open(struct ummu_backend **out, char *why, size_t len)
{
	*out = NULL;
	return uffd_probe(why, len);
}

static uint32_t uffd_capabilities(const struct ummu_backend *b)
{
	(void)b;
	return 0;
}

static int uffd_watch(struct ummu_backend *b, uint64_t start, uint64_t end,
		      uint64_t cookie, char *why, size_t len)
{
	(void)b; (void)start; (void)end; (void)cookie;
	return uffd_probe(why, len);
}

static int uffd_unwatch(struct ummu_backend *b, uint64_t cookie)
{
	(void)b; (void)cookie;
	return -ENOSYS;
}

static ssize_t uffd_read(struct ummu_backend *b, struct ummunotify_event *buf,
			 size_t max)
{
	(void)b; (void)buf; (void)max;
	return -ENOSYS;
}

static const volatile uint64_t *uffd_counter(const struct ummu_backend *b)
{
	(void)b;
	return NULL;
}

static int uffd_pollfd(const struct ummu_backend *b)
{
	(void)b;
	return -ENOSYS;
}

static void uffd_close(struct ummu_backend *b)
{
	(void)b;
}

__attribute__((visibility("hidden")))
const struct ummu_backend_ops ummu_userfaultfd_ops = {
	.name = "userfaultfd",
	.probe = uffd_probe,
	.open = uffd_open,
	.capabilities = uffd_capabilities,
	.watch = uffd_watch,
	.unwatch = uffd_unwatch,
	.read = uffd_read,
	.counter = uffd_counter,
	.pollfd = uffd_pollfd,
	.close = uffd_close,
};
