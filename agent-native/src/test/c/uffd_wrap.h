/* SPDX-License-Identifier: Apache-2.0 */
/* See uffd_wrap.c: calls the reader thread must never make, counted. */
#ifndef UFFD_WRAP_H
#define UFFD_WRAP_H

#include <stdatomic.h>

extern atomic_int uffd_reader_calls;

#endif /* UFFD_WRAP_H */
