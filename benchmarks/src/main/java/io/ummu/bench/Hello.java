package io.ummu.bench;

/** The start-up benchmark's program: a hello world, with and without the agent. */
public final class Hello {
    private Hello() {
    }

    public static void main(String[] args) {
        System.out.println("hello");
    }
}
