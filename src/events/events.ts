/**
 * The daemon's event log, as `docker events` reads it: every kiln process that changes a container, image,
 * network or volume appends one line to `<root>/events/events.jsonl`, so a server's `/events` stream sees what a
 * `kiln run -d` supervisor or another CLI did too. Lines are Docker's message shape (Type, Action, Actor with its
 * Attributes, scope, time, timeNano, and the legacy status/id/from of container and image events). One write per
 * line, opened O_APPEND: concurrent writers never interleave a line. The file rotates once past 4 MiB (the
 * previous one is kept as events.1.jsonl), so a reader of `since` sees at least that much history, and dockerd's
 * own buffer is 256 events.
 */
import { closeSync, constants, mkdirSync, openSync, renameSync, statSync, writeSync } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import { join } from 'node:path';

export type EventType = 'container' | 'image' | 'network' | 'volume' | 'daemon' | 'builder';

export interface KilnEvent {
  Type: EventType;
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
  scope: 'local';
  time: number;
  timeNano: number;
  /** Legacy fields dockerd still sends for container and image events. */
  status?: string;
  id?: string;
  from?: string;
}

const ROTATE_BYTES = 4 << 20;

function eventsDir(root: string): string {
  return join(root, 'events');
}
function eventsFile(root: string): string {
  return join(eventsDir(root), 'events.jsonl');
}

/**
 * Appends one event; never throws (an event that cannot be written must not fail the operation it reports).
 * `attributes` are the Actor's (container events carry `name`, `image` and the container's labels, as dockerd's).
 */
export function emitEvent(root: string, type: EventType, action: string, id: string, attributes: Record<string, string> = {}): void {
  const now = process.hrtime.bigint();
  const wall = BigInt(Date.now()) * 1_000_000n + (now % 1_000_000n);
  const ev: KilnEvent = {
    Type: type,
    Action: action,
    Actor: { ID: id, Attributes: attributes },
    scope: 'local',
    time: Number(wall / 1_000_000_000n),
    timeNano: Number(wall),
  };
  if (type === 'container' || type === 'image') {
    ev.status = action;
    ev.id = id;
    if (type === 'container' && attributes.image) ev.from = attributes.image;
  }
  try {
    mkdirSync(eventsDir(root), { recursive: true });
    const file = eventsFile(root);
    try {
      if (statSync(file).size > ROTATE_BYTES) renameSync(file, join(eventsDir(root), 'events.1.jsonl'));
    } catch {
      /* no file yet */
    }
    const fd = openSync(file, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
    try {
      writeSync(fd, JSON.stringify(ev) + '\n');
    } finally {
      closeSync(fd);
    }
  } catch {
    /* see above */
  }
}

function parseLines(text: string): KilnEvent[] {
  const out: KilnEvent[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    try {
      out.push(JSON.parse(line) as KilnEvent);
    } catch {
      /* a torn last line of a crashed writer */
    }
  }
  return out;
}

/** Every stored event with `sinceNano <= timeNano <= untilNano`, oldest first. */
export async function readEvents(root: string, o: { sinceNano?: number; untilNano?: number } = {}): Promise<KilnEvent[]> {
  const texts = await Promise.all(['events.1.jsonl', 'events.jsonl'].map((f) => readFile(join(eventsDir(root), f), 'utf8').catch(() => '')));
  return parseLines(texts.join('\n')).filter(
    (e) => (o.sinceNano === undefined || e.timeNano >= o.sinceNano) && (o.untilNano === undefined || e.timeNano <= o.untilNano),
  );
}

/**
 * Calls `onEvent` for each event appended from now on until `signal` aborts (polls the file every `pollMs`; a
 * rotation is noticed by the file shrinking). Resolves when aborted.
 */
export async function followEvents(root: string, onEvent: (e: KilnEvent) => void, o: { signal: AbortSignal; pollMs?: number }): Promise<void> {
  const file = eventsFile(root);
  const sizeOf = () => {
    try {
      return statSync(file).size;
    } catch {
      return 0;
    }
  };
  let offset = sizeOf();
  let partial = '';
  while (!o.signal.aborted) {
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, o.pollMs ?? 100);
      o.signal.addEventListener(
        'abort',
        () => {
          clearTimeout(t);
          resolve();
        },
        { once: true },
      );
    });
    if (o.signal.aborted) break;
    const size = sizeOf();
    if (size < offset) {
      offset = 0;
      partial = '';
    }
    if (size === offset) continue;
    const fh = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW).catch(() => undefined);
    if (!fh) continue;
    try {
      const buf = Buffer.alloc(size - offset);
      const { bytesRead } = await fh.read(buf, 0, buf.length, offset);
      offset += bytesRead;
      const text = partial + buf.subarray(0, bytesRead).toString('utf8');
      const cut = text.lastIndexOf('\n');
      partial = text.slice(cut + 1);
      for (const e of parseLines(text.slice(0, cut + 1))) onEvent(e);
    } finally {
      await fh.close();
    }
  }
}
