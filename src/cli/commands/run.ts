/**
 * `kiln run [flags] IMAGE [CMD…]`, shaped like `docker run`. Flags stop at the image name (parsed by
 * src/containers/cli-flags.ts), so the command keeps its own flags. Foreground runs stream output and exit with
 * the container's status; `-d` leaves a supervisor running and prints the id.
 */
import type { Command } from 'commander';
import type { StatusCommand } from '../exit-status.js';
import { bool, flagHelp, list, parseFlags, str, type FlagDef } from '../../containers/cli-flags.js';
import { KilnError } from '../../errors.js';
import { globalOptions } from '../context.js';
import { followFirstRun, healthFlags, POLICY_FLAGS, restartFlag } from '../run-policy-flags.js';

export const RUN_FLAGS: FlagDef[] = [
  { name: 'rm', help: 'remove the container (and its anonymous volumes) when it exits' },
  { name: 'detach', short: 'd', help: 'run in the background and print the container id' },
  { name: 'interactive', short: 'i', help: 'keep stdin open' },
  { name: 'tty', short: 't', help: 'allocate a pseudo-terminal' },
  { name: 'env', short: 'e', value: 'multi', help: "set an environment variable (K=V, or K to copy the host's)" },
  { name: 'env-file', value: 'multi', help: 'read environment variables from a file' },
  { name: 'volume', short: 'v', value: 'multi', help: 'bind a host path or a named volume: SRC:DST[:ro|rw][,nocopy], or DST for an anonymous volume' },
  { name: 'volumes-from', value: 'multi', help: "mount another container's volumes and binds: CONTAINER[:ro|rw]" },
  { name: 'workdir', short: 'w', value: 'single', help: 'working directory inside the container' },
  { name: 'user', short: 'u', value: 'single', help: 'user (name|uid)[:(group|gid)]' },
  { name: 'network', aliases: ['net'], value: 'single', help: 'none, host, bridge (the default) or a network made by kiln network create' },
  { name: 'network-alias', aliases: ['net-alias'], value: 'multi', help: 'another name for the container on its user-defined network' },
  { name: 'ip', value: 'single', help: 'the IPv4 address on its user-defined network' },
  { name: 'publish', short: 'p', value: 'multi', help: 'publish a port: [IP:]HOST:CONTAINER' },
  { name: 'entrypoint', value: 'single', help: "override the image's ENTRYPOINT" },
  { name: 'name', value: 'single', help: 'name the container' },
  { name: 'label', short: 'l', value: 'multi', help: 'set a label on the container: KEY=VALUE (or KEY, empty value)' },
  { name: 'hostname', short: 'h', value: 'single', help: 'container host name' },
  { name: 'memory', short: 'm', value: 'single', help: 'memory limit (e.g. 64m, 1g)' },
  { name: 'cpus', value: 'single', help: 'number of CPUs (e.g. 0.5)' },
  { name: 'add-host', value: 'multi', help: 'add a host-to-IP mapping to /etc/hosts (NAME:IP)' },
  { name: 'read-only', help: "mount the container's root filesystem read-only" },
  { name: 'privileged', help: 'every capability, no seccomp filter, every host device (as docker run --privileged)' },
  { name: 'tmpfs', value: 'multi', help: 'mount a tmpfs: PATH[:OPTIONS]' },
  { name: 'cap-add', value: 'multi', help: 'add a Linux capability' },
  { name: 'cap-drop', value: 'multi', help: 'drop a Linux capability' },
  { name: 'pids-limit', value: 'single', help: 'maximum number of processes' },
  { name: 'security-opt', value: 'multi', help: 'seccomp=unconfined, seccomp=PROFILE.json (Docker format), no-new-privileges' },
  { name: 'platform', value: 'single', help: 'run this platform of a multi-platform image (os/arch[/variant]; a foreign one through binfmt_misc)' },
  { name: 'pull', value: 'single', help: 'pull the image before running: missing (default), always or never' },
  ...POLICY_FLAGS,
  { name: 'help', help: 'show this help' },
];

