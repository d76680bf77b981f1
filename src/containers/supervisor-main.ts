/**
 * Entry of a detached container's supervisor: `node supervisor-main.js ROOT ID`, started by `kiln run -d` in its
 * own session with no terminal. It owns the container's bundle (owner.json carries its pid), runs the port
 * proxy, writes the log, and records the exit; `kiln stop` signals the container through runc directly.
 */
import { superviseContainer } from './container-runner.js';

const [root, id] = process.argv.slice(2);
if (!root || !id) {
  process.stderr.write('usage: supervisor-main ROOT ID\n');
  process.exit(2);
}
// A detached supervisor has no terminal; these would only come from a stray kill and must not orphan the container.
process.on('SIGHUP', () => {});
process.on('SIGINT', () => {});
try {
  await superviseContainer(root, id, { confirmStart: true });
  process.exitCode = 0;
} catch {
  // Recorded in state.json by superviseContainer.
  process.exitCode = 1;
}
