/**
 * What `COPY --from=` and `RUN --mount=…,from=` name: a stage index, a stage name (case-insensitive, any stage
 * of the file), or else an image reference — BuildKit's rules. A name that is not a stage but is one typo away
 * from one gets a warning, since it will be pulled as an image.
 */
import { KilnError } from '../errors.js';
import { parseReference } from '../image/reference.js';
import { suggest } from './suggest.js';
import type { Instruction, ParseWarning, Stage, StageOrImageRef } from './types.js';

/** Resolves one reference; throws STAGE_NOT_FOUND for an index past the last stage. */
export function resolveStageRef(raw: string, stages: readonly Stage[], file: string, line: number, warnings?: ParseWarning[]): StageOrImageRef {
  if (/^\d+$/.test(raw)) {
    const index = Number(raw);
    if (index >= stages.length) throw new KilnError('STAGE_NOT_FOUND', `invalid stage index ${index}`, { loc: { file, line } });
    return { kind: 'stage', index, raw };
  }
  const st = stages.find((s) => s.name === raw.toLowerCase());
  if (st) return { kind: 'stage', index: st.index, raw };
  if (warnings && /^[a-z0-9_.-]+$/i.test(raw)) {
    const near = suggest(
      raw,
      stages.flatMap((s) => (s.name ? [s.name] : [])),
    );
    if (near)
      warnings.push({
        message: `"${raw}" is not a stage of this Dockerfile and will be used as an image (did you mean ${near}?)`,
        loc: { file, line },
        rule: 'UnknownStageReference',
      });
  }
  try {
    parseReference(raw);
  } catch (err) {
    if (err instanceof KilnError) throw new KilnError(err.code, err.message, { loc: { file, line }, ...(err.hint ? { hint: err.hint } : {}) });
    throw err;
  }
  return { kind: 'image', ref: raw, raw };
}

/**
 * Resolves the references of one instruction in place (`COPY.fromRef`, `RUN` mount `from`) and returns the
 * stage indexes it reads, each with the line that reads it.
 */
export function resolveInstructionRefs(
  ins: Instruction,
  stages: readonly Stage[],
  file: string,
  warnings?: ParseWarning[],
): Array<{ index: number; line: number }> {
  const line = ins.loc.line;
  const out: Array<{ index: number; line: number }> = [];
  if (ins.kind === 'COPY' && ins.from !== undefined) {
    ins.fromRef = resolveStageRef(ins.from, stages, file, line, warnings);
    if (ins.fromRef.kind === 'stage') out.push({ index: ins.fromRef.index, line });
  } else if (ins.kind === 'RUN') {
    for (const m of ins.mounts) {
      if ((m.type === 'bind' || m.type === 'cache') && m.from) {
        m.from = resolveStageRef(m.from.raw, stages, file, line, warnings);
        if (m.from.kind === 'stage') out.push({ index: m.from.index, line });
      }
    }
  }
  return out;
}
