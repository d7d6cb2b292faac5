package io.ummu.agent;

import net.bytebuddy.jar.asm.Label;
import net.bytebuddy.jar.asm.MethodVisitor;
import net.bytebuddy.jar.asm.Opcodes;

/**
 * The calls woven into the JDK's allocation and release methods, written
 * with the ASM that Byte Buddy carries (relocated in ummu.jar). The woven code
 * may reference only what the bootstrap loader sees: the bridge
 * {@code io.ummu.agent.bootstrap.UmmuHooks}. Every bridge method swallows
 * every Throwable itself, so the woven code needs no handler of its own to
 * keep an exception out of a Cleaner or the Reference Handler.
 *
 * <p>Hook points, verified with {@code javap -p} on JDK 17 and 25:
 * <pre>
 * java.nio.DirectByteBuffer$Deallocator
 *     private &lt;init&gt;(long address, long size, int capacity)   17: class, 25: record
 *     public void run()        reads fields address and size; 17 zeroes address, so the value read on entry is passed on
 * sun.nio.ch.FileChannelImpl$Unmapper (abstract; Default/SyncUnmapper extend it)
 *     private &lt;init&gt;(long address, long size, long cap, FileDescriptor fd, int pagePosition)
 *     public void unmap()      field address is the mmap base, size (declared in Unmapper on 17 and 25) the mapped length
 * java.lang.management.ManagementFactory (only to register the agent's MBean when first asked for)
 *     public static synchronized MBeanServer getPlatformMBeanServer()
 * </pre>
 * Woven:
 * <pre>
 * constructor:  before each return   UmmuHooks.onAllocated(kind, arg0, arg1)
 * run/unmap:    on entry             long a = UmmuHooks.onReleasing(kind, this.address, this.size)
 *               before each return,
 *               and on any throw     UmmuHooks.onReleased(kind, a)   (the throw is then rethrown;
 *                                    a is 0 for a buffer the tracker never tracked, and the call returns at once)
 * getPlatformMBeanServer: before each return   UmmuHooks.platformMBeanServer(the server)
 * </pre>
 */
final class Advices {
    static final String HOOKS = "io/ummu/agent/bootstrap/UmmuHooks";

    private Advices() {
    }

    private static void pushKind(MethodVisitor mv, int kind) {
        mv.visitInsn(Opcodes.ICONST_0 + kind); // kinds are 0..3
    }

    /**
     * A constructor taking (long address, long size, ...): reports the
     * allocation when the constructor returns normally. Arguments are in slots
     * 1-2 and 3-4 (slot 0 is this).
     */
    static final class Allocated extends MethodVisitor {
        private final int kind;

        Allocated(MethodVisitor mv, int kind) {
            super(Opcodes.ASM9, mv);
            this.kind = kind;
        }

        @Override
        public void visitInsn(int opcode) {
            if (opcode == Opcodes.RETURN) {
                pushKind(mv, kind);
                mv.visitVarInsn(Opcodes.LLOAD, 1);
                mv.visitVarInsn(Opcodes.LLOAD, 3);
                mv.visitMethodInsn(Opcodes.INVOKESTATIC, HOOKS, "onAllocated", "(IJJ)V", false);
            }
            super.visitInsn(opcode);
        }

        @Override
        public void visitMaxs(int maxStack, int maxLocals) {
            super.visitMaxs(maxStack + 5, maxLocals); // int + 2 longs
        }
    }

    /**
     * {@code ManagementFactory.getPlatformMBeanServer()}: hands what it returns
     * to {@code UmmuHooks.platformMBeanServer} as well.
     */
    static final class ServerReturned extends MethodVisitor {
        ServerReturned(MethodVisitor mv) {
            super(Opcodes.ASM9, mv);
        }

        @Override
        public void visitInsn(int opcode) {
            if (opcode == Opcodes.ARETURN) {
                mv.visitInsn(Opcodes.DUP);
                mv.visitMethodInsn(Opcodes.INVOKESTATIC, HOOKS, "platformMBeanServer", "(Ljava/lang/Object;)V", false);
            }
            super.visitInsn(opcode);
        }

        @Override
        public void visitMaxs(int maxStack, int maxLocals) {
            super.visitMaxs(maxStack + 1, maxLocals);
        }
    }

    /**
     * An instance method {@code void m()} that releases the memory at
     * {@code this.address}, {@code this.size} bytes (long fields of {@code owner}):
     * the size lets the tracker drop the release of a buffer it never tracked
     * (below {@code minSize}) before it costs a record. The address read
     * on entry is kept in a new local, slot 1, for the exit call; the method's
     * own locals move up by two slots (and the stack map frames with them).
     * The whole original body is covered by a catch-all handler that is the
     * last entry of the exception table, so the method's own handlers still
     * see their exceptions first. Needs the frames expanded
     * ({@code ClassReader.EXPAND_FRAMES}).
     */
    static final class Released extends MethodVisitor {
        private static final int SLOT = 1;

        private final String owner;
        private final int kind;
        private final Label start = new Label();
        private final Label end = new Label();
        private final Label handler = new Label();
        private boolean begun;

        Released(MethodVisitor mv, String owner, int kind) {
            super(Opcodes.ASM9, mv);
            this.owner = owner;
            this.kind = kind;
        }

