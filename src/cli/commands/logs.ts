/** `kiln logs [-f] [--tail N] [-t] CONTAINER`: what the container wrote, stdout to stdout and stderr to stderr. */
import { open } from 'node:fs/promises';
import type { Command } from 'commander';
import { globalOptions } from '../context.js';

interface Entry {
  log: string;
  stream: 'stdout' | 'stderr';
  time: string;
}

export function register(program: Command): void {
  program
    .command('logs')
    .description('fetch the logs of a container')
    .argument('<container>')
    .option('-f, --follow', 'follow log output until the container exits')
    .option('-t, --timestamps', 'show timestamps')
    .option('-n, --tail <n>', 'number of lines to show from the end (default all)')
    .action(async (ref: string, opts: { follow?: boolean; timestamps?: boolean; tail?: string }, cmd: Command) => {
      const root = globalOptions(cmd).root;
      // A supervisor that died leaves a container marked running; start-up clean-up settles that first.
      await (await import('../../sandbox/cleanup.js')).cleanupStale(root);
      const { createContainerStore } = await import('../../containers/containers.js');
      const store = createContainerStore({ root });
      const rec = await store.get(ref);
      const fh = await open(store.logPath(rec.id), 'r').catch(() => undefined);
      const emit = (e: Entry) => {
        const out = e.stream === 'stderr' ? process.stderr : process.stdout;
        out.write(opts.timestamps ? `${e.time} ${e.log}` : e.log);
      };
      if (!fh) return;
      try {
        let pos = 0;
        let partial = '';
        const readMore = async (): Promise<Entry[]> => {
          const entries: Entry[] = [];
          for (;;) {
            const buf = Buffer.alloc(64 * 1024);
            const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
            if (bytesRead === 0) break;
            pos += bytesRead;
            partial += buf.subarray(0, bytesRead).toString('utf8');
            const lines = partial.split('\n');
            partial = lines.pop()!;
            for (const l of lines)
              if (l) {
                try {
                  entries.push(JSON.parse(l) as Entry);
                } catch {
                  /* torn line */
                }
              }
          }
          return entries;
        };
        let first = await readMore();
        if (opts.tail !== undefined && opts.tail !== 'all') {
          const n = Number(opts.tail);
          // Docker's tail counts lines; kiln's entries are chunks, usually one line each.
          first = n === 0 ? [] : first.slice(-n);
        }
        first.forEach(emit);
        if (!opts.follow) return;
        for (;;) {
          const cur = await store.get(rec.id).catch(() => undefined);
          (await readMore()).forEach(emit);
          if (!cur || cur.status !== 'running') {
            (await readMore()).forEach(emit);
            return;
          }
          await new Promise((r) => setTimeout(r, 100));
        }
      } finally {
        await fh.close();
      }
    });
}
