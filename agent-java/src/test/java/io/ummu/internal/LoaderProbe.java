package io.ummu.internal;

/**
 * Run in a child JVM by {@link NativeLibraryTest}: loading happens once per
 * JVM, so each loader scenario needs a fresh one. Prints key=value lines.
 */
public final class LoaderProbe {
    private LoaderProbe() {
    }

    public static void main(String[] args) {
        System.out.println("loaded=" + NativeLibrary.isLoaded());
        System.out.println("from=" + NativeLibrary.loadedFrom());
        Throwable t = NativeLibrary.loadFailure();
        System.out.println("failure=" + (t == null ? "" : t.getMessage()).replace('\n', ' '));
        if (NativeLibrary.isLoaded()) {
            System.out.println("abi=" + Native.abiVersion());
        }
    }
}
