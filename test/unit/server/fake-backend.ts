/** A ServerBackend that records what it is asked and builds nothing: for the server's unit tests. */
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ServerBackend, ImageSummary } from '../../../src/server/backend.js';
import type { BuildOptions } from '../../../src/builder/types.js';
import { KilnError } from '../../../src/errors.js';

export interface FakeCalls {
  builds: Array<BuildOptions & { files: string[]; dockerfileText: string }>;
  tags: Array<[string, string]>;
  removed: string[];
}

/** `buildMs` makes builds take that long (abortable); `failWith` makes them fail after one output line. */
export function fakeBackend(opts: { buildMs?: number; failWith?: KilnError } = {}): { backend: ServerBackend; calls: FakeCalls; tmp: string } {
  const tmp = mkdtempSync(join(tmpdir(), 'kiln-fake-'));
  const calls: FakeCalls = { builds: [], tags: [], removed: [] };
  const image: ImageSummary = {
    Id: `sha256:${'a'.repeat(64)}`,
    ParentId: '',
    RepoTags: ['app:latest'],
    RepoDigests: [],
    Created: 0,
    Size: 1,
    SharedSize: -1,
    Labels: null,
    Containers: -1,
  };
  const backend: ServerBackend = {
    tmpDir: tmp,
    async build(o) {
      calls.builds.push({
        ...o,
        files: readdirSync(o.contextDir).sort(),
        dockerfileText: o.dockerfileText ?? readFileSync(join(o.contextDir, o.contextDockerfile ?? 'Dockerfile'), 'utf8'),
      });
      const step = { id: 1, stage: '0', index: 1, total: 1, text: 'RUN true' };
      o.onEvent?.({ type: 'build-start', steps: 1, stages: ['0'] });
      o.onEvent?.({ type: 'step-start', step });
      o.onEvent?.({ type: 'step-output', step, stream: 'stdout', data: 'step output\n' });
      if (opts.buildMs) {
        await new Promise<void>((resolve, reject) => {
          const t = setTimeout(resolve, opts.buildMs);
          o.signal?.addEventListener(
            'abort',
            () => {
              clearTimeout(t);
              reject(new KilnError('CANCELLED', 'cancelled'));
            },
            { once: true },
          );
        });
      }
      if (opts.failWith) throw opts.failWith;
      const result = { imageId: image.Id, manifestDigest: `sha256:${'b'.repeat(64)}`, tags: o.tags ?? [], stepsExecuted: 1, stepsCached: 0, stepsShared: 0 };
      o.onEvent?.({ type: 'build-done', result });
      return result;
    },
    images: {
      async list() {
        return [image];
      },
      async inspect(name) {
        if (name !== 'app:latest' && name !== 'app') throw new KilnError('IMAGE_NOT_FOUND', `No such image: ${name}`);
        return {
          Id: image.Id,
          RepoTags: image.RepoTags,
          RepoDigests: [],
          Parent: '',
          Comment: '',
          Created: '',
          Container: '',
          ContainerConfig: {},
          DockerVersion: '',
          Author: '',
          Config: {},
          GraphDriver: { Data: {}, Name: 'overlay2' },
          Architecture: 'amd64',
          Os: 'linux',
          Size: 1,
          RootFS: { Type: 'layers', Layers: [] },
          Metadata: { LastTagTime: '' },
        };
      },
      async tag(s, t) {
        calls.tags.push([s, t]);
      },
      async remove(name) {
        calls.removed.push(name);
        return [{ Untagged: name }];
      },
    },
  };
  return { backend, calls, tmp };
}
