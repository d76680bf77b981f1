/** The op graph: typed ops, their digests and step keys, and the Dockerfile → graph conversion. */
export type * from './types.js';
export { buildGraph, type BuildGraphOptions } from './build-graph.js';
export { instructionOp, isFsInstruction, type FsInstruction } from './instruction-op.js';
export { keyedOp, opDigest, stepKey } from './keys.js';
export { absoluteMounts, copyDef, displayText, execCommand, execDef, extraHostNames, metaDef, mkdirDef, mountDefs } from './ops.js';
