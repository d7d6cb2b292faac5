/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Small helpers shared by the libummu sources. Everything here is static
 * inline, so nothing leaks into the library's symbol table.
 */
#ifndef UMMU_UTIL_H
#define UMMU_UTIL_H

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#define UMMU_WHY_LEN 512

/*
 * Formats a reason into why (when the caller wants one) and returns ret, so
 * that a failure path is one statement: return ummu_why(why, len, -e, ...).
 */
static inline int ummu_why(char *why, size_t len, int ret, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static inline int ummu_why(char *why, size_t len, int ret, const char *fmt, ...)
{
	va_list ap;

	if (why && len) {
		va_start(ap, fmt);
		vsnprintf(why, len, fmt, ap);
		va_end(ap);
	}
	return ret;
}

/* The C library's text for e, thread-safe (GNU strerror_r). */
static inline const char *ummu_strerror(int e, char *buf, size_t len)
{
	return strerror_r(e < 0 ? -e : e, buf, len);
}

#define UMMU_STRERROR(e) ummu_strerror((e), (char[128]){0}, 128)

#endif /* UMMU_UTIL_H */
