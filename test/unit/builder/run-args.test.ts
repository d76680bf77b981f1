import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runCommand } from '../../../src/builder/run-step.js';
import { dockerignorePatterns } from '../../../src/builder/dockerignore.js';
import type { RunInstruction } from '../../../src/parser/types.js';

const loc = { file: 'Dockerfile', line: 1, endLine: 1 };
/** The argv of a RUN (a `#!` heredoc's is its /dev/pipes path). */
const runArgs = (ins: RunInstruction, shell: string[] | undefined) => runCommand(ins, shell).argv;
const run = (x: Partial<RunInstruction>) => ({ kind: 'RUN', loc, original: '', mounts: [], heredocs: [], mountSpecs: [], ...x }) as RunInstruction;

test('runArgs() sends shell form through the SHELL and keeps exec form as given', () => {
  assert.equal(runArgs(run({ command: { form: 'shell', script: 'make all' } }), undefined), ['/bin/sh', '-c', 'make all']);
  assert.equal(runArgs(run({ command: { form: 'shell', script: 'make' } }), ['/bin/bash', '-eo', 'pipefail', '-c']), [
    '/bin/bash',
    '-eo',
    'pipefail',
    '-c',
    'make',
  ]);
  assert.equal(runArgs(run({ command: { form: 'exec', args: ['/bin/echo', 'a b'] } }), ['/bin/bash', '-c']), ['/bin/echo', 'a b']);
});

test('runArgs() runs a lone heredoc as the script', () => {
  const h = { name: 'EOF', content: 'echo one\necho two\n', expand: true, stripTabs: false };
  assert.equal(runArgs(run({ command: { form: 'shell', script: '<<EOF' }, heredocs: [h] }), undefined), ['/bin/sh', '-c', 'echo one\necho two\n']);
});

test('runCommand() runs a lone #! heredoc as a program from /dev/pipes/, as BuildKit does', () => {
  const py = { name: 'EOF', content: '#!/usr/bin/env python3\nprint(1)\n', expand: true, stripTabs: false };
  const c = runCommand(run({ command: { form: 'shell', script: '<<EOF' }, heredocs: [py] }), ['/bin/bash', '-c']);
  assert.equal(c.argv, ['/dev/pipes/EOF']);
  assert.equal(c.file, { path: '/dev/pipes/EOF', content: py.content, mode: 0o755 });
  const withCmd = runCommand(run({ command: { form: 'shell', script: 'python3 <<EOF' }, heredocs: [py] }), undefined);
  assert.is(withCmd.file, undefined, 'a command that reads the heredoc gets it through the shell');
});

test('runArgs() hands a command with heredocs to the shell with the bodies appended', () => {
  const h = { name: 'EOF', content: 'hello\n', expand: true, stripTabs: false };
  assert.equal(runArgs(run({ command: { form: 'shell', script: 'cat > /f <<EOF' }, heredocs: [h] }), undefined), [
    '/bin/sh',
    '-c',
    'cat > /f <<EOF\nhello\nEOF',
  ]);
});

test('dockerignorePatterns() drops comments and blank lines', () => {
  assert.equal(dockerignorePatterns('# comment\n\nnode_modules\n  *.log \n!keep.log\n'), ['node_modules', '*.log', '!keep.log']);
});

test.run();
