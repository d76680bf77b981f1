/**
 * `kiln run`'s preparation, shared by the CLI and the server: resolves the image, applies Docker's run rules,
 * sets up volumes and the rootfs snapshot, and stores the container record that a supervisor then runs.
 * Anything created here is undone if a later step fails.
 */
import { readFile, stat } from 'node:fs/promises';
import { KilnError } from '../errors.js';
import type { StoreRoot } from '../cache/root.js';
import { hostPlatform, parsePlatform, platformOf } from '../image/platform.js';
import { checkEmulation } from '../sandbox/binfmt.js';
import { createContainerStore, randomName, type ContainerRecord, type HealthcheckConfig, type RestartPolicy } from './containers.js';
import { mergeHealthcheck } from './healthcheck.js';
import { hasRestartPolicy } from './restart-policy.js';
import { newContainerId } from '../sandbox/executor.js';
import { adjustCapabilities } from '../sandbox/spec.js';
import { prepareRootfs, releaseRootfs } from './image-rootfs.js';
import { imageVolumes, mergeEnv, parseEnvFile, parseEnvFlags, resolveArgs, type VolumeSpec } from './run-config.js';
import { volumeMount, volumesFromMounts } from './volume-mounts.js';
import type { SeccompSetting } from '../sandbox/security-opt.js';
import type { ContainerMount, NetworkMode, PortMapping } from '../sandbox/types.js';
import { openVolumeStore } from './volume-users.js';
import { emitContainerEvent } from './container-events.js';
import { resolveCreateNetworks, type EndpointOptions } from './container-networks.js';

export interface CreateContainerOptions {
  image: string;
  cmd: string[];
  entrypoint?: string;
  env?: string[];
  envFiles?: string[];
  volumes?: VolumeSpec[];
  /** `--volumes-from CONTAINER[:ro|rw]`: that container's volumes and binds, at the same destinations. */
  volumesFrom?: string[];
  workdir?: string;
  user?: string;
  network?: NetworkMode;
  /**
   * Docker's NetworkMode by name (a user-defined network's name or id, or bridge/default/host/none) and the
   * endpoints asked for (`--network-alias`, `--ip`, NetworkingConfig.EndpointsConfig); overrides `network`.
   */
  networking?: { mode?: string; endpoints?: Record<string, EndpointOptions> };
  ports?: PortMapping[];
  name?: string;
  hostname?: string;
  tty?: boolean;
  /** With `tty`: rows and columns of the terminal as the process starts. */
  consoleSize?: [number, number];
  autoRemove?: boolean;
  detached?: boolean;
  limits?: { memoryBytes?: number; cpus?: number; pids?: number };
  readonlyRootfs?: boolean;
  /** `--privileged`: every capability, no seccomp filter, every host device (as Docker). */
  privileged?: boolean;
  capAdd?: string[];
  capDrop?: string[];
  /** `--security-opt seccomp=…` (see parseSecurityOpts); default Docker's profile. */
  seccomp?: SeccompSetting;
  /** `--tmpfs PATH[:OPTIONS]` mounts. */
  tmpfs?: string[];
  /** `--add-host NAME:IP` entries. */
  addHosts?: string[];
  /** Labels set on the container; the image's labels are kept where these do not override them. */
  labels?: Record<string, string>;
  /** `--stop-signal`: the signal `stop` sends first; default the image's STOPSIGNAL, else SIGTERM. */
  stopSignal?: string;
  /** `--restart`; absent or `no`: never restarted. Conflicts with `autoRemove`. */
  restartPolicy?: RestartPolicy;
  /** `--health-*` / `--no-healthcheck` (Config.Healthcheck), field by field over the image's HEALTHCHECK. */
  healthcheck?: HealthcheckConfig;
  /** `--platform`: which manifest of a multi-platform image to run (default this host's). */
  platform?: string;
  signal?: AbortSignal;
}