        /*
         * The reader visits the method's exception table right after
         * visitCode and before the first label or instruction; this handler
         * must come after those entries, and before its own labels are
         * visited, so it is added at the first label, frame or instruction.
         */
        private void begin() {
            if (begun) {
                return;
            }
            begun = true;
            mv.visitTryCatchBlock(start, end, handler, null);
            pushKind(mv, kind);
            mv.visitVarInsn(Opcodes.ALOAD, 0);
            mv.visitFieldInsn(Opcodes.GETFIELD, owner, "address", "J");
            mv.visitVarInsn(Opcodes.ALOAD, 0);
            mv.visitFieldInsn(Opcodes.GETFIELD, owner, "size", "J");
            mv.visitMethodInsn(Opcodes.INVOKESTATIC, HOOKS, "onReleasing", "(IJJ)J", false);
            mv.visitVarInsn(Opcodes.LSTORE, SLOT);
            mv.visitLabel(start);
        }

        private void released() {
            pushKind(mv, kind);
            mv.visitVarInsn(Opcodes.LLOAD, SLOT);
            mv.visitMethodInsn(Opcodes.INVOKESTATIC, HOOKS, "onReleased", "(IJ)V", false);
        }

        private static int shift(int var) {
            return var >= SLOT ? var + 2 : var;
        }

        @Override
        public void visitInsn(int opcode) {
            begin();
            if (opcode == Opcodes.RETURN) {
                released();
            }
            super.visitInsn(opcode);
        }

        @Override
        public void visitVarInsn(int opcode, int var) {
            begin();
            super.visitVarInsn(opcode, shift(var));
        }

        @Override
        public void visitIincInsn(int var, int increment) {
            begin();
            super.visitIincInsn(shift(var), increment);
        }

        @Override
        public void visitLocalVariable(String name, String descriptor, String signature, Label from, Label to,
                                       int index) {
            super.visitLocalVariable(name, descriptor, signature, from, to, shift(index));
        }

        @Override
        public void visitFrame(int type, int numLocal, Object[] local, int numStack, Object[] stack) {
            begin();
            if (type != Opcodes.F_NEW) {
                throw new IllegalStateException("compressed stack map frame: read the class with EXPAND_FRAMES");
            }
            // Slot 0 (this) stays; the new long goes in at slot 1, before the method's own locals.
            Object[] l = new Object[numLocal + 1];
            l[0] = local[0];
            l[1] = Opcodes.LONG;
            System.arraycopy(local, 1, l, 2, numLocal - 1);
            super.visitFrame(type, numLocal + 1, l, numStack, stack);
        }

        @Override
        public void visitLabel(Label label) {
            begin();
            super.visitLabel(label);
        }

        @Override
        public void visitLineNumber(int line, Label from) {
            begin();
            super.visitLineNumber(line, from);
        }

        @Override
        public void visitIntInsn(int opcode, int operand) {
            begin();
            super.visitIntInsn(opcode, operand);
        }

        @Override
        public void visitTypeInsn(int opcode, String type) {
            begin();
            super.visitTypeInsn(opcode, type);
        }

        @Override
        public void visitFieldInsn(int opcode, String fieldOwner, String name, String descriptor) {
            begin();
            super.visitFieldInsn(opcode, fieldOwner, name, descriptor);
        }

        @Override
        public void visitMethodInsn(int opcode, String methodOwner, String name, String descriptor, boolean itf) {
            begin();
            super.visitMethodInsn(opcode, methodOwner, name, descriptor, itf);
        }

        @Override
        public void visitInvokeDynamicInsn(String name, String descriptor, net.bytebuddy.jar.asm.Handle bsm,
                                           Object... bsmArgs) {
            begin();
            super.visitInvokeDynamicInsn(name, descriptor, bsm, bsmArgs);
        }

        @Override
        public void visitJumpInsn(int opcode, Label label) {
            begin();
            super.visitJumpInsn(opcode, label);
        }

        @Override
        public void visitLdcInsn(Object value) {
            begin();
            super.visitLdcInsn(value);
        }

        @Override
        public void visitTableSwitchInsn(int min, int max, Label dflt, Label... labels) {
            begin();
            super.visitTableSwitchInsn(min, max, dflt, labels);
        }

        @Override
        public void visitLookupSwitchInsn(Label dflt, int[] keys, Label[] labels) {
            begin();
            super.visitLookupSwitchInsn(dflt, keys, labels);
        }

        @Override
        public void visitMultiANewArrayInsn(String descriptor, int numDimensions) {
            begin();
            super.visitMultiANewArrayInsn(descriptor, numDimensions);
        }

        @Override
        public void visitMaxs(int maxStack, int maxLocals) {
            begin();
            mv.visitLabel(end);
            mv.visitLabel(handler);
            mv.visitFrame(Opcodes.F_NEW, 2, new Object[] {owner, Opcodes.LONG}, 1, new Object[] {"java/lang/Throwable"});
            released();
            mv.visitInsn(Opcodes.ATHROW);
            // Entry: int + long + long on an empty stack; handler: Throwable + int + long.
            super.visitMaxs(Math.max(maxStack + 3, 5), maxLocals + 2);
        }
    }
}
