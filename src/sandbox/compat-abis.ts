/**
 * Which 32-bit system call ABIs this kernel runs on x86_64, which decides the ABIs the default seccomp filter
 * lists. Docker's profile lists x86_64, x86 and x32, and runc compiles the filter with libseccomp once per listed
 * ABI at every container start: here x86 cost ~8 ms and x32 ~9 ms of a ~80 ms `runc run`. Many kernels run
 * neither: x32 is off in Debian's (syscall.x32=n), Ubuntu's and Fedora's, and kernels from 6.7 can boot without
 * IA32 emulation (ia32_emulation=false, as this machine's).
 *
 * - Without IA32 emulation a 32-bit call never reaches seccomp (int 0x80 raises SIGSEGV, the compat entries return
 *   ENOSYS), so leaving x86 out changes nothing a process can see.
 * - Without x32 an x32 call (x86_64's `syscall` with bit 30 set) does reach the filter. With the ABI listed it
 *   gets ENOSYS from the kernel; left out, it gets the filter's bad-ABI action: the process is killed (SIGSYS).
 *   Either way it cannot run; the difference is how it fails.
 *
 * So kiln leaves an ABI out only where the kernel does not run it, and keeps Docker's list where it does.
 */
import { compatAbis } from '../native/fsx.js';

export interface CompatAbis {
  /** The 32-bit x86 ABI (`SCMP_ARCH_X86`). */
  ia32: boolean;
  /** The x32 ABI (`SCMP_ARCH_X32`). */
  x32: boolean;
}

let cached: CompatAbis | undefined;

/**
 * Both true unless this is x86_64 and a forked child could not make a getpid call through the ABI (native
 * compatAbis). Asked once per process (~14 ms: two forks). Without the native addon both are true, which keeps
 * Docker's list.
 */
export function hostCompatAbis(): CompatAbis {
  cached ??= process.arch === 'x64' ? (compatAbis() ?? { ia32: true, x32: true }) : { ia32: true, x32: true };
  return cached;
}
