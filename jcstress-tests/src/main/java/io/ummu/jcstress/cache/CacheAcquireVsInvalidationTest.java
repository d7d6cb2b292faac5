package io.ummu.jcstress.cache;

import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

import io.ummu.MemoryNotifier;
import io.ummu.cache.Lease;
import io.ummu.cache.RegistrationCache;
import io.ummu.jcstress.support.Region;
import io.ummu.jcstress.support.SimulatedBackend;
import java.util.concurrent.atomic.AtomicInteger;
import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Arbiter;
import org.openjdk.jcstress.annotations.Description;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.III_Result;

/**
 * Test 5: {@link RegistrationCache#acquire(long, long)} racing an
 * invalidation of the cached range.
 *
 * <p>The contract, from RegistrationCache's javadoc: if a change of a range's
 * mapping happens-before the call to acquire, acquire does not return a
 * registration made before that change. A change concurrent with acquire may
 * be missed by it.
 *
 * <p>The real cache and notifier over a simulated backend. The state caches
 * a registration of one page ("primed"). One actor makes the backend report
 * an unmap of that page (queue the event, then bump the counter with a
 * release store, as the module does), then sets a volatile flag. The other
 * reads the flag, then acquires the page. If it saw the flag, the invalidation
 * happened-before its acquire, so it must not get the primed registration:
 * the cache's fast path (one acquire load of the counter) must have seen the
 * bump and drained. The arbiter checks the primed registration was
 * deregistered exactly once (it was evicted, and its lease is released).
 *
 * <p>Result: (1 if the acquirer saw the flag before acquire began,
 * 0 if acquire returned the primed registration, 1 a new one, 2 if it threw,
 * times the primed registration was deregistered).
 */
@JCStressTest
@Description("RegistrationCache.acquire racing an invalidation of the cached range (real cache and notifier,"
        + " simulated backend): an invalidation that happened-before acquire is never served from the cache")
@Outcome(id = "0, 0, 1", expect = ACCEPTABLE,
        desc = "acquire began before the invalidation was known to it and hit the primed registration")
@Outcome(id = "0, 1, 1", expect = ACCEPTABLE,
        desc = "racing: the invalidation was not yet known when acquire began, but its drain found it: new registration")
@Outcome(id = "1, 1, 1", expect = ACCEPTABLE,
        desc = "the invalidation happened-before acquire: a new registration, as required")
@Outcome(id = "1, 0, 1", expect = FORBIDDEN,
        desc = "the invalidation happened-before acquire, yet the stale primed registration was returned")
@Outcome(expect = FORBIDDEN,
        desc = "acquire threw, or the primed registration was not deregistered exactly once by the end")
@State
public class CacheAcquireVsInvalidationTest {
    private final SimulatedBackend backend = new SimulatedBackend();
    private final MemoryNotifier notifier = backend.open();
    private final long start = Region.fresh(1);
    private final Object primed;
    private final AtomicInteger primedDeregistrations = new AtomicInteger();
    private final RegistrationCache<Object> cache;
    private volatile boolean invalidated;

    public CacheAcquireVsInvalidationTest() {
        Object[] first = {null};
        cache = RegistrationCache.builder(notifier, (address, length) -> {
            Object r = new Object();
            if (first[0] == null) {
                first[0] = r;
            }
            return r;
        }, r -> {
            if (r == first[0]) {
                primedDeregistrations.incrementAndGet();
            }
        }).build();
        try (Lease<Object> l = cache.acquire(start, Region.PAGE)) {
            primed = l.registration();
        }
    }

    @Actor
    public void invalidate() {
        backend.invalidate(start, start + Region.PAGE);
        invalidated = true;
    }

    @Actor
    public void acquire(III_Result r) {
        r.r1 = invalidated ? 1 : 0;
        try (Lease<Object> l = cache.acquire(start, Region.PAGE)) {
            r.r2 = l.registration() == primed ? 0 : 1;
        } catch (RuntimeException e) {
            r.r2 = 2;
        }
    }

    @Arbiter
    public void arbiter(III_Result r) {
        // Makes the cache apply the invalidation if the acquirer did not (it hit before it).
        try (Lease<Object> l = cache.acquire(start, Region.PAGE)) {
            if (l.registration() == primed) {
                r.r3 = -1; // after both actors, the invalidation must be applied
                return;
            }
        } catch (RuntimeException e) {
            r.r3 = -2;
            return;
        }
        r.r3 = primedDeregistrations.get();
        cache.close();
        notifier.close();
    }
}
