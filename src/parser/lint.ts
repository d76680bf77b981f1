/**
 * A subset of BuildKit's Dockerfile lint rules (the ones decidable from the text alone), honouring the
 * `# check=skip=A,B;error=true` directive: skipped rules are dropped, and with `error=true` any remaining
 * violation fails the parse, as `docker build` does.
 */
import { KilnError } from '../errors.js';
import type { Directives, Instruction, MetaArg, ParseWarning, Stage } from './types.js';

/** The rules kiln checks, by BuildKit's names. Other warnings (unused build args, …) are not lint rules. */
const LINT_RULES = new Set([
  'StageNameCasing',
  'FromAsCasing',
  'NoEmptyContinuation',
  'ConsistentInstructionCasing',
  'DuplicateStageName',
  'ReservedStageName',
  'JSONArgsRecommended',
  'MaintainerDeprecated',
  'UndefinedArgInFrom',
  'WorkdirRelativePath',
  'MultipleInstructionsDisallowed',
  'LegacyKeyValueFormat',
  'SecretsUsedInArgOrEnv',
]);

const SECRET = /(?:^|_)(?:apikey|auth|credential|credentials|key|password|pass|pword|passwd|secret|token)(?:_|$)/i;
const NOT_SECRET = /(?:^|_)(?:public)(?:_|$)/i;

function keyword(ins: Instruction): string {
  return ins.original.split(/\s/, 1)[0]!;
}

export interface LintInput {
  file: string;
  instructions: Instruction[];
  stages: readonly Stage[];
  metaArgs: readonly MetaArg[];
  automaticArgs: readonly string[];
}

/** Lint warnings for a parsed file, in line order. */
export function lint(input: LintInput): ParseWarning[] {
  const { file } = input;
  const out: ParseWarning[] = [];
  const warn = (rule: string, line: number, message: string) => out.push({ rule, message, loc: { file, line } });

  // Instruction casing: each keyword should be all upper or all lower case, like the majority.
  let upper = 0;
  let lower = 0;
  for (const ins of input.instructions) {
    const k = keyword(ins);
    if (k === k.toUpperCase()) upper++;
    else if (k === k.toLowerCase()) lower++;
  }
  const majority = lower > upper ? 'lowercase' : 'uppercase';
  for (const ins of input.instructions) {
    const k = keyword(ins);
    const ok = majority === 'uppercase' ? k === k.toUpperCase() : k === k.toLowerCase();
    if (!ok) warn('ConsistentInstructionCasing', ins.loc.line, `Command '${k}' should match the case of the command majority (${majority})`);
    if (ins.kind === 'MAINTAINER') warn('MaintainerDeprecated', ins.loc.line, 'Maintainer instruction is deprecated in favor of using label');
    if ((ins.kind === 'ENV' || ins.kind === 'LABEL') && ins.legacyFormat) {
      warn('LegacyKeyValueFormat', ins.loc.line, `"${ins.kind} key=value" should be used instead of legacy "${ins.kind} key value" format`);
    }
    if (ins.kind === 'ARG' || ins.kind === 'ENV') {
      const keys = ins.kind === 'ARG' ? ins.args.map((a) => a.key) : ins.vars.map((v) => v.key);
      for (const key of keys) {
        if (SECRET.test(key) && !NOT_SECRET.test(key))
          warn('SecretsUsedInArgOrEnv', ins.loc.line, `Do not use ARG or ENV instructions for sensitive data (${ins.kind} ${JSON.stringify(key)})`);
      }
    }
  }

  const declared = new Set([...input.metaArgs.map((m) => m.key), ...input.automaticArgs]);
  const seen = new Map<string, number>();
  for (const st of input.stages) {
    const from = st.from;
    const words = from.original.split(/\s+/);
    const as = words.find((w, i) => i > 0 && w.toLowerCase() === 'as');
    const fromKw = words[0]!;
    if (as && (fromKw === fromKw.toUpperCase()) !== (as === as.toUpperCase())) {
      warn('FromAsCasing', from.loc.line, `'${as}' and '${fromKw}' keywords' casing do not match`);
    }
    const asIndex = words.findIndex((w, i) => i > 0 && w.toLowerCase() === 'as');
    const written = asIndex > 0 ? words[asIndex + 1] : undefined;
    if (written && written !== written.toLowerCase()) warn('StageNameCasing', from.loc.line, `Stage name '${written}' should be lowercase`);
    if (st.name) {
      if (st.name === 'scratch' || st.name === 'context')
        warn('ReservedStageName', from.loc.line, `Stage name should not use the same name as reserved stage "${st.name}"`);
      if (seen.has(st.name)) warn('DuplicateStageName', from.loc.line, `Duplicate stage name "${st.name}", stage names should be unique`);
      else seen.set(st.name, st.index);
    }
    for (const m of from.original.matchAll(/\$\{?([A-Za-z_][A-Za-z0-9_]*)/g)) {
      if (!declared.has(m[1]!)) warn('UndefinedArgInFrom', from.loc.line, `FROM argument '${m[1]}' is not declared`);
    }
    let shellSet = false;
    let workdirSet = false;
    const counts = new Map<string, number[]>();
    for (const ins of st.instructions) {
      if (ins.kind === 'SHELL') shellSet = true;
      if ((ins.kind === 'CMD' || ins.kind === 'ENTRYPOINT') && ins.command.form === 'shell' && !shellSet) {
        warn('JSONArgsRecommended', ins.loc.line, `JSON arguments recommended for ${ins.kind} to prevent unintended behavior related to OS signals`);
      }
      if (ins.kind === 'WORKDIR') {
        if (!workdirSet && !ins.path.startsWith('/') && !ins.path.startsWith('$')) {
          warn('WorkdirRelativePath', ins.loc.line, `Relative workdir ${JSON.stringify(ins.path)} can have unexpected results if the base image changes`);
        }
        workdirSet = true;
      }
      if (ins.kind === 'CMD' || ins.kind === 'ENTRYPOINT' || ins.kind === 'HEALTHCHECK') counts.set(ins.kind, [...(counts.get(ins.kind) ?? []), ins.loc.line]);
    }
    for (const [kind, lines] of counts) {
      for (const line of lines.slice(0, -1)) {
        warn(
          'MultipleInstructionsDisallowed',
          line,
          `Multiple ${kind} instructions should not be used in the same stage because only the last one will be used`,
        );
      }
    }
  }
  return out.sort((a, b) => a.loc!.line - b.loc!.line);
}

/**
 * Applies `# check=`: drops skipped rules (or all with `skip=all`); with `error=true`, returns the error the
 * remaining lint violations make (located at the first one), else undefined.
 */
export function applyCheckDirective(warnings: ParseWarning[], check: Directives['check'], file: string): { warnings: ParseWarning[]; error?: KilnError } {
  if (!check) return { warnings };
  const skipAll = check.skip.includes('all');
  const kept = warnings.filter((w) => !(w.rule && LINT_RULES.has(w.rule) && (skipAll || check.skip.includes(w.rule))));
  if (!check.error) return { warnings: kept };
  const violations = kept.filter((w) => w.rule && LINT_RULES.has(w.rule));
  if (violations.length === 0) return { warnings: kept };
  const rules = [...new Set(violations.map((w) => w.rule!))];
  const first = violations[0]!;
  return {
    warnings: kept,
    error: new KilnError('DOCKERFILE_SYNTAX', `lint violation found for rules: ${rules.join(', ')} (${first.message})`, {
      loc: first.loc ?? { file, line: 1 },
      hint: 'fix them, or relax the "# check=" directive (skip=RULE or error=false)',
    }),
  };
}