export function register(program: StatusCommand): void {
  program
    .command('run')
    .description('run a command in a new container')
    .usage('[flags] IMAGE [COMMAND] [ARG...]')
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .argument('[args...]')
    .addHelpText('after', `\nFlags:\n${flagHelp(RUN_FLAGS)}`)
    .action(async (_args: string[], _o: unknown, cmd: Command) => {
      const { flags, target, rest } = parseFlags(cmd.args, RUN_FLAGS);
      if (bool(flags, 'help')) {
        cmd.outputHelp();
        return;
      }
      if (!target) throw new KilnError('INVALID_ARGUMENT', '"kiln run" requires at least 1 argument', { hint: 'kiln run [flags] IMAGE [COMMAND] [ARG...]' });
      const root = globalOptions(cmd).root;
      const [{ openRoot }, { cleanupStale }, { createContainer }, rc, { parsePort }] = await Promise.all([
        import('../../cache/root.js'),
        import('../../sandbox/cleanup.js'),
        import('../../containers/create-container.js'),
        import('../../containers/run-config.js'),
        import('../../sandbox/ports.js'),
      ]);
      // The network by name (a user-defined one is looked up at create: NETWORK_NOT_FOUND), with its alias and address.
      const networkMode = str(flags, 'network') ?? 'bridge';
      const ip = str(flags, 'ip');
      const aliases = list(flags, 'network-alias');
      const networking = { mode: networkMode, endpoints: aliases.length || ip ? { [networkMode]: { aliases, ...(ip ? { ipv4Address: ip } : {}) } } : {} };
      const detached = bool(flags, 'detach');
      // A detached container's stdin is not kept open (there is no attach to write to it later): refused, not ignored.
      if (detached && bool(flags, 'interactive'))
        throw new KilnError('INVALID_ARGUMENT', 'kiln run -d -i: a detached container gets no stdin, so -i cannot be honoured', {
          hint: 'drop -i, and give the container a command that keeps running (e.g. sleep infinity) if it should stay up',
        });
      const tty = bool(flags, 'tty');
      const memory = str(flags, 'memory');
      const cpus = str(flags, 'cpus');
      const pids = str(flags, 'pids-limit');
      const limits = {
        ...(memory ? { memoryBytes: rc.parseMemory(memory) } : {}),
        ...(cpus ? { cpus: rc.parseCpus(cpus) } : {}),
        ...(pids && rc.parsePidsLimit(pids) ? { pids: rc.parsePidsLimit(pids) } : {}),
      };
      const volumes = list(flags, 'volume').map((v) => rc.parseVolume(v));
      const ports = list(flags, 'publish').map(parsePort);
      const { parseSecurityOpts } = await import('../../sandbox/security-opt.js');
      const security = await parseSecurityOpts(list(flags, 'security-opt'));
      const { ensureImage, parsePullPolicy } = await import('../ensure-image.js');
      const pullPolicy = parsePullPolicy(str(flags, 'pull'));
      const restartPolicy = await restartFlag(flags);
      const healthcheck = healthFlags(flags);
      const restarts = Boolean(restartPolicy && restartPolicy.name !== 'no');
      if (restarts && bool(flags, 'rm')) throw new KilnError('INVALID_ARGUMENT', 'conflicting options: cannot specify both --restart and --rm');
      // In the foreground a restarting container is shown through its log (its supervisor is detached so the
      // policy outlives this command): there is no terminal or stdin to hand it.
      if (restarts && !detached && (bool(flags, 'interactive') || tty))
        throw new KilnError('INVALID_ARGUMENT', `kiln run --restart ${restartPolicy!.name} without -d cannot keep -i or -t`, {
          hint: 'run it with -d, and kiln exec -it into it',
        });

      await cleanupStale(root);
      const store = await openRoot(root);
      let rec;
      try {
        await ensureImage(store, target, { policy: pullPolicy, out: process.stderr, platform: str(flags, 'platform') });
        rec = await createContainer(store, {
          image: target,
          cmd: rest,
          entrypoint: str(flags, 'entrypoint'),
          env: list(flags, 'env'),
          envFiles: list(flags, 'env-file'),
          volumes,
          volumesFrom: list(flags, 'volumes-from'),
          workdir: str(flags, 'workdir'),
          user: str(flags, 'user'),
          networking,
          ports,
          name: str(flags, 'name'),
          labels: rc.parseLabels(list(flags, 'label')),
          hostname: str(flags, 'hostname'),
          addHosts: list(flags, 'add-host'),
          tty,
          readonlyRootfs: bool(flags, 'read-only'),
          privileged: bool(flags, 'privileged'),
          tmpfs: list(flags, 'tmpfs'),
          capAdd: list(flags, 'cap-add'),
          capDrop: list(flags, 'cap-drop'),
          seccomp: security.seccomp,
          autoRemove: bool(flags, 'rm'),
          detached: detached || restarts,
          limits,
          restartPolicy,
          healthcheck,
          platform: str(flags, 'platform'),
        });
      } finally {
        await store.close();
      }
      if (detached) {
        const { startDetached } = await import('../../containers/lifecycle.js');
        await startDetached(root, rec.id);
        process.stdout.write(`${rec.id}\n`);
        return;
      }
      if (restarts) {
        const { startDetached } = await import('../../containers/lifecycle.js');
        await startDetached(root, rec.id);
        return followFirstRun(root, rec.id);
      }
      return runForeground(root, rec.id, { interactive: bool(flags, 'interactive'), tty });
    });
}

