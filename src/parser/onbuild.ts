/**
 * ONBUILD triggers of a base (the image config's `OnBuild` list, or a base stage's ONBUILD lines) as
 * instructions the builder runs first in the child stage, as BuildKit does: each trigger is parsed on its
 * own (default escape character) and must be one instruction; it is located at the child's FROM line.
 */
import { KilnError } from '../errors.js';
import { parseInstruction } from './instructions.js';
import { resolveInstructionRefs } from './stage-refs.js';
import { tokenize } from './syntax.js';
import type { Stage, StageInstruction } from './types.js';

export interface TriggerOptions {
  /** Dockerfile name and the FROM line of the stage that inherits the triggers (errors point there). */
  file: string;
  line: number;
  /** The Dockerfile's stages, so a trigger's `COPY --from=<stage>` resolves; without them it names an image. */
  stages?: readonly Stage[];
}

/**
 * Parses ONBUILD trigger texts into instructions. Throws KilnError (DOCKERFILE_* codes) at `opts.line` with
 * the trigger named, for a trigger that does not parse, is several instructions, or is ONBUILD/FROM/MAINTAINER.
 */
export function parseOnbuildTriggers(triggers: readonly string[], opts: TriggerOptions): StageInstruction[] {
  const loc = { file: opts.file, line: opts.line };
  return triggers.map((trigger) => {
    try {
      const { nodes } = tokenize(trigger, opts.file);
      if (nodes.length !== 1) throw new KilnError('DOCKERFILE_SYNTAX', 'onbuild trigger should be a single expression');
      const node = { ...nodes[0]!, startLine: opts.line, endLine: opts.line };
      const ins = parseInstruction(node, { file: opts.file, escape: '\\' });
      if (ins.kind === 'ONBUILD' || ins.kind === 'FROM' || ins.kind === 'MAINTAINER') {
        throw new KilnError('DOCKERFILE_BAD_ARGS', `${ins.kind} isn't allowed as an ONBUILD trigger`);
      }
      if (opts.stages) resolveInstructionRefs(ins, opts.stages, opts.file);
      return ins;
    } catch (err) {
      if (!(err instanceof KilnError)) throw err;
      throw new KilnError(err.code, `ONBUILD trigger ${JSON.stringify(trigger.split('\n')[0])}: ${err.message}`, {
        loc,
        cause: err,
        ...(err.hint ? { hint: err.hint } : {}),
      });
    }
  });
}
