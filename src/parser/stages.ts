/**
 * Step 3 of 3: typed instructions to stages and their graph, as BuildKit's dockerfile2llb does before it
 * dispatches anything: meta args (ARGs before the first FROM) evaluated with the build args and the automatic
 * platform args; FROM lines expanded with them; `FROM <stage>`, `COPY --from=` (name, index or image) and
 * `RUN --mount=from=` resolved; cycles and stages used before they are defined rejected; `--target` pruning.
 */
import { KilnError } from '../errors.js';
import { parseReference } from '../image/reference.js';
import { formatPlatform, parsePlatform } from './platform.js';
import { processWordWithMatches } from './shell-lexer.js';
import { resolveInstructionRefs } from './stage-refs.js';
import { suggest } from './suggest.js';
import type { ArgInstruction, FromInstruction, Instruction, MetaArg, ParseWarning, Stage, StageInstruction } from './types.js';

export interface StageBuildInput {
  file: string;
  escape: '\\' | '`';
  instructions: Instruction[];
  buildArgs: Record<string, string>;
  /** Automatic platform args (TARGET*, BUILD*, TARGETSTAGE), before build-arg overrides. */
  automaticArgs: Record<string, string>;
  target?: string;
  onError: (err: KilnError) => void;
  warnings: ParseWarning[];
}

export interface StageBuildResult {
  metaArgs: MetaArg[];
  globalArgs: Record<string, string>;
  stages: Stage[];
  targetIndex: number;
  requiredStages: number[];
}

function located(err: unknown, file: string, line: number): KilnError {
  if (err instanceof KilnError) return err.at({ file, line });
  throw err;
}

/** Evaluates the meta args in order; each default sees the global args defined before it. */
function evalMetaArgs(args: ArgInstruction[], input: StageBuildInput, globals: Record<string, string>): MetaArg[] {
  const out: MetaArg[] = [];
  for (const ins of args) {
    for (const a of ins.args) {
      const meta: MetaArg = { key: a.key, loc: ins.loc };
      try {
        if (a.value !== undefined) meta.default = processWordWithMatches(a.value, globals, { escape: input.escape }).result;
      } catch (err) {
        input.onError(located(err, input.file, ins.loc.line));
      }
      const value = Object.prototype.hasOwnProperty.call(input.buildArgs, a.key) ? input.buildArgs[a.key] : meta.default;
      if (value !== undefined) {
        meta.value = value;
        globals[a.key] = value;
      }
      out.push(meta);
    }
  }
  return out;
}

/** A base or `--from` image must be a valid reference (BuildKit fails the same way when it resolves it). */
function checkReference(ref: string, file: string, line: number, onError: (e: KilnError) => void): void {
  try {
    parseReference(ref);
  } catch (err) {
    if (err instanceof KilnError) onError(new KilnError(err.code, err.message, { loc: { file, line }, ...(err.hint ? { hint: err.hint } : {}) }));
    else throw err;
  }
}