/** Runs a created container attached to this terminal; returns its exit status. */
async function runForeground(root: string, id: string, o: { interactive: boolean; tty: boolean }): Promise<number> {
  const { superviseContainer, removeContainerData } = await import('../../containers/container-runner.js');
  const { createContainerStore } = await import('../../containers/containers.js');
  const { isKilnError } = await import('../../errors.js');
  let kill: ((s: NodeJS.Signals) => Promise<void>) | undefined;
  const abort = new AbortController();
  let interrupts = 0;
  // As `docker run`'s signal proxy: signals go to the container; before it starts they cancel the run, and a
  // third Ctrl-C kills a container that ignores SIGINT (pid 1 without a handler does).
  const forward = (sig: NodeJS.Signals) => {
    if (!kill) return abort.abort(new Error(`received ${sig}`));
    // A signal that cannot be delivered (runc gone, the container exited) has nothing left to stop.
    if (sig === 'SIGINT' && ++interrupts >= 3) return void kill('SIGKILL').catch(() => {});
    kill(sig).catch(() => {});
  };
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];
  for (const s of signals) process.on(s, forward);
  // runc can hand the container a terminal only when kiln has one (stdin and stdout); otherwise (`-t` in a
  // script or CI) the tty shim relays the container's terminal over pipes, as `docker run -t` does.
  const ownTerminal = o.tty && Boolean(process.stdin.isTTY && process.stdout.isTTY);
  try {
    const rec = await superviseContainer(root, id, {
      inheritStdio: ownTerminal,
      stdin: o.interactive && !ownTerminal ? process.stdin : undefined,
      stdout: process.stdout,
      stderr: process.stderr,
      signal: abort.signal,
      onStart: (c) => {
        kill = (s) => c.kill(s);
      },
    });
    return rec.exitCode ?? 0;
  } catch (err) {
    // A container that never started leaves nothing behind (Docker keeps it as Created; kiln does not, so a
    // failed `kiln run` leaves no record to remove).
    const rec = await createContainerStore({ root })
      .get(id)
      .catch(() => undefined);
    if (rec && isKilnError(err)) await removeContainerData(root, rec, { volumes: true });
    throw err;
  } finally {
    for (const s of signals) process.off(s, forward);
    if (o.interactive && !ownTerminal) process.stdin.destroy();
  }
}
