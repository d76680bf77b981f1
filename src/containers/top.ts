/**
 * `docker top`: the container's processes as the host's `ps` shows them. As dockerd (daemon/top_unix.go): the
 * container's pids come from its cgroup (`runc ps`), `ps` runs on the host with the caller's arguments (first
 * narrowed to those pids with `-q`, again without it when the options do not combine with `-q`), and only the
 * rows of those pids are kept (a thread row `-` follows the process row before it).
 */
import { KilnError } from '../errors.js';
import { RUNC, runcArgs } from '../sandbox/runc.js';
import { tool } from '../sandbox/tool.js';
import type { ContainerRecord } from './containers.js';

export interface TopResult {
  Titles: string[];
  Processes: string[][];
}

/**
 * `ps_args` as ps arguments: split on spaces, as dockerd does. Each word must be a ps option or an option's value
 * (letters, digits and `-,=:_%+.`), so nothing reaches ps that is not a ps option (a path, say); and dockerd's
 * one rule: `-o x=PID…` renaming a column to PID is refused unless it is the pid column.
 */
export function parsePsArgs(psArgs: string | undefined): string[] {
  const raw = psArgs === undefined || psArgs.trim() === '' ? '-ef' : psArgs;
  const words = raw.split(' ').filter(Boolean);
  for (const w of words) {
    if (!/^[A-Za-z0-9,=:_%+.-]+$/.test(w) || w.length > 200)
      throw new KilnError('INVALID_ARGUMENT', `ps_args: ${JSON.stringify(w.slice(0, 40))} is not a ps option`, {
        hint: 'give ps options, as `docker top CONTAINER -o pid,comm`',
      });
  }
  if (!/^-|^[A-Za-z]+$/.test(words[0] ?? '')) throw new KilnError('INVALID_ARGUMENT', `ps_args: ${JSON.stringify(words[0])} is not a ps option`);
  for (const m of (' ' + words.join(' ')).matchAll(/\s+([^\s]*)=\s*(PID[^\s]*)/g)) {
    if (m[1] !== 'pid') throw new KilnError('INVALID_ARGUMENT', `specifying "${m[1]}=${m[2]}" is not allowed`);
  }
  return words;
}

/** dockerd's parsePSOutput: the title row, and the rows of `pids` (the last column keeps its spaces). */
export function parsePsOutput(output: string, pids: ReadonlySet<number>): TopResult {
  const lines = output.split('\n');
  const Titles = (lines[0] ?? '').trim().split(/\s+/).filter(Boolean);
  const pidIndex = Titles.indexOf('PID');
  if (pidIndex < 0) throw new KilnError('INVALID_ARGUMENT', "Couldn't find PID field in ps output");
  const Processes: string[][] = [];
  const row = (fields: string[]) => [...fields.slice(0, Titles.length - 1), fields.slice(Titles.length - 1).join(' ')];
  let previousKept = false;
  for (const line of lines.slice(1)) {
    if (!line.trim()) continue;
    const fields = line.trim().split(/\s+/);
    const pid = fields[pidIndex];
    if (pid === '-') {
      if (previousKept) Processes.push(row(fields));
      continue;
    }
    if (!/^\d+$/.test(pid ?? '')) throw new KilnError('INTERNAL', `Unexpected pid '${pid}' in ps output`);
    previousKept = pids.has(Number(pid));
    if (previousKept) Processes.push(row(fields));
  }
  return { Titles, Processes };
}

/** The host pids in a running container's cgroup. */
export async function containerPids(root: string, id: string): Promise<number[]> {
  const r = await tool(RUNC, [...runcArgs(root), 'ps', '--format', 'json', id]);
  if (r.code !== 0) throw new KilnError('CONTAINER_RUNNING', `container ${id} is not running`);
  return (JSON.parse(r.stdout || '[]') ?? []) as number[];
}

/** `GET /containers/{id}/top`. CONTAINER_RUNNING (409) when it is not running; INVALID_ARGUMENT for bad ps_args. */
export async function containerTop(root: string, rec: ContainerRecord, psArgs?: string): Promise<TopResult> {
  const args = parsePsArgs(psArgs);
  if (rec.status !== 'running') throw new KilnError('CONTAINER_RUNNING', `container ${rec.id} is not running`);
  const pids = await containerPids(root, rec.id);
  let r = await tool('ps', [...args, `-q${pids.join(',')}`]);
  // Some options (f, say) do not combine with -q: all processes then, filtered below.
  if (r.code !== 0) r = await tool('ps', args);
  if (r.code !== 0) throw new KilnError('INVALID_ARGUMENT', `ps: ${r.stderr.split('\n')[0] || `exit status ${r.code}`}`);
  return parsePsOutput(r.stdout, new Set(pids));
}
