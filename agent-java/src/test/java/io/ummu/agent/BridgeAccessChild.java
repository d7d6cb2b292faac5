package io.ummu.agent;

import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;

import io.ummu.Ummu;

/**
 * Run with the agent: prints whether code on the class path can reach
 * {@code jdk.internal.misc} once the agent has defined its bridge, through the
 * module graph, a method-handle lookup, and a class that links against
 * {@code jdk.internal.misc.Unsafe} in its bytecode. Lines "KEY value".
 */
public final class BridgeAccessChild {
    private static final String PKG = "jdk.internal.misc";

    private BridgeAccessChild() {
    }

    public static void main(String[] args) throws Exception {
        System.out.println("ACTIVE " + Ummu.isActive());
        System.out.println("BRIDGE_LOADER " + Class.forName(Bridge.NAME, false, null).getClassLoader());
        Module base = Object.class.getModule();
        System.out.println("EXPORTED_TO_APP " + base.isExported(PKG, BridgeAccessChild.class.getModule()));
        System.out.println("EXPORTED_TO_PLATFORM "
                + base.isExported(PKG, ClassLoader.getPlatformClassLoader().getUnnamedModule()));
        System.out.println("EXPORTED_TO_ALL " + base.isExported(PKG));
        Class<?> unsafe = Class.forName(PKG + ".Unsafe", false, null);
        String lookup;
        try {
            MethodHandles.lookup().findStatic(unsafe, "getUnsafe", MethodType.methodType(unsafe));
            lookup = "ok";
        } catch (IllegalAccessException e) {
            lookup = e.getClass().getSimpleName();
        }
        System.out.println("LOOKUP " + lookup);
        // The JVM's own check, at link time: javac will not compile a reference to a package that
        // java.base does not export, so the class that makes one is written out here byte by byte.
        Class<?> links = MethodHandles.lookup().defineClass(linksUnsafe());
        String link;
        try {
            MethodHandles.lookup().findStatic(links, "run", MethodType.methodType(void.class)).invokeExact();
            link = "ok";
        } catch (IllegalAccessError e) {
            link = "IllegalAccessError " + e.getMessage();
        } catch (Throwable t) {
            link = "other " + t;
        }
        System.out.println("LINK " + link);
    }

    /**
     * {@code public class io.ummu.agent.LinksUnsafe { public static void run() { Unsafe.getUnsafe(); } }},
     * without a constructor (never instantiated); no branches, so no stack map frames.
     */
    static byte[] linksUnsafe() throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        DataOutputStream o = new DataOutputStream(bytes);
        o.writeInt(0xCAFEBABE);
        o.writeShort(0);
        o.writeShort(52);
        o.writeShort(14); // constant pool entries 1..13
        utf8(o, "io/ummu/agent/LinksUnsafe"); // 1
        classRef(o, 1); // 2
        utf8(o, "java/lang/Object"); // 3
        classRef(o, 3); // 4
        utf8(o, "jdk/internal/misc/Unsafe"); // 5
        classRef(o, 5); // 6
        utf8(o, "getUnsafe"); // 7
        utf8(o, "()Ljdk/internal/misc/Unsafe;"); // 8
        o.writeByte(12); // 9: NameAndType
        o.writeShort(7);
        o.writeShort(8);
        o.writeByte(10); // 10: Methodref
        o.writeShort(6);
        o.writeShort(9);
        utf8(o, "run"); // 11
        utf8(o, "()V"); // 12
        utf8(o, "Code"); // 13
        o.writeShort(0x0021); // public super
        o.writeShort(2);
        o.writeShort(4);
        o.writeShort(0); // interfaces
        o.writeShort(0); // fields
        o.writeShort(1); // methods
        o.writeShort(0x0009); // public static
        o.writeShort(11);
        o.writeShort(12);
        o.writeShort(1); // one attribute: Code
        o.writeShort(13);
        byte[] code = {(byte) 0xB8, 0, 10, 0x57, (byte) 0xB1}; // invokestatic #10; pop; return
        o.writeInt(2 + 2 + 4 + code.length + 2 + 2);
        o.writeShort(1); // max stack
        o.writeShort(0); // max locals
        o.writeInt(code.length);
        o.write(code);
        o.writeShort(0); // exception table
        o.writeShort(0); // attributes of Code
        o.writeShort(0); // attributes of the class
        o.flush();
        return bytes.toByteArray();
    }

    private static void utf8(DataOutputStream o, String s) throws IOException {
        o.writeByte(1);
        o.writeUTF(s);
    }

    private static void classRef(DataOutputStream o, int name) throws IOException {
        o.writeByte(7);
        o.writeShort(name);
    }
}
