package io.ummu.agent;

import java.util.concurrent.atomic.AtomicInteger;

import net.bytebuddy.asm.AsmVisitorWrapper;
import net.bytebuddy.description.field.FieldDescription;
import net.bytebuddy.description.field.FieldList;
import net.bytebuddy.description.method.MethodList;
import net.bytebuddy.description.type.TypeDescription;
import net.bytebuddy.implementation.Implementation;
import net.bytebuddy.jar.asm.ClassVisitor;
import net.bytebuddy.jar.asm.MethodVisitor;
import net.bytebuddy.jar.asm.Opcodes;
import net.bytebuddy.pool.TypePool;
import net.bytebuddy.utility.OpenedClassReader;

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
final class SegmentCallSites implements AsmVisitorWrapper {
    static final String UNSAFE = "jdk/internal/misc/Unsafe";
    static final String HOOKS = "io/ummu/agent/bootstrap/UmmuHooks";

    static final AtomicInteger ALLOCATION_SITES = new AtomicInteger();
    static final AtomicInteger RELEASE_SITES = new AtomicInteger();

    @Override
    public int mergeWriter(int flags) {
        return flags;
    }

    @Override
    public int mergeReader(int flags) {
        return flags;
    }

    @Override
    public ClassVisitor wrap(TypeDescription instrumentedType, ClassVisitor classVisitor,
                             Implementation.Context implementationContext, TypePool typePool,
                             FieldList<FieldDescription.InDefinedShape> fields,
                             MethodList<?> methods, int writerFlags, int readerFlags) {
        return new ClassVisitor(OpenedClassReader.ASM_API, classVisitor) {
            @Override
            public MethodVisitor visitMethod(int access, String name, String descriptor, String signature,
                                             String[] exceptions) {
                MethodVisitor mv = super.visitMethod(access, name, descriptor, signature, exceptions);
                return mv == null ? null : new Sites(mv);
            }
        };
    }

    private static final class Sites extends MethodVisitor {
        private boolean changed;

        Sites(MethodVisitor mv) {
            super(OpenedClassReader.ASM_API, mv);
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
                    ALLOCATION_SITES.incrementAndGet();
                    return;
                }
                if ("freeMemory".equals(name) && "(J)V".equals(descriptor)) {
                    super.visitInsn(Opcodes.DUP2);
                    super.visitMethodInsn(Opcodes.INVOKESTATIC, HOOKS, "segmentReleasing", "(J)V", false);
                    super.visitInsn(Opcodes.DUP2_X1);
                    super.visitMethodInsn(opcode, owner, name, descriptor, itf);
                    super.visitMethodInsn(Opcodes.INVOKESTATIC, HOOKS, "segmentReleased", "(J)V", false);
                    changed = true;
                    RELEASE_SITES.incrementAndGet();
                    return;
                }
            }
            super.visitMethodInsn(opcode, owner, name, descriptor, itf);
        }

        @Override
        public void visitMaxs(int maxStack, int maxLocals) {
            super.visitMaxs(changed ? maxStack + 4 : maxStack, maxLocals);
        }
    }
}