/** `--add-host NAME:IP` (IPv6 addresses keep their colons) as /etc/hosts lines. */
function parseAddHosts(flags: string[]): string[] {
  return flags.map((f) => {
    const i = f.indexOf(':');
    const name = f.slice(0, i);
    const ip = f.slice(i + 1);
    if (i <= 0 || !ip || !/^[0-9a-fA-F.:]+$/.test(ip)) throw new KilnError('INVALID_ARGUMENT', `invalid argument "${f}" for --add-host: use NAME:IP`);
    return `${ip}\t${name}`;
  });
}

/** Creates a container record (status `created`) with its snapshot and volumes. Throws IMAGE_NOT_FOUND, … */
export async function createContainer(store: StoreRoot, o: CreateContainerOptions): Promise<ContainerRecord> {
  const root = store.root;
  // As the docker CLI and dockerd: a container removed at its exit cannot also be restarted at it.
  if (o.autoRemove && hasRestartPolicy(o.restartPolicy))
    throw new KilnError('INVALID_ARGUMENT', 'conflicting options: cannot specify both --restart and --rm', {
      hint: `--restart ${o.restartPolicy.name} restarts the container when it exits; --rm removes it then`,
    });
  const platform = o.platform ? parsePlatform(o.platform) : undefined;
  // A foreign platform runs through its binfmt_misc emulator: missing, say how to register it before creating anything.
  if (platform && platformOf(platform) !== platformOf(hostPlatform())) await checkEmulation([platformOf(platform)]);
  const image = await store.images.resolve(o.image, { signal: o.signal, ...(platform ? { platform } : {}) }).catch((err) => {
    // kiln run does not pull implicitly (no registry traffic a user did not ask for): say how to get it.
    if ((err as KilnError).code === 'IMAGE_NOT_FOUND' && !(err as KilnError).hint) {
      throw new KilnError('IMAGE_NOT_FOUND', (err as Error).message, {
        hint: `pull it first (kiln pull ${o.image}) or build it (kiln build -t ${o.image} .)`,
        cause: err,
      });
    }
    throw err;
  });
  const cfg = image.config.config;
  const args = resolveArgs(cfg, o.cmd, o.entrypoint);
  const fileEnv: string[] = [];
  for (const f of o.envFiles ?? []) {
    const text = await readFile(f, 'utf8').catch((cause) => {
      throw new KilnError('NOT_FOUND', `open ${f}: no such file or directory`, { cause });
    });
    fileEnv.push(...parseEnvFile(text, f));
  }
  const env = mergeEnv(cfg?.Env ?? [], [...fileEnv, ...parseEnvFlags(o.env ?? [])]);
  const healthcheck = mergeHealthcheck(cfg?.Healthcheck, o.healthcheck);
  const resolved = o.networking ? await resolveCreateNetworks(store.root, o.networking.mode, o.networking.endpoints) : undefined;
  const network = resolved?.network ?? o.network ?? 'bridge';
  if (o.ports?.length && network !== 'bridge' && !resolved?.networks) {
    throw new KilnError('INVALID_ARGUMENT', `published ports need the bridge network, not "${network}"`);
  }
  const containers = createContainerStore({ root });
  const name = o.name ?? randomName();
  if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(name))
    throw new KilnError('INVALID_ARGUMENT', `invalid container name "${name}"`, { hint: 'names match [a-zA-Z0-9][a-zA-Z0-9_.-]*' });
  if ((await containers.list()).some((c) => c.name === name)) {
    throw new KilnError('CONTAINER_EXISTS', `the container name "/${name}" is already in use`, {
      hint: 'remove that container (kiln rm) or pick another --name',
    });
  }
  const id = newContainerId();

  // Volumes: bind sources must exist; named volumes are created on first use; `--volumes-from` mounts come next
  // (explicit -v wins at a destination); image VOLUMEs no mount covers get anonymous ones.
  const vols = openVolumeStore(root);
  const specs = [...(o.volumes ?? [])];
  const shared = await volumesFromMounts(containers, o.volumesFrom ?? [], new Set(specs.map((v) => v.target)));
  specs.push(...imageVolumes(cfg, [...specs, ...shared.mounts]));
  const mounts: ContainerMount[] = [...shared.mounts];
  const used: ContainerRecord['volumes'] = [...shared.volumes];
  const createdAnon: string[] = [];
  let snapshotKey: string | undefined;
  try {
    for (const v of specs) {
      if (v.kind === 'bind') {
        if (
          !(await stat(v.source).then(
            () => true,
            () => false,
          ))
        ) {
          throw new KilnError('NOT_FOUND', `invalid mount config for type "bind": bind source path does not exist: ${v.source}`);
        }
        mounts.push({ type: 'bind', source: v.source, target: v.target, readonly: v.readonly });
      } else {
        const rec = v.kind === 'volume' ? await vols.create(v.name) : await vols.create(undefined, { anonymous: true });
        if (v.kind === 'anonymous') createdAnon.push(rec.name);
        // A volume made for this container by `--mount` with volume options is anonymous too (its record says so).
        used.push({ name: rec.name, anonymous: v.kind === 'anonymous' || (rec.anonymous && !(await vols.users(rec.name)).length) });
        mounts.push(await volumeMount(rec, v));
      }
    }
    for (const t of o.tmpfs ?? []) {
      const [target, opts] = [t.split(':')[0]!, t.split(':').slice(1).join(':')];
      if (!target.startsWith('/')) throw new KilnError('INVALID_ARGUMENT', `invalid --tmpfs "${t}": the path must be absolute`);
      mounts.push({ type: 'tmpfs', target, options: opts ? opts.split(',') : [] });
    }
    // Check capability names now: a typo is a usage error, not a failed start.
    adjustCapabilities([], o.capAdd ?? [], o.capDrop ?? []);
    snapshotKey = id;
    const rootfs = await prepareRootfs(store, image, id, { signal: o.signal });
    const rec: ContainerRecord = {
      id,
      name,
      image: o.image,
      imageId: image.id,
      created: new Date().toISOString(),
      status: 'created',
      autoRemove: Boolean(o.autoRemove),
      stopSignal: o.stopSignal || cfg?.StopSignal,
      detached: Boolean(o.detached),
      snapshotKey,
      volumes: used,
      labels: { ...(cfg?.Labels ?? {}), ...(o.labels ?? {}) },
      ...(hasRestartPolicy(o.restartPolicy) ? { restartPolicy: o.restartPolicy, restartCount: 0 } : {}),
      ...(healthcheck ? { healthcheck } : {}),
      ...(resolved?.networks ? { networks: resolved.networks } : {}),
      spec: {
        rootfs,
        mounts,
        network,
        hostname: o.hostname,
        ports: o.ports ?? [],
        limits: o.limits,
        extraHosts: parseAddHosts(o.addHosts ?? []),
        readonlyRootfs: o.readonlyRootfs,
        ...(o.privileged ? { privileged: true } : {}),
        capAdd: o.capAdd,
        capDrop: o.capDrop,
        ...(o.seccomp ? { seccomp: o.seccomp } : {}),
        process: {
          args,
          env,
          cwd: o.workdir || cfg?.WorkingDir || '/',
          user: o.user ?? cfg?.User ?? '',
          tty: Boolean(o.tty),
          ...(o.tty && o.consoleSize ? { consoleSize: o.consoleSize } : {}),
        },
      },
    };
    await containers.create(rec);
    emitContainerEvent(root, rec, 'create');
    return rec;
  } catch (err) {
    if (snapshotKey) await releaseRootfs(root, snapshotKey).catch(() => {});
    for (const n of createdAnon) await vols.remove(n, { force: true }).catch(() => {});
    throw err;
  }
}
