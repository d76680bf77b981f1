/**
 * Retention of build records: keep at most `maxRecords`, none older than `maxAgeMs`, and at most `maxSizeBytes`
 * in all; beyond any limit the oldest finished records go first. Running records are never removed (their build
 * is still writing them). Applied after every build ends and by `kiln prune`.
 */
import { readdirSync, statSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { historyRoot, listRecords, readRecord, recordIdTime, recordSize, removeRecord } from './store.js';

/** How far over the count limit the quick pass goes on its own (more: a full pass). */
const QUICK_MAX_EXCESS = 4;
import { DEFAULT_RETENTION, type BuildRecord, type RetentionPolicy } from './types.js';
import { KilnError } from '../errors.js';

/** The records to remove under `policy`, oldest first; `records` newest first (as listRecords returns them). */
export function recordsToRemove(records: BuildRecord[], policy: RetentionPolicy, now = Date.now()): BuildRecord[] {
  const remove = new Set<BuildRecord>();
  let kept = 0;
  let size = 0;
  for (const r of records) {
    if (r.status === 'running') continue;
    const age = now - (r.end ?? r.start);
    const bytes = r.sizeBytes ?? 0;
    if (kept >= policy.maxRecords || age > policy.maxAgeMs || size + bytes > policy.maxSizeBytes) {
      remove.add(r);
      continue;
    }
    kept++;
    size += bytes;
  }
  return [...remove].reverse();
}

/**
 * Applies `policy` to the root's records; returns the ids removed. Errors removing one record are skipped.
 * `quickWithinMs` (after each build): when the ids alone show the count and age limits hold, and a full pass
 * ran less than that long ago, nothing is read. Reading every record after every build cost a 30-step no-op
 * rebuild a fifth of its time; the size limit is then checked at most once per that interval.
 */
export async function applyRetention(root: string, policy: RetentionPolicy = DEFAULT_RETENTION, opts: { quickWithinMs?: number } = {}): Promise<string[]> {
  const marker = join(historyRoot(root), '.retention-checked');
  if (opts.quickWithinMs !== undefined) {
    // Ids sort by start time: oldest first.
    // Synchronous listing and stat: this runs when every build ends.
    let names: string[] = [];
    try {
      names = readdirSync(historyRoot(root));
    } catch {
      // No history yet.
    }
    const ids = names.filter((n) => recordIdTime(n) !== undefined).sort();
    const now = Date.now();
    const checked = statSync(marker, { throwIfNoEntry: false })?.mtimeMs ?? 0;
    // An id's time is its build's start, so no record is older than the oldest start says.
    const ageHolds = ids.length === 0 || now - recordIdTime(ids[0]!)! <= policy.maxAgeMs;
    const excess = ids.length - policy.maxRecords;
    if (ageHolds && now - checked < opts.quickWithinMs && excess <= QUICK_MAX_EXCESS) {
      // At the count limit every build adds one record: the oldest goes, and only it is read (a running one stays).
      const removed: string[] = [];
      for (const id of ids.slice(0, Math.max(0, excess))) {
        const rec = await readRecord(root, id).catch(() => undefined);
        if (!rec || rec.status === 'running') continue;
        await removeRecord(root, id).then(
          () => removed.push(id),
          () => {},
        );
      }
      return removed;
    }
  }
  await writeFile(marker, '').catch(() => {});
  const records = await listRecords(root);
  // sizeBytes is written when a build ends; a record of an incomplete build is measured now.
  for (const r of records) if (r.sizeBytes === undefined) r.sizeBytes = await recordSize(root, r.id).catch(() => 0);
  const removed: string[] = [];
  for (const r of recordsToRemove(records, policy)) {
    await removeRecord(root, r.id).then(
      () => removed.push(r.id),
      () => {},
    );
  }
  return removed;
}

const UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, kb: 1024, m: 1024 ** 2, mb: 1024 ** 2, g: 1024 ** 3, gb: 1024 ** 3 };
const DURATIONS: Record<string, number> = { s: 1000, m: 60_000, h: 3600_000, d: 86400_000 };

/** `512m`, `1g`, `1073741824`: bytes. Throws INVALID_ARGUMENT naming `option`. */
export function parseSize(value: string, option: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(value.trim());
  const unit = m ? UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined) throw new KilnError('INVALID_ARGUMENT', `${option}: "${value}" is not a size (e.g. 512m, 1g)`);
  return Math.floor(Number(m[1]) * unit);
}

/** `48h`, `2d`, `90m`, `30s`: milliseconds. Throws INVALID_ARGUMENT naming `option`. */
export function parseDuration(value: string, option: string): number {
  const m = /^(\d+(?:\.\d+)?)([smhd])$/.exec(value.trim());
  if (!m) throw new KilnError('INVALID_ARGUMENT', `${option}: "${value}" is not a duration (e.g. 48h, 2d, 90m)`);
  return Math.floor(Number(m[1]) * DURATIONS[m[2]!]!);
}

/** A non-negative integer count. Throws INVALID_ARGUMENT naming `option`. */
export function parseCount(value: string, option: string): number {
  if (!/^\d+$/.test(value.trim())) throw new KilnError('INVALID_ARGUMENT', `${option}: "${value}" is not a count`);
  return Number(value.trim());
}

/**
 * The policy from the environment (`KILN_HISTORY_MAX_RECORDS`, `KILN_HISTORY_MAX_AGE`, `KILN_HISTORY_MAX_SIZE`)
 * over the defaults, then from explicit values (serve's flags) over that.
 */
export function retentionPolicy(
  env: Record<string, string | undefined>,
  given: { maxRecords?: string; maxAge?: string; maxSize?: string } = {},
): RetentionPolicy {
  const records = given.maxRecords ?? env.KILN_HISTORY_MAX_RECORDS;
  const age = given.maxAge ?? env.KILN_HISTORY_MAX_AGE;
  const size = given.maxSize ?? env.KILN_HISTORY_MAX_SIZE;
  return {
    maxRecords: records ? parseCount(records, given.maxRecords ? '--history-max-records' : 'KILN_HISTORY_MAX_RECORDS') : DEFAULT_RETENTION.maxRecords,
    maxAgeMs: age ? parseDuration(age, given.maxAge ? '--history-max-age' : 'KILN_HISTORY_MAX_AGE') : DEFAULT_RETENTION.maxAgeMs,
    maxSizeBytes: size ? parseSize(size, given.maxSize ? '--history-max-size' : 'KILN_HISTORY_MAX_SIZE') : DEFAULT_RETENTION.maxSizeBytes,
  };
}
