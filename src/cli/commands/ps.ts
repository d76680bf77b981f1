/** `kiln ps [-a] [-q]`: containers in Docker's table shape (running only unless -a). */
import type { Command } from 'commander';
import { globalOptions } from '../context.js';

function ago(iso: string | undefined, now = Date.now()): string {
  if (!iso) return '';
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 1) return 'Less than a second';
  if (s < 60) return `${s} second${s === 1 ? '' : 's'}`;
  const m = Math.round(s / 60);
  if (m < 60) return m === 1 ? 'About a minute' : `${m} minutes`;
  const h = Math.round(m / 60);
  if (h < 48) return h === 1 ? 'About an hour' : `${h} hours`;
  return `${Math.round(h / 24)} days`;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return (
    rows
      .map((r) =>
        r
          .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]! + 3)))
          .join('')
          .trimEnd(),
      )
      .join('\n') + '\n'
  );
}

export function register(program: Command): void {
  program
    .command('ps')
    .description('list containers')
    .option('-a, --all', 'show all containers (default shows just running)')
    .option('-q, --quiet', 'only display container IDs')
    .option('--no-trunc', 'do not truncate output')
    .action(async (opts: { all?: boolean; quiet?: boolean; trunc: boolean }, cmd: Command) => {
      const root = globalOptions(cmd).root;
      const { cleanupStale } = await import('../../sandbox/cleanup.js');
      const { createContainerStore } = await import('../../containers/containers.js');
      await cleanupStale(root);
      const { statusText } = await import('../../containers/container-status.js');
      const recs = (await createContainerStore({ root }).list()).filter((r) => opts.all || r.status === 'running' || r.status === 'restarting');
      const idOf = (id: string) => (opts.trunc ? id.slice(0, 12) : id);
      if (opts.quiet) {
        process.stdout.write(recs.map((r) => `${idOf(r.id)}\n`).join(''));
        return;
      }
      const rows = [['CONTAINER ID', 'IMAGE', 'COMMAND', 'CREATED', 'STATUS', 'PORTS', 'NAMES']];
      for (const r of recs) {
        let command = JSON.stringify(r.spec.process.args.join(' '));
        if (opts.trunc && command.length > 22) command = `${command.slice(0, 20)}…"`;
        // As dockerd words it: health, restarting, and an exit's age included.
        const status = statusText(r);
        const ports = r.spec.ports.map((p) => `${p.hostIp ?? '0.0.0.0'}:${p.hostPort}->${p.containerPort}/${p.protocol ?? 'tcp'}`).join(', ');
        rows.push([idOf(r.id), r.image, command, `${ago(r.created)} ago`, status, ports, r.name]);
      }
      process.stdout.write(table(rows));
    });
}
