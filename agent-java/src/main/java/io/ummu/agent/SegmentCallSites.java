package io.ummu.agent;

import java.util.concurrent.atomic.AtomicInteger;

import net.bytebuddy.jar.asm.ClassVisitor;
import net.bytebuddy.jar.asm.MethodVisitor;
import net.bytebuddy.jar.asm.Opcodes;

/**
 * The native MemorySegment hook, matched by shape rather than by name: the
 * classes that allocate and free native segments differ between JDK releases
 * (JDK 21: an anonymous cleanup class of NativeMemorySegmentImpl; JDK 22 to
 * 25: SegmentFactories.allocateMemoryWrapper and an anonymous
 * MemorySessionImpl.ResourceList.ResourceCleanup in SegmentFactories), but
 * every one of them calls {@code jdk.internal.misc.Unsafe.allocateMemory(long)}
 * and {@code Unsafe.freeMemory(long)}. In classes of the package
 * {@code jdk.internal.foreign} (not its subpackages, where the ABI code
 * keeps its own scratch memory) each such call site is wrapped:
 * <pre>
 *   allocateMemory:  [unsafe, size]  DUP2_X1 -&gt; [size, unsafe, size]  call -&gt; [size, addr]
 *                    DUP2_X2 -&gt; [addr, size, addr]  UmmuHooks.segmentAllocated(size, addr) -&gt; [addr]
 *   freeMemory:      [unsafe, addr]  DUP2 + UmmuHooks.segmentReleasing(addr)
 *                    DUP2_X1 -&gt; [addr, unsafe, addr]  call -&gt; [addr]  UmmuHooks.segmentReleased(addr)
 * </pre>
 * Only the operand stack changes, and only between two instructions that are
 * not branch targets, so the existing stack map frames stay valid; the
 * maximum stack grows by 4 slots.
 */
final class SegmentCallSites extends ClassVisitor {
    static final String UNSAFE = "jdk/internal/misc/Unsafe";
    static final String HOOKS = Advices.HOOKS;

    /** Call sites wrapped in classes the JVM took (the weaver adds each class's and takes back a refused one's). */
    static final AtomicInteger ALLOCATION_SITES = new AtomicInteger();
    static final AtomicInteger RELEASE_SITES = new AtomicInteger();

    /** Whether any call site of this class was wrapped (if not, the class is left as it was). */
    boolean changed;
    /** Call sites wrapped in this class. */
    int allocationSites;
    int releaseSites;

    SegmentCallSites(ClassVisitor next) {
        super(Opcodes.ASM9, next);
    }

    @Override
    public MethodVisitor visitMethod(int access, String name, String descriptor, String signature,
                                     String[] exceptions) {
        MethodVisitor mv = super.visitMethod(access, name, descriptor, signature, exceptions);
        return mv == null ? null : new Sites(mv);
    }

    private final class Sites extends MethodVisitor {
        private boolean changed;

        Sites(MethodVisitor mv) {
            super(Opcodes.ASM9, mv);
        }

        @Override
        public void visitMethodInsn(int opcode, String owner, String name, String descriptor, boolean itf) {
            if (opcode == Opcodes.INVOKEVIRTUAL && UNSAFE.equals(owner)) {
                if ("allocateMemory".equals(name) && "(J)J".equals(descriptor)) {
                    super.visitInsn(Opcodes.DUP2_X1);
                    super.visitMethodInsn(opcode, owner, name, descriptor, itf);
                    super.visitInsn(Opcodes.DUP2_X2);
                    super.visitMethodInsn(Opcodes.INVOKESTATIC, HOOKS, "segmentAllocated", "(JJ)V", false);
                    changed = true;
                    allocationSites++;
                    return;
                }
                if ("freeMemory".equals(name) && "(J)V".equals(descriptor)) {
                    super.visitInsn(Opcodes.DUP2);
                    super.visitMethodInsn(Opcodes.INVOKESTATIC, HOOKS, "segmentReleasing", "(J)V", false);
                    super.visitInsn(Opcodes.DUP2_X1);
                    super.visitMethodInsn(opcode, owner, name, descriptor, itf);
                    super.visitMethodInsn(Opcodes.INVOKESTATIC, HOOKS, "segmentReleased", "(J)V", false);
                    changed = true;
                    releaseSites++;
                    return;
                }
            }
            super.visitMethodInsn(opcode, owner, name, descriptor, itf);
        }

        @Override
        public void visitMaxs(int maxStack, int maxLocals) {
            super.visitMaxs(changed ? maxStack + 4 : maxStack, maxLocals);
            SegmentCallSites.this.changed |= changed;
        }
    }
}
