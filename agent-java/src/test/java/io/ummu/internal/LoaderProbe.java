package io.ummu.internal;

/**
 * Run in a child JVM by {@link NativeLibraryTest}: loading happens once per
 * JVM, so each loader scenario needs a fresh one; with the argument
 * {@code counterPage}, by {@link OwnJarTest}. Prints key=value lines.
 */
public final class LoaderProbe {
    private LoaderProbe() {
    }

    public static void main(String[] args) {
        if (args.length > 0 && args[0].equals("counterPage")) {
            // OwnJarTest: only the definition of a notifier's own class, which reads its template.
            Class<?> c;
            try {
                c = CounterPage.defineConstantClass(
                        java.lang.invoke.MethodHandles.privateLookupIn(io.ummu.MemoryNotifier.class,
                                java.lang.invoke.MethodHandles.lookup()),
                        OwnJarTest.TEMPLATE, java.nio.ByteBuffer.allocateDirect(4096));
            } catch (IllegalAccessException e) {
                throw new IllegalStateException(e);
            }
            System.out.println("kind=" + (c != null ? CounterPage.constantKind() : CounterPage.constantClassFailure()));
            return;
        }
        System.out.println("loaded=" + NativeLibrary.isLoaded());
        System.out.println("from=" + NativeLibrary.loadedFrom());
        Throwable t = NativeLibrary.loadFailure();
        System.out.println("failure=" + (t == null ? "" : t.getMessage()).replace('\n', ' '));
        if (NativeLibrary.isLoaded()) {
            System.out.println("abi=" + Native.abiVersion());
        }
    }
}
