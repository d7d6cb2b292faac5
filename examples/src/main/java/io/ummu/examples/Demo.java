package io.ummu.examples;

/**
 * The ummu demo. Run it with the agent:
 * <pre>
 *   java -javaagent:agent-java/target/ummu.jar -jar examples/target/ummu-demo.jar
 * </pre>
 * It allocates direct buffers, maps a file, allocates native segments (JDK
 * 22+), releases some, then unmaps a page of a mapped segment from native code
 * while a ByteBuffer still points at it, and prints every callback as it
 * arrives. This class only checks that ummu is there; {@link Walkthrough}
 * does the work.
 */
public final class Demo {
    private Demo() {
    }

    public static void main(String[] args) throws Exception {
        try {
            Class.forName("io.ummu.Ummu");
        } catch (ClassNotFoundException e) {
            System.err.println("ummu is not on the class path. Run the demo with the agent:\n"
                    + "  java -javaagent:agent-java/target/ummu.jar -jar examples/target/ummu-demo.jar");
            System.exit(2);
        }
        System.exit(Walkthrough.run());
    }
}
