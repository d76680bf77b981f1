/**
 * Which kiln process owns a container's bundle. A bundle whose owner is gone was left by a crash, and the
 * next start cleans it. The process start time guards against pid reuse.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface OwnerRecord {
  pid: number;
  /** Field 22 of /proc/<pid>/stat (clock ticks since boot). */
  startTime: string;
}

export async function processStartTime(pid: number): Promise<string | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses; fields after the last ')' are fixed.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // A zombie (its parent has not reaped it: pid 1 here reaps lazily) is dead for our purposes.
    if (rest[0] === 'Z' || rest[0] === 'X') return undefined;
    return rest[19];
  } catch {
    return undefined;
  }
}

/** Records the current process as the owner of `bundle`. */
export async function writeOwner(bundle: string, pid = process.pid): Promise<void> {
  const startTime = (await processStartTime(pid)) ?? '';
  await writeFile(join(bundle, 'owner.json'), JSON.stringify({ pid, startTime } satisfies OwnerRecord));
}

/** True when the bundle's recorded owner process still runs. A bundle without a record has no owner. */
export async function ownerAlive(bundle: string): Promise<boolean> {
  let rec: OwnerRecord;
  try {
    rec = JSON.parse(await readFile(join(bundle, 'owner.json'), 'utf8'));
  } catch {
    return false;
  }
  const now = await processStartTime(rec.pid);
  return now !== undefined && now === rec.startTime;
}
