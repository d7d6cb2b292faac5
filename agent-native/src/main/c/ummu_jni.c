// SPDX-License-Identifier: Apache-2.0
/*
 * JNI glue for io.ummu.internal.Native (agent-java). The two files change
 * together; UMMU_ABI_VERSION must equal Native.ABI_VERSION.
 *
 * Natives are registered from a table in JNI_OnLoad, the only exported
 * symbol, so no Java_* name is ever looked up and nothing else of the
 * library is visible to other code in the process.
 *
 * A handle is a struct ummu_handle: the backend plus an epoll set over the
 * backend's poll descriptor and an eventfd, so that close() can wake a
 * thread blocked in await(). Native.close() never races another call on the
 * same handle (the Java side guarantees it), so nothing here locks.
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <jni.h>

#include "ummu_backend.h"
#include "ummu_util.h"

#define UMMU_ABI_VERSION 2

#define NATIVE_CLASS "io/ummu/internal/Native"
#define EXCEPTION_CLASS "io/ummu/MemoryNotifierException"

/* await() results, as documented in Native.java. */
#define AWAIT_TIMED_OUT 0
#define AWAIT_READABLE 1
#define AWAIT_WOKEN 2

/* epoll_event.data tags */
#define TAG_BACKEND 1
#define TAG_WAKEUP 2

struct ummu_handle {
	const struct ummu_backend_ops *ops;
	struct ummu_backend *b;
	int epfd;
	int evfd;
};

static const struct ummu_backend_ops *const backends[UMMU_BACKEND_COUNT] = {
	[UMMU_BACKEND_UMMUNOTIFY] = &ummu_ummunotify_ops,
	[UMMU_BACKEND_USERFAULTFD] = &ummu_userfaultfd_ops,
};

/* Global refs and ids cached in JNI_OnLoad. */
static jclass exception_class;		/* io.ummu.MemoryNotifierException */
static jmethodID exception_ctor;	/* (String message, int errno) */
static jclass iae_class;		/* java.lang.IllegalArgumentException */
static jmethodID buffer_is_read_only;	/* java.nio.Buffer.isReadOnly() */

static long page_size;

static inline struct ummu_handle *handle_of(jlong h)
{
	return (struct ummu_handle *)(uintptr_t)h;
}

/*
 * NewStringUTF wants modified UTF-8; paths and user names from the system
 * may be anything, so bytes outside ASCII become '?' rather than risk an
 * invalid string.
 */
static jstring new_string(JNIEnv *env, const char *s)
{
	char buf[UMMU_WHY_LEN];
	size_t i;

	for (i = 0; s[i] && i < sizeof(buf) - 1; i++)
		buf[i] = (unsigned char)s[i] < 0x80 ? s[i] : '?';
	buf[i] = '\0';
	return (*env)->NewStringUTF(env, buf);
}

