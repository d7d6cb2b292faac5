/* SPDX-License-Identifier: Apache-2.0 */
/* See uffd_wrap.c: calls the reader thread must never make, counted. */
#ifndef UFFD_WRAP_H
#define UFFD_WRAP_H

#include <stdatomic.h>
#include <stdint.h>

extern atomic_int uffd_reader_calls;
/* UFFDIO_WRITEPROTECT: 0 real, -1 "succeeds", > 0 fails with that errno */
extern atomic_int uffd_wp_probe_fault;
/* Runs once before the next UFFDIO_REGISTER reaches the kernel, then clears. */
extern void (*_Atomic uffd_before_register)(uint64_t start, uint64_t len);
/* Runs once right after the next UFFDIO_REGISTER returned, then clears. */
extern void (*_Atomic uffd_after_register)(uint64_t start, uint64_t len);

#endif /* UFFD_WRAP_H */
