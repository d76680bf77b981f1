/**
 * Why a step missed the cache: compares what it read now with the closest earlier record (same instruction in
 * the same stage of the same Dockerfile, else the same position) and names every difference: the file path,
 * the ARG/ENV variable, the instruction text, the base image or the previous step. Pure: no I/O.
 */
import type { StepInputs } from '../cache/build-cache.js';
import { canonicalJson } from '../image/canonical-json.js';

const MAX_LIST = 5;

function envMap(env: unknown): Map<string, string> {
  const m = new Map<string, string>();
  if (!Array.isArray(env)) return m;
  for (const kv of env as string[]) {
    const i = kv.indexOf('=');
    m.set(i < 0 ? kv : kv.slice(0, i), i < 0 ? '' : kv.slice(i + 1));
  }
  return m;
}

function short(v: string | undefined, max = 60): string {
  if (v === undefined) return '(unset)';
  const s = JSON.stringify(v);
  return s.length > max ? `${s.slice(0, max - 4)}…"` : s;
}

function listed(prefix: string, items: string[]): string | undefined {
  if (items.length === 0) return undefined;
  const head = items.slice(0, MAX_LIST).join(', ');
  return `${prefix} ${head}${items.length > MAX_LIST ? ` and ${items.length - MAX_LIST} more` : ''}`;
}

/** Differences in environment variables (`ENV`/`ARG` values) between two ops. */
function envReasons(now: Record<string, unknown>, before: Record<string, unknown>): string[] {
  const a = envMap(before.env);
  const b = envMap(now.env);
  const out: string[] = [];
  for (const [k, v] of b) if (a.get(k) !== v) out.push(`variable ${k} changed: ${short(a.get(k))} → ${short(v)}`);
  for (const [k, v] of a) if (!b.has(k)) out.push(`variable ${k} changed: ${short(v)} → (unset)`);
  return out;
}

function fileReasons(now: Record<string, string> = {}, before: Record<string, string> = {}): string[] {
  const changed: string[] = [];
  const added: string[] = [];
  const removed: string[] = [];
  for (const [p, d] of Object.entries(now)) {
    if (!(p in before)) added.push(p);
    else if (before[p] !== d) changed.push(p);
  }
  for (const p of Object.keys(before)) if (!(p in now)) removed.push(p);
  return [listed('file changed:', changed), listed('file added:', added), listed('file removed:', removed)].filter((s): s is string => !!s);
}

/**
 * One line saying why `now` missed, given the closest earlier record's inputs (undefined: none exists).
 * Lists every difference it finds, most specific first.
 */
export function explainMiss(now: StepInputs, before: StepInputs | undefined): string {
  if (!before) return 'no earlier build of this step';
  const reasons: string[] = [];
  const opNow = now.op;
  const opBefore = before.op;
  if (opNow.text !== opBefore.text) reasons.push(`instruction changed: ${short(String(opBefore.text ?? ''), 80)} → ${short(String(opNow.text ?? ''), 80)}`);
  reasons.push(...envReasons(opNow, opBefore));
  reasons.push(...fileReasons(now.files, before.files));
  const inNow = now.inputs ?? {};
  const inBefore = before.inputs ?? {};
  for (const k of new Set([...Object.keys(inNow), ...Object.keys(inBefore)])) {
    if (inNow[k] !== inBefore[k] && !(k === 'sources' && now.files && before.files && reasons.some((r) => r.startsWith('file ')))) {
      reasons.push(`input changed: ${k}`);
    }
  }
  if (now.parent !== before.parent) {
    if (now.parentDesc?.startsWith('FROM') || before.parentDesc?.startsWith('FROM')) {
      reasons.push(now.parentDesc === before.parentDesc ? 'base image changed' : `base image changed: ${before.parentDesc ?? '?'} → ${now.parentDesc ?? '?'}`);
    } else {
      reasons.push(`previous step changed${now.parentDesc ? ` (${now.parentDesc})` : ''}`);
    }
  }
  if (reasons.length === 0) {
    // Same text, env, files and parent: something else in the normalized op differs (user, workdir, flags).
    const fields = new Set([...Object.keys(opNow), ...Object.keys(opBefore)]);
    const diff = [...fields].filter((f) => canonicalJson(opNow[f]) !== canonicalJson(opBefore[f]));
    reasons.push(diff.length ? `options changed: ${diff.join(', ')}` : 'cache record missing (pruned or never stored)');
  }
  return reasons.join('; ');
}
