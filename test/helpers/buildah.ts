/**
 * buildah (Debian's package, runc + overlay storage) as the peer that conformance tests and benchmarks compare kiln
 * with. Everything lives under one private storage root, so it never touches a system store, and `destroy()`
 * removes containers, mounts and the root.
 */
import { execFile } from 'node:child_process';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface Buildah {
  root: string;
  /** Copies an image into buildah's storage from an OCI layout (`oci:DIR:REF` in skopeo's terms). */
  importOci(layoutDir: string, layoutRef: string, name: string): Promise<void>;
  build(opts: { contextDir: string; dockerfile: string; tag: string; buildArgs?: Record<string, string> }): Promise<{ code: number; output: string }>;
  /** Mounts the image's root filesystem read-write in a new working container; returns the path. */
  mountImage(tag: string): Promise<string>;
  /** Writes the image to an OCI layout directory as `DIR:img` (no container: ONBUILD triggers do not run). */
  pushOci(tag: string, layoutDir: string): Promise<void>;
  /** The image's Docker-format config (`buildah inspect`'s `Docker.config`). */
  imageConfig(tag: string): Promise<Record<string, unknown>>;
  destroy(): Promise<void>;
}

export async function createBuildah(dir: string): Promise<Buildah> {
  const storage = join(dir, 'storage');
  const runroot = join(dir, 'run');
  await mkdir(storage, { recursive: true });
  await mkdir(runroot, { recursive: true });
  const base = ['--root', storage, '--runroot', runroot, '--storage-driver', 'overlay'];
  const buildah = async (args: string[], opts: { allowFail?: boolean } = {}) => {
    try {
      const r = await run('buildah', [...base, ...args], { maxBuffer: 64 << 20 });
      return { code: 0, output: r.stdout + r.stderr };
    } catch (err) {
      const e = err as { code?: number; stdout?: string; stderr?: string };
      if (!opts.allowFail) throw new Error(`buildah ${args.join(' ')} failed: ${e.stderr ?? err}`);
      return { code: typeof e.code === 'number' ? e.code : 1, output: `${e.stdout ?? ''}${e.stderr ?? ''}` };
    }
  };
  let containers = 0;
  return {
    root: dir,
    async importOci(layoutDir, layoutRef, name) {
      await run('skopeo', ['copy', '--quiet', `oci:${layoutDir}:${layoutRef}`, `containers-storage:[overlay@${storage}+${runroot}]${name}`]);
    },
    async build({ contextDir, dockerfile, tag, buildArgs = {} }) {
      const args = ['build', '--layers', '--format', 'docker', '--pull-never', '-f', dockerfile, '-t', tag];
      for (const [k, v] of Object.entries(buildArgs)) args.push('--build-arg', `${k}=${v}`);
      return buildah([...args, contextDir], { allowFail: true });
    },
    async mountImage(tag) {
      // A name of our own: `buildah from` runs the image's ONBUILD triggers and prints their steps first.
      const ctr = `mnt-${process.pid}-${++containers}`;
      await buildah(['from', '--pull-never', '--name', ctr, tag]);
      return (await buildah(['mount', ctr])).output.trim().split('\n').pop()!;
    },
    async pushOci(tag, layoutDir) {
      await buildah(['push', '--quiet', tag, `oci:${layoutDir}:img`]);
    },
    async imageConfig(tag) {
      const info = JSON.parse((await buildah(['inspect', '--type', 'image', tag])).output);
      return (info.Docker?.config ?? info.OCIv1?.config ?? {}) as Record<string, unknown>;
    },
    async destroy() {
      await buildah(['rm', '--all'], { allowFail: true });
      await buildah(['rmi', '--all', '--force'], { allowFail: true });
      await run('sh', ['-c', `grep -o ' ${storage}[^ ]*' /proc/mounts | sort -r | xargs -r -n1 umount -l`]).catch(() => {});
      await rm(dir, { recursive: true, force: true });
    },
  };
}
