/**
 * `kiln history ls|inspect|logs|rm|export|trace`: the records builds leave under `<root>/history/` (src/history/),
 * or, with `--host`, a server's through its `/kiln/v1/history` API (remote/history.ts). Logs stream whole,
 * decompressed as they are read.
 */
import type { Command } from 'commander';
import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { KilnError } from '../../errors.js';
import { recordToOtlp } from '../../history/otlp.js';
import { exportRecord, listRecords, readRecord, recordLogStream, removeRecord, resolveRecordRef } from '../../history/store.js';
import type { BuildRecord, BuildStatus, HistoryFilter } from '../../history/types.js';
import { globalOptions, type GlobalOptions } from '../context.js';
import { table } from '../human-units.js';

/** What the subcommands need, locally or from a server. */
export interface HistorySource {
  list(filter: HistoryFilter): Promise<BuildRecord[]>;
  inspect(ref: string): Promise<BuildRecord>;
  logs(ref: string, step?: number): Promise<Readable>;
  remove(ref: string): Promise<string>;
  exportTar(ref: string): Promise<Readable>;
  trace(ref: string): Promise<unknown>;
}

const STATUSES: BuildStatus[] = ['running', 'completed', 'failed', 'cancelled', 'incomplete'];

/** `--filter status=failed`, `ref=app`, `since=2h` or an RFC 3339 time, `until=…`. Throws INVALID_ARGUMENT. */
export function parseHistoryFilters(raw: string[], now = Date.now()): HistoryFilter {
  const f: HistoryFilter = {};
  const time = (v: string, key: string) => {
    const m = /^(\d+)([smhd])$/.exec(v);
    if (m) return now - Number(m[1]) * { s: 1000, m: 60_000, h: 3600_000, d: 86400_000 }[m[2] as 's']!;
    const t = Date.parse(v);
    if (Number.isNaN(t)) throw new KilnError('INVALID_ARGUMENT', `--filter ${key}=${v}: not a duration (2h) or a time`);
    return t;
  };
  for (const item of raw) {
    const m = /^([a-z]+)=(.*)$/.exec(item);
    if (!m) throw new KilnError('INVALID_ARGUMENT', `--filter "${item}": KEY=VALUE expected`, { hint: 'keys: status, ref, since, until' });
    const [, key, value] = m as unknown as [string, string, string];
    if (key === 'status') {
      if (!STATUSES.includes(value as BuildStatus)) throw new KilnError('INVALID_ARGUMENT', `--filter status=${value}: one of ${STATUSES.join(', ')}`);
      f.status = [...(f.status ?? []), value as BuildStatus];
    } else if (key === 'ref') f.ref = value;
    else if (key === 'since') f.since = time(value, key);
    else if (key === 'until') f.until = time(value, key);
    else throw new KilnError('INVALID_ARGUMENT', `--filter ${key}: unknown key`, { hint: 'keys: status, ref, since, until' });
  }
  return f;
}

function localSource(root: string): HistorySource {
  return {
    list: (f) => listRecords(root, f),
    inspect: async (ref) => readRecord(root, await resolveRecordRef(root, ref)),
    logs: async (ref, step) => recordLogStream(root, await resolveRecordRef(root, ref), step !== undefined ? { step } : {}),
    remove: async (ref) => {
      const id = await resolveRecordRef(root, ref);
      await removeRecord(root, id);
      return id;
    },
    exportTar: async (ref) => exportRecord(root, await resolveRecordRef(root, ref)),
    trace: async (ref) => recordToOtlp(await readRecord(root, await resolveRecordRef(root, ref))),
  };
}

async function sourceOf(g: GlobalOptions): Promise<HistorySource> {
  if (g.host) return (await import('../remote/history.js')).remoteHistory(g);
  return localSource(g.root);
}

function ago(ms: number): string {
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  if (s < 60) return `${s} seconds ago`;
  if (s < 3600) return `${Math.round(s / 60)} minutes ago`;
  if (s < 86400) return `${Math.round(s / 3600)} hours ago`;
  return `${Math.round(s / 86400)} days ago`;
}

function duration(r: BuildRecord): string {
  return r.end !== undefined ? `${((r.end - r.start) / 1000).toFixed(1)}s` : '-';
}

function parseStep(v: string): number {
  if (!/^\d+$/.test(v) || Number(v) < 1) throw new KilnError('INVALID_ARGUMENT', `--step ${v}: a step number (from 1) expected`);
  return Number(v);
}

async function toFile(src: Readable | string, file: string | undefined, what: string): Promise<void> {
  if (!file) throw new KilnError('INVALID_ARGUMENT', `${what} needs -o FILE (or -o - for stdout)`);
  const out = file === '-' ? process.stdout : createWriteStream(file, { mode: 0o644 });
  if (typeof src === 'string') {
    if (file === '-') return void process.stdout.write(src);
    await pipeline(async function* () {
      yield Buffer.from(src);
    }, out);
    return;
  }
  await pipeline(src, out, { end: file !== '-' });
}

