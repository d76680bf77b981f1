/** Starts `kiln ui` (from sources) on a loopback port over a given root, for the page's browser tests and bench. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { freePort } from '../../helpers/registry.js';

const DEV_ENTRY = fileURLToPath(new URL('../../../src/cli/dev.ts', import.meta.url));

export interface UiServer {
  url: string;
  port: number;
  token?: string;
  proc: ChildProcess;
  stop(): Promise<void>;
}

export async function startUi(root: string, opts: { token?: string } = {}): Promise<UiServer> {
  const port = await freePort();
  const work = mkdtempSync(join(tmpdir(), 'kiln-ui-cfg-'));
  const args = ['--import', 'tsx', DEV_ENTRY, '--root', root, 'ui', '--quiet', '--listen', `127.0.0.1:${port}`];
  if (opts.token) {
    writeFileSync(join(work, 'token'), `${opts.token}\n`, { mode: 0o600 });
    args.push('--token-file', join(work, 'token'));
  }
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<void>((r) => proc.on('close', () => r()));
  const deadline = Date.now() + 30_000;
  while (!out.includes('kiln ui: http')) {
    if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`kiln ui did not start: ${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    token: opts.token,
    proc,
    async stop() {
      if (proc.exitCode === null) proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(t);
      rmSync(work, { recursive: true, force: true });
    },
  };
}

/** The bars of the page's timeline as data: ids, stage, times from data attributes and their drawn boxes. */
export async function timelineBars(
  page: Page,
): Promise<Array<{ step: number; stage: string; start: number; end: number; cached: boolean; critical: boolean; x: number; w: number; y: number }>> {
  return page.$$eval('#timeline g.bar', (gs) =>
    gs.map((g) => {
      const r = g.querySelector('rect')!.getBoundingClientRect();
      const d = (g as unknown as { dataset: Record<string, string | undefined> }).dataset;
      return {
        step: Number(d.step),
        stage: d.stage ?? '',
        start: Number(d.start),
        end: Number(d.end),
        cached: d.cached === 'true',
        critical: d.critical === 'true',
        x: r.x,
        w: r.width,
        y: r.y,
      };
    }),
  );
}