static void throw_notifier_exception(JNIEnv *env, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void throw_notifier_exception(JNIEnv *env, int err, const char *fmt, ...)
{
	char msg[UMMU_WHY_LEN];
	jstring jmsg;
	jobject ex;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	jmsg = new_string(env, msg);
	if (!jmsg)
		return; /* OutOfMemoryError pending */
	ex = (*env)->NewObject(env, exception_class, exception_ctor, jmsg,
			       (jint)err);
	if (ex)
		(*env)->Throw(env, (jthrowable)ex);
	(*env)->DeleteLocalRef(env, jmsg);
}

static const struct ummu_backend_ops *backend_ops(jint id)
{
	if (id < 0 || id >= UMMU_BACKEND_COUNT)
		return NULL;
	return backends[id];
}

static jint JNICALL n_abi_version(JNIEnv *env, jclass cls)
{
	(void)env;
	(void)cls;
	return UMMU_ABI_VERSION;
}

static jstring JNICALL n_probe(JNIEnv *env, jclass cls, jint id)
{
	const struct ummu_backend_ops *ops = backend_ops(id);
	char why[UMMU_WHY_LEN] = "";
	int ret;

	(void)cls;
	if (!ops) {
		snprintf(why, sizeof(why), "unknown backend id %d", (int)id);
		return new_string(env, why);
	}
	ret = ops->probe(why, sizeof(why));
	if (ret == 0)
		return NULL;
	if (!why[0])
		snprintf(why, sizeof(why), "%s: %s", ops->name,
			 UMMU_STRERROR(ret));
	return new_string(env, why);
}

static jlong JNICALL n_open(JNIEnv *env, jclass cls, jint id)
{
	const struct ummu_backend_ops *ops = backend_ops(id);
	struct epoll_event ev = { .events = EPOLLIN };
	char why[UMMU_WHY_LEN] = "";
	struct ummu_handle *h;
	int ret, e;

	(void)cls;
	if (!ops) {
		(*env)->ThrowNew(env, iae_class, "open: unknown backend id");
		return 0;
	}
	h = calloc(1, sizeof(*h));
	if (!h) {
		throw_notifier_exception(env, ENOMEM, "open(%s): out of memory",
					 ops->name);
		return 0;
	}
	h->ops = ops;
	h->epfd = -1;
	h->evfd = -1;

	ret = ops->open(&h->b, why, sizeof(why));
	if (ret < 0 || !h->b) {
		if (ret >= 0)
			ret = -EIO;
		throw_notifier_exception(env, -ret, "open(%s): %s", ops->name,
					 why[0] ? why : UMMU_STRERROR(ret));
		goto err_free;
	}

	h->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (h->epfd < 0) {
		e = errno;
		throw_notifier_exception(env, e, "open(%s): epoll_create1: %s",
					 ops->name, UMMU_STRERROR(e));
		goto err_backend;
	}
	/* Never reset: a wakeup is sticky (see n_await). */
	h->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (h->evfd < 0) {
		e = errno;
		throw_notifier_exception(env, e, "open(%s): eventfd: %s",
					 ops->name, UMMU_STRERROR(e));
		goto err_epoll;
	}
	ev.data.u32 = TAG_BACKEND;
	if (epoll_ctl(h->epfd, EPOLL_CTL_ADD, ops->pollfd(h->b), &ev) != 0) {
		e = errno;
		throw_notifier_exception(env, e,
					 "open(%s): epoll_ctl(ADD, backend fd %d): %s",
					 ops->name, ops->pollfd(h->b),
					 UMMU_STRERROR(e));
		goto err_eventfd;
	}
	ev.data.u32 = TAG_WAKEUP;
	if (epoll_ctl(h->epfd, EPOLL_CTL_ADD, h->evfd, &ev) != 0) {
		e = errno;
		throw_notifier_exception(env, e,
					 "open(%s): epoll_ctl(ADD, eventfd): %s",
					 ops->name, UMMU_STRERROR(e));
		goto err_eventfd;
	}
	return (jlong)(uintptr_t)h;

err_eventfd:
	close(h->evfd);
err_epoll:
	close(h->epfd);
err_backend:
	ops->close(h->b);
err_free:
	free(h);
	return 0;
}

static jint JNICALL n_capabilities(JNIEnv *env, jclass cls, jlong handle)
{
	struct ummu_handle *h = handle_of(handle);

	(void)env;
	(void)cls;
	if (!h)
		return 0;
	return (jint)h->ops->capabilities(h->b);
}

static jobject JNICALL n_counter_page(JNIEnv *env, jclass cls, jlong handle)
{
	struct ummu_handle *h = handle_of(handle);
	const volatile uint64_t *counter;

	(void)cls;
	if (!h)
		return NULL;
	counter = h->ops->counter(h->b);
	if (!counter)
		return NULL;
	/*
	 * The page is mapped PROT_READ: Java must only read it (a write would
	 * fault). The buffer cannot be made read-only from JNI; the Java side
	 * wraps it with asReadOnlyBuffer() before anyone else sees it.
	 */
	return (*env)->NewDirectByteBuffer(env, (void *)(uintptr_t)counter,
					   (jlong)page_size);
}

static jint JNICALL n_watch(JNIEnv *env, jclass cls, jlong handle, jlong start,
			    jlong end, jlong cookie, jobjectArray why_out)
{
	struct ummu_handle *h = handle_of(handle);
	char why[UMMU_WHY_LEN] = "";
	jstring s;
	int ret;

	(void)cls;
	if (!h)
		return -EBADF;
	ret = h->ops->watch(h->b, (uint64_t)start, (uint64_t)end,
			    (uint64_t)cookie, why, sizeof(why));
	if (ret < 0 && why[0] && why_out &&
	    (*env)->GetArrayLength(env, why_out) >= 1) {
		s = new_string(env, why);
		if (!s)
			return ret; /* OutOfMemoryError pending */
		(*env)->SetObjectArrayElement(env, why_out, 0, s);
		(*env)->DeleteLocalRef(env, s);
	}
	return ret;
}

static jint JNICALL n_unwatch(JNIEnv *env, jclass cls, jlong handle,
			      jlong cookie)
{
	struct ummu_handle *h = handle_of(handle);

	(void)env;
	(void)cls;
	if (!h)
		return -EBADF;
	return h->ops->unwatch(h->b, (uint64_t)cookie);
}

static jint JNICALL n_read(JNIEnv *env, jclass cls, jlong handle, jobject dst,
			   jint max)
{
	struct ummu_handle *h = handle_of(handle);
	jlong capacity;
	ssize_t n;
	void *addr;

	(void)cls;
	if (!h)
		return -EBADF;
	if (!dst || max < 0)
		return -EINVAL;
	addr = (*env)->GetDirectBufferAddress(env, dst);
	capacity = (*env)->GetDirectBufferCapacity(env, dst);
	/* NULL / -1: a heap buffer, which we cannot fill without a copy. */
	if (!addr || capacity < 0)
		return -EINVAL;
	if (max > capacity / UMMU_EVENT_SIZE)
		return -EINVAL;
	/* A read-only direct buffer still has an address; do not write through it. */
	if ((*env)->CallBooleanMethod(env, dst, buffer_is_read_only))
		return -EINVAL;
	if ((*env)->ExceptionCheck(env))
		return -EINVAL;
	if (max == 0)
		return 0;
	n = h->ops->read(h->b, addr, (size_t)max);
	return (jint)n;
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/*
 * Waits on the backend's descriptor and the wakeup eventfd. The eventfd is
 * never drained: Native.wakeup() exists so that close() can release every
 * thread in await(), and a sticky wakeup cannot be missed by a thread that
 * enters await() just after it. After wakeup() every await() returns at
 * once: AWAIT_READABLE when the backend has events (so that a woken handle
 * can still be polled with a zero timeout, as the notifier does while the
 * VM exits), else AWAIT_WOKEN.
 */
static jint JNICALL n_await(JNIEnv *env, jclass cls, jlong handle,
			    jlong timeout_nanos)
{
	struct ummu_handle *h = handle_of(handle);
	struct epoll_event evs[2];
	int64_t deadline = 0, left;
	int timeout_ms, n, i, readable;

	(void)env;
	(void)cls;
	if (!h)
		return -EBADF;
	if (timeout_nanos >= 0) {
		deadline = now_ns();
		deadline = timeout_nanos > INT64_MAX - deadline ?
			   INT64_MAX : deadline + timeout_nanos;
	}
	for (;;) {
		if (timeout_nanos < 0) {
			timeout_ms = -1;
		} else {
			/* Round up: waking before the deadline would spin. */
			left = deadline - now_ns();
			if (left < 0)
				left = 0;
			timeout_ms = left / 1000000 >= INT_MAX ?
				     INT_MAX : (int)((left + 999999) / 1000000);
		}
		n = epoll_wait(h->epfd, evs, 2, timeout_ms);
		if (n < 0) {
			if (errno != EINTR)
				return -errno;
			if (timeout_nanos >= 0 && now_ns() >= deadline)
				return AWAIT_TIMED_OUT;
			continue;
		}
		if (n == 0) {
			if (timeout_nanos < 0 || now_ns() >= deadline)
				return AWAIT_TIMED_OUT;
			continue;
		}
		readable = 0;
		for (i = 0; i < n; i++) {
			if (evs[i].data.u32 == TAG_BACKEND)
				readable = 1;
		}
		return readable ? AWAIT_READABLE : AWAIT_WOKEN;
	}
}

static void JNICALL n_wakeup(JNIEnv *env, jclass cls, jlong handle)
{
	struct ummu_handle *h = handle_of(handle);
	uint64_t one = 1;

	(void)env;
	(void)cls;
	if (!h)
		return;
	/* EAGAIN only when the counter would overflow: it is readable then anyway. */
	while (write(h->evfd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
}

static void JNICALL n_close(JNIEnv *env, jclass cls, jlong handle)
{
	struct ummu_handle *h = handle_of(handle);

	(void)env;
	(void)cls;
	if (!h)
		return;
	close(h->epfd);
	close(h->evfd);
	h->ops->close(h->b);
	free(h);
}

/* As n_close, but the counter page stays mapped, reading UMMU_COUNTER_CLOSED. */
static jint JNICALL n_retire(JNIEnv *env, jclass cls, jlong handle)
{
	struct ummu_handle *h = handle_of(handle);
	int ret;

	(void)env;
	(void)cls;
	if (!h)
		return -EINVAL;
	close(h->epfd);
	close(h->evfd);
	ret = h->ops->retire(h->b);
	free(h);
	return ret;
}

/*
 * Unmaps a retired handle's counter page, given as the buffer n_counter_page
 * made: only a page-aligned buffer of exactly one page, so that a wrong
 * argument is refused rather than unmapping a neighbour.
 */
static jint JNICALL n_unmap_counter_page(JNIEnv *env, jclass cls, jobject page)
{
	void *p;

	(void)cls;
	if (!page)
		return -EINVAL;
	p = (*env)->GetDirectBufferAddress(env, page);
	if (!p || (*env)->GetDirectBufferCapacity(env, page) != (jlong)page_size ||
	    (uintptr_t)p % (uintptr_t)page_size)
		return -EINVAL;
	return munmap(p, (size_t)page_size) ? -errno : 0;
}

#define ERRNO_NAME(e) [e] = #e
static const char *const errno_names[] = {
	ERRNO_NAME(EPERM),	ERRNO_NAME(ENOENT),	ERRNO_NAME(ESRCH),
	ERRNO_NAME(EINTR),	ERRNO_NAME(EIO),	ERRNO_NAME(ENXIO),
	ERRNO_NAME(E2BIG),	ERRNO_NAME(ENOEXEC),	ERRNO_NAME(EBADF),
	ERRNO_NAME(ECHILD),	ERRNO_NAME(EAGAIN),	ERRNO_NAME(ENOMEM),
	ERRNO_NAME(EACCES),	ERRNO_NAME(EFAULT),	ERRNO_NAME(EBUSY),
	ERRNO_NAME(EEXIST),	ERRNO_NAME(EXDEV),	ERRNO_NAME(ENODEV),
	ERRNO_NAME(ENOTDIR),	ERRNO_NAME(EISDIR),	ERRNO_NAME(EINVAL),
	ERRNO_NAME(ENFILE),	ERRNO_NAME(EMFILE),	ERRNO_NAME(ENOTTY),
	ERRNO_NAME(ETXTBSY),	ERRNO_NAME(EFBIG),	ERRNO_NAME(ENOSPC),
	ERRNO_NAME(ESPIPE),	ERRNO_NAME(EROFS),	ERRNO_NAME(EMLINK),
	ERRNO_NAME(EPIPE),	ERRNO_NAME(EDOM),	ERRNO_NAME(ERANGE),
	ERRNO_NAME(EDEADLK),	ERRNO_NAME(ENAMETOOLONG), ERRNO_NAME(ENOLCK),
	ERRNO_NAME(ENOSYS),	ERRNO_NAME(ENOTEMPTY),	ERRNO_NAME(ELOOP),
	ERRNO_NAME(ENOMSG),	ERRNO_NAME(EOVERFLOW),	ERRNO_NAME(EILSEQ),
	ERRNO_NAME(EOPNOTSUPP),	ERRNO_NAME(ETIMEDOUT),	ERRNO_NAME(EALREADY),
	ERRNO_NAME(EINPROGRESS), ERRNO_NAME(ECANCELED),	ERRNO_NAME(EOWNERDEAD),
	ERRNO_NAME(ENOTRECOVERABLE), ERRNO_NAME(EHWPOISON),
};

static jstring JNICALL n_errno_name(JNIEnv *env, jclass cls, jint err)
{
	char buf[24];
	unsigned int e;

	(void)cls;
	/* Accept a negative return value as well as a plain errno. */
	e = err < 0 ? -(unsigned int)err : (unsigned int)err;
	if (e < sizeof(errno_names) / sizeof(errno_names[0]) && errno_names[e])
		return (*env)->NewStringUTF(env, errno_names[e]);
	snprintf(buf, sizeof(buf), "E%u", e);
	return (*env)->NewStringUTF(env, buf);
}

static jstring JNICALL n_strerror(JNIEnv *env, jclass cls, jint err)
{
	char buf[256];

	(void)cls;
	return new_string(env, ummu_strerror(err, buf, sizeof(buf)));
}

static jlong JNICALL n_noop(JNIEnv *env, jclass cls, jlong x)
{
	(void)env;
	(void)cls;
	return x;
}

static const JNINativeMethod natives[] = {
	{ "abiVersion", "()I", (void *)n_abi_version },
	{ "probe", "(I)Ljava/lang/String;", (void *)n_probe },
	{ "open", "(I)J", (void *)n_open },
	{ "capabilities", "(J)I", (void *)n_capabilities },
	{ "counterPage", "(J)Ljava/nio/ByteBuffer;", (void *)n_counter_page },
	{ "watch", "(JJJJ[Ljava/lang/String;)I", (void *)n_watch },
	{ "unwatch", "(JJ)I", (void *)n_unwatch },
	{ "read", "(JLjava/nio/ByteBuffer;I)I", (void *)n_read },
	{ "await", "(JJ)I", (void *)n_await },
	{ "wakeup", "(J)V", (void *)n_wakeup },
	{ "close", "(J)V", (void *)n_close },
	{ "retire", "(J)I", (void *)n_retire },
	{ "unmapCounterPage", "(Ljava/nio/ByteBuffer;)I", (void *)n_unmap_counter_page },
	{ "errnoName", "(I)Ljava/lang/String;", (void *)n_errno_name },
	{ "strerror", "(I)Ljava/lang/String;", (void *)n_strerror },
	{ "noop", "(J)J", (void *)n_noop },
};

static jclass global_class(JNIEnv *env, const char *name)
{
	jclass local, global;

	local = (*env)->FindClass(env, name);
	if (!local)
		return NULL; /* NoClassDefFoundError pending: System.load rethrows it */
	global = (*env)->NewGlobalRef(env, local);
	(*env)->DeleteLocalRef(env, local);
	return global;
}

__attribute__((visibility("default")))
JNIEXPORT jint JNICALL JNI_OnLoad(JavaVM *vm, void *reserved)
{
	jclass native_class = NULL, buffer_class = NULL;
	JNIEnv *env;

	(void)reserved;
	if ((*vm)->GetEnv(vm, (void **)&env, JNI_VERSION_1_8) != JNI_OK)
		return JNI_ERR;

	page_size = sysconf(_SC_PAGESIZE);
	if (page_size <= 0)
		page_size = 4096;

	native_class = (*env)->FindClass(env, NATIVE_CLASS);
	if (!native_class)
		goto err;
	if ((*env)->RegisterNatives(env, native_class, natives,
				    sizeof(natives) / sizeof(natives[0])) != 0)
		goto err;

	exception_class = global_class(env, EXCEPTION_CLASS);
	if (!exception_class)
		goto err_unregister;
	exception_ctor = (*env)->GetMethodID(env, exception_class, "<init>",
					     "(Ljava/lang/String;I)V");
	if (!exception_ctor)
		goto err_exception;

	iae_class = global_class(env, "java/lang/IllegalArgumentException");
	if (!iae_class)
		goto err_exception;

	buffer_class = (*env)->FindClass(env, "java/nio/Buffer");
	if (!buffer_class)
		goto err_iae;
	buffer_is_read_only = (*env)->GetMethodID(env, buffer_class,
						  "isReadOnly", "()Z");
	(*env)->DeleteLocalRef(env, buffer_class);
	if (!buffer_is_read_only)
		goto err_iae;

	(*env)->DeleteLocalRef(env, native_class);
	return JNI_VERSION_1_8;

err_iae:
	(*env)->DeleteGlobalRef(env, iae_class);
	iae_class = NULL;
err_exception:
	(*env)->DeleteGlobalRef(env, exception_class);
	exception_class = NULL;
	exception_ctor = NULL;
err_unregister:
	(*env)->UnregisterNatives(env, native_class);
err:
	if (native_class)
		(*env)->DeleteLocalRef(env, native_class);
	return JNI_ERR;
}
