package io.ummu.agent.definer;

import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.security.ProtectionDomain;
import java.util.function.BiFunction;

/**
 * Defines a class in the bootstrap class loader with
 * {@code jdk.internal.misc.Unsafe.defineClass}. Never loaded by the
 * application class loader: {@code io.ummu.agent.Bridge} defines this class
 * alone, from its bytes in ummu.jar, in a class loader of its own (parent: the
 * bootstrap loader) and exports {@code jdk.internal.misc} to that loader's
 * unnamed module only, so that no module the application can put code in
 * gains access to the package. The agent calls it through
 * {@link BiFunction}, a {@code java.base} type both loaders share.
 *
 * <p>References only {@code java.base}: its loader sees nothing else. Uses
 * method handles found with its own lookup (which carries the export), not
 * core reflection, whose first call spins adapters on JDK 18+.
 */
public final class BootDefiner implements BiFunction<String, byte[], Class<?>> {
    public BootDefiner() {
    }

    /** Defines {@code name} from {@code bytes} in the bootstrap class loader; returns the class. */
    @Override
    public Class<?> apply(String name, byte[] bytes) {
        try {
            Class<?> unsafeClass = Class.forName("jdk.internal.misc.Unsafe", false, null);
            MethodHandles.Lookup lookup = MethodHandles.lookup();
            MethodHandle getUnsafe = lookup.findStatic(unsafeClass, "getUnsafe", MethodType.methodType(unsafeClass))
                    .asType(MethodType.methodType(Object.class));
            Object unsafe = (Object) getUnsafe.invokeExact();
            MethodHandle define = lookup.findVirtual(unsafeClass, "defineClass", MethodType.methodType(Class.class,
                    String.class, byte[].class, int.class, int.class, ClassLoader.class, ProtectionDomain.class))
                    .bindTo(unsafe);
            return (Class<?>) define.invokeExact(name, bytes, 0, bytes.length, (ClassLoader) null,
                    (ProtectionDomain) null);
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            // IllegalAccessException (no export), NoSuchMethodException (a JDK without the method) ...
            throw new IllegalStateException(t.toString(), t);
        }
    }
}
