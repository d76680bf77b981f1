/**
 * `--security-opt` for `kiln run`, as Docker reads it: `seccomp=unconfined` (no filter), `seccomp=PATH` (a
 * profile in Docker's JSON format, read once when the container is created and kept in its record), and
 * `no-new-privileges` (always on in kiln). Anything else is a usage error rather than silently ignored.
 */
import { readFile } from 'node:fs/promises';
import { KilnError } from '../errors.js';
import type { DockerSeccompProfile, DockerSyscallRule, SeccompAction, SeccompOp } from './seccomp-profile.js';

/** Which seccomp filter a container gets: Docker's default, none, or a profile the user supplied. */
export type SeccompSetting = 'default' | 'unconfined' | { profile: DockerSeccompProfile };

export interface SecurityOptions {
  seccomp?: SeccompSetting;
}

const ACTIONS = new Set<SeccompAction>([
  'SCMP_ACT_ALLOW',
  'SCMP_ACT_ERRNO',
  'SCMP_ACT_KILL',
  'SCMP_ACT_KILL_PROCESS',
  'SCMP_ACT_KILL_THREAD',
  'SCMP_ACT_TRAP',
  'SCMP_ACT_TRACE',
  'SCMP_ACT_LOG',
]);
const OPS = new Set<SeccompOp>(['SCMP_CMP_NE', 'SCMP_CMP_LT', 'SCMP_CMP_LE', 'SCMP_CMP_EQ', 'SCMP_CMP_GE', 'SCMP_CMP_GT', 'SCMP_CMP_MASKED_EQ']);

/**
 * Checks a profile in Docker's format and returns it typed. Throws INVALID_ARGUMENT naming `file` and the
 * offending rule: bad JSON, an unknown action or operator, `architectures` together with `archMap`, `name`
 * together with `names`, or a notify listener (kiln runs no seccomp agent).
 */
export function parseSeccompProfile(text: string, file: string): DockerSeccompProfile {
  const bad = (msg: string) => new KilnError('INVALID_ARGUMENT', `seccomp profile ${file}: ${msg}`);
  let p: DockerSeccompProfile;
  try {
    p = JSON.parse(text) as DockerSeccompProfile;
  } catch (cause) {
    throw new KilnError('INVALID_ARGUMENT', `seccomp profile ${file}: not valid JSON: ${(cause as Error).message}`, { cause });
  }
  if (!p || typeof p !== 'object' || Array.isArray(p)) throw bad('expected a JSON object');
  if (!ACTIONS.has(p.defaultAction)) throw bad(`unknown defaultAction ${JSON.stringify(p.defaultAction)}`);
  if (p.architectures?.length && p.archMap?.length) throw bad('both "architectures" and "archMap" are specified');
  if (p.listenerPath) throw bad('"listenerPath" (SCMP_ACT_NOTIFY agents) is not supported');
  if (p.syscalls !== undefined && !Array.isArray(p.syscalls)) throw bad('"syscalls" must be a list');
  (p.syscalls ?? []).forEach((r: DockerSyscallRule, i) => {
    const where = `syscalls[${i}]`;
    if (r.name && r.names?.length) throw bad(`${where}: use either "name" or "names", not both`);
    if (!r.name && !r.names?.length) throw bad(`${where}: no syscall names`);
    if (!ACTIONS.has(r.action)) throw bad(`${where}: unknown action ${JSON.stringify(r.action)}`);
    for (const a of r.args ?? []) {
      if (!OPS.has(a.op) || !Number.isInteger(a.index) || a.index < 0 || a.index > 5) throw bad(`${where}: bad argument filter ${JSON.stringify(a)}`);
    }
  });
  return p;
}

/**
 * Parses `--security-opt` values (`key=value`, or Docker's older `key:value`). Reads a seccomp profile file
 * when one is named. Throws INVALID_ARGUMENT for an unknown option and NOT_FOUND for a missing profile.
 */
export async function parseSecurityOpts(opts: readonly string[], o: { signal?: AbortSignal } = {}): Promise<SecurityOptions> {
  const out: SecurityOptions = {};
  for (const opt of opts) {
    const m = /^([a-z-]+)(?:[=:](.*))?$/s.exec(opt);
    const key = m?.[1];
    const value = m?.[2];
    if (key === 'no-new-privileges' && (value === undefined || value === 'true')) continue;
    if (key === 'seccomp' && value) {
      if (value === 'unconfined') out.seccomp = 'unconfined';
      else if (value === 'builtin') out.seccomp = 'default';
      else {
        const text = await readFile(value, { encoding: 'utf8', signal: o.signal }).catch((cause) => {
          throw new KilnError('NOT_FOUND', `opening seccomp profile (${value}) failed: ${(cause as Error).message}`, { cause });
        });
        out.seccomp = { profile: parseSeccompProfile(text, value) };
      }
      continue;
    }
    throw new KilnError('INVALID_ARGUMENT', `invalid --security-opt: ${JSON.stringify(opt)}`, {
      hint: 'kiln supports seccomp=unconfined, seccomp=builtin, seccomp=PROFILE.json and no-new-privileges',
    });
  }
  return out;
}