/** Groups instructions into stages, evaluates FROM lines, resolves references, selects the target's stages. */
export function buildStages(input: StageBuildInput): StageBuildResult | undefined {
  const { file } = input;
  const globals: Record<string, string> = {};
  for (const [k, v] of Object.entries(input.automaticArgs)) {
    globals[k] = Object.prototype.hasOwnProperty.call(input.buildArgs, k) ? input.buildArgs[k]! : v;
  }
  const metaArgIns: ArgInstruction[] = [];
  const groups: Array<{ from: FromInstruction; body: StageInstruction[] }> = [];
  for (const ins of input.instructions) {
    if (ins.kind === 'FROM') groups.push({ from: ins, body: [] });
    else if (groups.length === 0) {
      if (ins.kind === 'ARG') metaArgIns.push(ins);
      else
        input.onError(
          new KilnError('DOCKERFILE_SYNTAX', `${ins.kind} before the first FROM: no build stage in current context`, {
            loc: { file, line: ins.loc.line },
            hint: 'only ARG may come before FROM',
          }),
        );
    } else groups[groups.length - 1]!.body.push(ins);
  }
  const metaArgs = evalMetaArgs(metaArgIns, input, globals);
  if (groups.length === 0) {
    input.onError(new KilnError('DOCKERFILE_NO_STAGES', 'dockerfile contains no stages to build', { loc: { file, line: 1 }, hint: 'add a FROM line' }));
    return undefined;
  }

  const stages: Stage[] = [];
  /** Per stage: the stages it reads and the first line that reads each (for error locations). */
  const refLines = new Map<number, Map<number, number>>();
  for (const [index, g] of groups.entries()) {
    const line = g.from.loc.line;
    let image = g.from.image;
    let platform: string | undefined;
    try {
      image = processWordWithMatches(g.from.image, globals, { escape: input.escape }).result;
      if (image === '') throw new KilnError('DOCKERFILE_BAD_ARGS', `base name (${g.from.image}) should not be blank`);
      if (g.from.platform !== undefined) {
        const p = processWordWithMatches(g.from.platform, globals, { escape: input.escape }).result;
        if (p === '') throw new KilnError('DOCKERFILE_BAD_ARGS', `empty platform value from expression ${g.from.platform}`);
        platform = formatPlatform(parsePlatform(p));
      }
    } catch (err) {
      input.onError(located(err, file, line));
    }
    const from: FromInstruction = { ...g.from, image, ...(platform ? { platform } : {}) };
    const earlier = stages.find((s) => s.name !== undefined && s.name === image);
    const base: Stage['base'] = image === 'scratch' ? { kind: 'scratch' } : earlier ? { kind: 'stage', index: earlier.index } : { kind: 'image', ref: image };
    if (base.kind === 'image' && image !== '') checkReference(image, file, line, input.onError);
    const last = g.body.length ? g.body[g.body.length - 1]!.loc.endLine : g.from.loc.endLine;
    stages.push({
      index,
      base,
      from,
      instructions: g.body,
      dependsOn: [],
      loc: { file, line, endLine: last },
      ...(g.from.stageName ? { name: g.from.stageName } : {}),
      ...(platform ? { platform } : {}),
    });
  }
  // References: COPY --from and RUN --mount from=.
  for (const s of stages) {
    const deps = new Map<number, number>();
    if (s.base.kind === 'stage') deps.set(s.base.index, s.loc.line);
    for (const ins of s.instructions) {
      try {
        for (const d of resolveInstructionRefs(ins, stages, file, input.warnings)) if (!deps.has(d.index)) deps.set(d.index, d.line);
      } catch (err) {
        input.onError(located(err, file, ins.loc.line));
      }
    }
    s.dependsOn = [...deps.keys()].sort((a, b) => a - b);
    refLines.set(s.index, deps);
  }

  let targetIndex = stages.length - 1;
  if (input.target !== undefined && input.target !== '') {
    const t = stages.find((s) => s.name === input.target!.toLowerCase());
    if (!t) {
      const names = stages.flatMap((s) => (s.name ? [s.name] : []));
      const sug = suggest(input.target, names);
      input.onError(
        new KilnError('STAGE_NOT_FOUND', `target stage ${JSON.stringify(input.target)} could not be found${sug ? ` (did you mean ${sug}?)` : ''}`, {
          hint: names.length ? `stages: ${names.join(', ')}` : 'the Dockerfile names no stages (FROM … AS name)',
        }),
      );
      return { metaArgs, globalArgs: globals, stages, targetIndex, requiredStages: [] };
    }
    targetIndex = t.index;
  }

  // Like BuildKit, a cycle anywhere is an error, even among stages the target does not need.
  let cyclic = false;
  const done = new Set<number>();
  for (const s of stages) {
    if (done.has(s.index)) continue;
    cyclic = findCycle(stages, s.index, done, file, input.onError) || cyclic;
  }
  const requiredStages = cyclic ? [] : requiredFor(stages, targetIndex, file, refLines, input.onError);
  return { metaArgs, globalArgs: globals, stages, targetIndex, requiredStages };
}

/** Depth-first search from `start`; reports the first cycle found (once) and returns whether there was one. */
function findCycle(stages: Stage[], start: number, done: Set<number>, file: string, onError: (e: KilnError) => void): boolean {
  const label = (i: number) => stages[i]!.name ?? `stage-${i}`;
  const path: number[] = [];
  const onPath = new Set<number>();
  const visit = (i: number): boolean => {
    if (onPath.has(i)) {
      const cycle = [...path.slice(path.indexOf(i)), i];
      const detail = cycle.length === 2 ? 'it reads from itself' : cycle.map(label).join(' -> ');
      onError(new KilnError('STAGE_CYCLE', `circular dependency detected on stage: ${label(i)} (${detail})`, { loc: { file, line: stages[i]!.loc.line } }));
      return true;
    }
    if (done.has(i)) return false;
    path.push(i);
    onPath.add(i);
    for (const d of stages[i]!.dependsOn) if (visit(d)) return true;
    path.pop();
    onPath.delete(i);
    done.add(i);
    return false;
  };
  return visit(start);
}

/** The stages `target` needs, ascending (each after what it reads); cycles and forward references are errors. */
function requiredFor(stages: Stage[], target: number, file: string, refLines: Map<number, Map<number, number>>, onError: (e: KilnError) => void): number[] {
  const state = new Map<number, 'visiting' | 'done'>();
  const order: number[] = [];
  const label = (i: number) => stages[i]!.name ?? `stage-${i}`;
  const walk = (i: number, path: number[]): void => {
    const st = state.get(i);
    if (st === 'done') return;
    if (st === 'visiting') {
      const cycle = [...path.slice(path.indexOf(i)), i].map(label).join(' -> ');
      onError(new KilnError('STAGE_CYCLE', `circular dependency detected on stage: ${label(i)} (${cycle})`, { loc: { file, line: stages[i]!.loc.line } }));
      return;
    }
    state.set(i, 'visiting');
    for (const d of stages[i]!.dependsOn) {
      if (d === i) {
        onError(
          new KilnError('STAGE_CYCLE', `circular dependency detected on stage: ${label(i)} (it reads from itself)`, {
            loc: { file, line: stages[i]!.loc.line },
          }),
        );
        continue;
      }
      walk(d, [...path, i]);
      if (d > i && state.get(d) === 'done') {
        const line = refLines.get(i)?.get(d) ?? stages[i]!.loc.line;
        onError(
          new KilnError(
            'STAGE_NOT_FOUND',
            `cannot copy from stage ${JSON.stringify(label(d))}, it needs to be defined before current stage ${JSON.stringify(label(i))}`,
            { loc: { file, line } },
          ),
        );
      }
    }
    state.set(i, 'done');
    order.push(i);
  };
  walk(target, []);
  return order.sort((a, b) => a - b);
}
