/**
 * Where the terminal shim is (native/tty-shim.c, built by native/build.sh) and how to run runc through it: for a
 * process with a terminal when kiln has none to hand it (the server's `docker run -t` / `exec -t`, `kiln run -d
 * -t`). Without the shim runc opens the caller's /dev/tty and fails ("no such device or address").
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { KilnError } from '../errors.js';

/** src/native and dist/native are both two levels below the repository root. */
const SHIM = fileURLToPath(new URL('../../native/build/kiln-tty-shim', import.meta.url));

/**
 * The command and argv for `RUNC ARGS` under the shim (the caller names its runc binary, so this loader needs
 * nothing from the sandbox). `runcArgs` must contain `--detach`, `--console-socket @CONSOLE@` and `--pid-file
 * @PIDFILE@` (the shim fills in its own paths). Throws PRECONDITION without the shim.
 */
export function underTtyShim(runc: string, runcArgs: string[]): [string, string[]] {
  if (!existsSync(SHIM)) {
    throw new KilnError('PRECONDITION', `a terminal needs kiln's tty shim (${SHIM})`, {
      hint: 'run bash native/build.sh (scripts/setup.sh does), or run without -t',
    });
  }
  return [SHIM, [runc, ...runcArgs]];
}

/** The runc options that hand the terminal to the shim. */
export const TTY_SHIM_RUNC_FLAGS = ['--detach', '--console-socket', '@CONSOLE@', '--pid-file', '@PIDFILE@'];

/** Writes a terminal size to the shim's control pipe (fd 3). */
export function shimResizer(control: NodeJS.WritableStream | null | undefined): (rows: number, cols: number) => void {
  return (rows, cols) => {
    if (control && Number.isInteger(rows) && Number.isInteger(cols) && rows > 0 && cols > 0) control.write(`${rows} ${cols}\n`);
  };
}
