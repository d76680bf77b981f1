/**
 * The parser's public surface. Import from here (`../parser/index.js`), not from the files behind it.
 *
 * Typical builder use:
 *   const df = parseDockerfile(text, { file, buildArgs, target, platform });
 *   for (const i of df.requiredStages) {
 *     const stage = df.stages[i];
 *     const scope = base is a stage ? scopes[base.index].child()
 *                 : createStageScope({ globalArgs: df.globalArgs, buildArgs: df.buildArgs,
 *                                      baseEnv: imageConfig.Env, escape: df.directives.escape });
 *     for (const raw of stage.instructions) {
 *       const ins = expandInstruction(raw, scope);   // ARG values resolved, words expanded
 *       scope.dispatch(ins);                        // ARG/ENV update the scope
 *       …run ins (RUN env: scope.runEnv() + scope.proxyEnv())…
 *     }
 *   }
 */
export type * from './types.js';
export { parseDockerfile, parseDockerfileAll, type ParseAllResult } from './parse-dockerfile.js';
export { createStageScope, DEFAULT_PATH, envListToPairs, type StageScope, type StageScopeOptions } from './scope.js';
export { expandInstruction, validatePort, validateSignal } from './expand-instruction.js';
export { processWord, processWords, processWordWithMatches, type EnvLookup, type LexOptions, type WordResult } from './shell-lexer.js';
export { heredocRunScript, parseHeredocWord } from './heredoc.js';
export { parseOnbuildTriggers, type TriggerOptions } from './onbuild.js';
export { resolveStageRef } from './stage-refs.js';
export { parseMount } from './mounts.js';
export { automaticPlatformArgs, formatPlatform, hostPlatform, normalizePlatform, parsePlatform } from './platform.js';
export { formatInstruction, outlineDockerfile, type Outline, type OutlineStage } from './outline.js';