export function register(program: Command): void {
  const h = program.command('history').description('build records: list, inspect, logs, remove, export, trace');
  h.command('ls')
    .description('list build records, newest first')
    .option('--filter <filter>', 'status=STATUS, ref=TEXT, since=2h|TIME, until=… (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--format <format>', 'table or json', 'table')
    .option('--no-trunc', 'show full ids')
    .action(async (opts: { filter: string[]; format: string; trunc: boolean }, cmd: Command) => {
      if (!['table', 'json'].includes(opts.format)) throw new KilnError('INVALID_ARGUMENT', `--format ${opts.format}: table or json`);
      const recs = await (await sourceOf(globalOptions(cmd))).list(parseHistoryFilters(opts.filter));
      if (opts.format === 'json') return void process.stdout.write(`${JSON.stringify(recs)}\n`);
      const rows = [['BUILD ID', 'NAME', 'STATUS', 'CREATED AT', 'DURATION']];
      for (const r of recs) rows.push([opts.trunc ? r.id.slice(0, 12) : r.id, r.tags[0] ?? r.target ?? r.dockerfile.name, r.status, ago(r.start), duration(r)]);
      process.stdout.write(table(rows));
    });
  h.command('inspect <ref>')
    .description('show a build record (ID, unique prefix, or ^N: the Nth most recent, ^0 the latest)')
    .option('--format <format>', 'text or json', 'text')
    .action(async (ref: string, opts: { format: string }, cmd: Command) => {
      if (!['text', 'json'].includes(opts.format)) throw new KilnError('INVALID_ARGUMENT', `--format ${opts.format}: text or json`);
      const r = await (await sourceOf(globalOptions(cmd))).inspect(ref);
      if (opts.format === 'json') return void process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
      const lines = [
        `ID:          ${r.id}`,
        `Status:      ${r.status}`,
        `Origin:      ${[r.origin.kind, r.origin.user, r.origin.address, r.origin.identity, r.origin.host].filter(Boolean).join(' ')}`,
        `Dockerfile:  ${r.dockerfile.name} (${r.dockerfile.digest})`,
        ...(r.target ? [`Target:      ${r.target}`] : []),
        `Platforms:   ${r.platforms.join(', ')}`,
        `Started:     ${new Date(r.start).toISOString()}`,
        `Duration:    ${duration(r)}`,
        ...Object.entries(r.buildArgs).map(([k, v]) => `Build arg:   ${k}=${v}`),
        ...(r.result ? [`Image:       ${r.result.imageId}`, `Manifest:    ${r.result.manifestDigest}`, `Tags:        ${r.result.tags.join(', ')}`] : []),
        ...(r.error
          ? [
              `Error:       ${r.error.loc ? `${r.error.loc.file}:${r.error.loc.line}: ` : ''}${r.error.message}${r.error.exitCode !== undefined ? ` (exit code ${r.error.exitCode})` : ''}`,
            ]
          : []),
        ...r.warnings.map((w) => `Warning:     ${w.loc ? `${w.loc.file}:${w.loc.line}: ` : ''}${w.message}`),
        '',
      ];
      const rows = [['STEP', 'STAGE', 'STATUS', 'DURATION', 'INSTRUCTION']];
      for (const s of r.steps)
        rows.push([`#${s.id}`, s.stage || '-', s.status, s.end !== undefined ? `${((s.end - s.start) / 1000).toFixed(1)}s` : '-', s.text.slice(0, 60)]);
      process.stdout.write(`${lines.join('\n')}\n${table(rows)}`);
    });
  h.command('logs <ref>')
    .description("print a build's whole output (or one step's with --step N)")
    .option('--step <n>', 'only this step, as it printed it')
    .action(async (ref: string, opts: { step?: string }, cmd: Command) => {
      const src = await sourceOf(globalOptions(cmd));
      await pipeline(await src.logs(ref, opts.step !== undefined ? parseStep(opts.step) : undefined), process.stdout, { end: false });
    });
  h.command('rm [refs...]')
    .description('remove build records')
    .option('-a, --all', 'remove every finished record')
    .action(async (refs: string[], opts: { all?: boolean }, cmd: Command) => {
      const src = await sourceOf(globalOptions(cmd));
      if (opts.all && refs.length) throw new KilnError('INVALID_ARGUMENT', 'history rm: give IDs or --all, not both');
      if (!opts.all && !refs.length) throw new KilnError('INVALID_ARGUMENT', 'history rm: give at least one ID, or --all');
      const ids = opts.all ? (await src.list({})).filter((r) => r.status !== 'running').map((r) => r.id) : refs;
      for (const ref of ids) process.stdout.write(`${await src.remove(ref)}\n`);
    });
  h.command('export <ref>')
    .description('write a build record (record.json, Dockerfile, compressed logs) as a tar')
    .option('-o, --output <file>', 'the tar file (- for stdout)')
    .action(async (ref: string, opts: { output?: string }, cmd: Command) => {
      if (!opts.output) throw new KilnError('INVALID_ARGUMENT', 'history export needs -o FILE (or -o - for stdout)');
      await toFile(await (await sourceOf(globalOptions(cmd))).exportTar(ref), opts.output, 'history export');
    });
  h.command('trace <ref>')
    .description('write the build as an OpenTelemetry trace (OTLP JSON: Jaeger and other OTLP tools open it)')
    .option('-o, --output <file>', 'the JSON file (- for stdout)')
    .action(async (ref: string, opts: { output?: string }, cmd: Command) => {
      if (!opts.output) throw new KilnError('INVALID_ARGUMENT', 'history trace needs -o FILE (or -o - for stdout)');
      const trace = await (await sourceOf(globalOptions(cmd))).trace(ref);
      await toFile(`${JSON.stringify(trace)}\n`, opts.output, 'history trace');
    });
}
