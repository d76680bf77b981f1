/**
 * `kiln setup binfmt [--platform P1,P2] [--remove]`: registers the installed qemu-user-static interpreters with
 * binfmt_misc under kiln's own names (`kiln-qemu-<arch>`) with the F (fix-binary) flag, so RUN steps of those
 * platforms run in a build's sandbox. Idempotent; a platform an F registration already serves is left alone, and
 * no registration but kiln's own is ever changed. `--remove` takes kiln's registrations away again.
 */
import type { Command } from 'commander';
import { KilnError } from '../../errors.js';
import { parsePlatformList } from '../../image/platform.js';

export function register(program: Command): void {
  program
    .command('setup')
    .description('host setup for kiln: `binfmt` registers qemu-user-static for foreign-platform RUN steps (flag F)')
    .argument('<what>', 'binfmt')
    .option('--platform <os/arch,…>', 'platforms to register (default: every one qemu-user-static provides)')
    .option('--remove', "remove kiln's registrations (kiln-qemu-*) for those platforms instead")
    .action(async (what: string, opts: { platform?: string; remove?: boolean }) => {
      if (what !== 'binfmt') throw new KilnError('INVALID_ARGUMENT', `unknown setup "${what}"`, { hint: 'supported: binfmt' });
      const b = await import('../../sandbox/binfmt.js');
      const platforms = opts.platform ? parsePlatformList(opts.platform) : b.EMULATABLE.map((a) => (a === 'arm' ? 'linux/arm/v7' : `linux/${a}`));
      if (opts.remove) {
        for (const e of await b.binfmtEntries()) {
          if (!e.name.startsWith(b.KILN_PREFIX)) continue;
          if (opts.platform && !platforms.some((p) => b.qemuNameOf(p) === e.name.slice(b.KILN_PREFIX.length))) continue;
          await b.unregisterEmulator(e.name);
          process.stdout.write(`removed ${e.name}\n`);
        }
        return;
      }
      for (const r of await b.registerEmulators(platforms)) {
        const what = {
          registered: `registered ${r.name} (flag F)`,
          present: `already served by ${r.name}`,
          native: 'native',
          'no-interpreter': 'skipped: no qemu-user-static interpreter (apt-get install qemu-user-static)',
        }[r.action];
        process.stdout.write(`${r.platform}: ${what}\n`);
      }
    });
}
