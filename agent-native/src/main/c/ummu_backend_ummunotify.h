/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The ummunotify backend's probe and open on any path, so that the C tests
 * can exercise the failure reasons (missing node, not a device, wrong
 * driver) on a host without the module. The library itself only ever uses
 * /dev/ummunotify. Hidden like everything but JNI_OnLoad.
 */
#ifndef UMMU_BACKEND_UMMUNOTIFY_H
#define UMMU_BACKEND_UMMUNOTIFY_H

#include <stddef.h>

struct ummu_backend;

int ummu_ummunotify_probe_path(const char *path, char *why, size_t len);
int ummu_ummunotify_open_path(const char *path, struct ummu_backend **out,
			      char *why, size_t len);

#endif /* UMMU_BACKEND_UMMUNOTIFY_H */
