/**
 * deploy/kubernetes/ checked offline: `kubectl kustomize` builds the kustomization (so every file it names exists
 * and parses), `kubectl annotate --local -o json` turns the YAML into JSON without a cluster (`kubectl create
 * --dry-run=client` would ask a server for its API list), and the tests assert on the objects. kubectl comes from
 * scripts/setup.sh (Debian's kubernetes-client): without it these tests fail, they never skip.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { CliIo } from '../../../src/cli/io.js';
import { main } from '../../../src/cli/main.js';
import { parseCacheExport, parseCacheImport } from '../../../src/remote-cache/spec.js';

const DIR = fileURLToPath(new URL('../../../deploy/kubernetes/', import.meta.url));

type Obj = Record<string, any>;

function kubectl(args: string[], input?: string): string {
  // A kubeconfig of nobody's: nothing here may depend on, or reach, a cluster.
  const r = spawnSync('kubectl', args, { input, encoding: 'utf8', env: { ...process.env, KUBECONFIG: '/dev/null' }, timeout: 60_000 });
  if (r.error) throw new Error(`kubectl ${args[0]}: ${r.error.message} (scripts/setup.sh installs kubectl: Debian's kubernetes-client)`);
  if (r.status !== 0) throw new Error(`kubectl ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

/** kubectl prints one pretty-printed JSON object per manifest, each opening with `{` at the start of a line. */
function parseObjects(text: string): Obj[] {
  const objs = text
    .trim()
    .split(/\n(?=\{)/)
    .map((s) => JSON.parse(s) as Obj);
  return objs.flatMap((o) => (o.kind === 'List' ? (o.items as Obj[]) : [o]));
}

const toJson = (yaml: string) => parseObjects(kubectl(['annotate', '--local', '-f', '-', '-o', 'json', 'kiln.dev/checked=offline'], yaml));

function one(objs: Obj[], kind: string, name?: string): Obj {
  const found = objs.filter((o) => o.kind === kind && (name === undefined || o.metadata?.name === name));
  assert.is(found.length, 1, `one ${kind}${name ? ` ${name}` : ''} (found ${found.length})`);
  return found[0]!;
}

interface Manifests {
  built: Obj[];
  examples: Obj[];
  deployment: Obj;
  pod: Obj;
  container: Obj;
  args: string[];
  configMap: Obj;
  service: Obj;
}

let loaded: Manifests | undefined;

/** Built on first use, inside a test: a missing kubectl fails the tests, not the whole unit process. */
function manifests(): Manifests {
  if (loaded) return loaded;
  const built = toJson(kubectl(['kustomize', DIR]));
  const examples = toJson(readFileSync(`${DIR}secret.example.yaml`, 'utf8'));
  const deployment = one(built, 'Deployment', 'kiln');
  const pod = deployment.spec.template.spec as Obj;
  const container = (pod.containers as Obj[]).find((c) => c.name === 'kiln');
  assert.ok(container, 'a container named kiln');
  const args = container.args as string[];
  loaded = { built, examples, deployment, pod, container, args, configMap: one(built, 'ConfigMap', 'kiln-cache'), service: one(built, 'Service', 'kiln') };
  return loaded;
}

/** The values after `flag` in the container's args (each flag and value are separate items). */
function argValues(flag: string): string[] {
  const { args } = manifests();
  const out: string[] = [];
  args.forEach((a, i) => {
    if (a === flag) out.push(args[i + 1]!);
  });
  return out;
}
const argValue = (flag: string): string => {
  const v = argValues(flag);
  assert.is(v.length, 1, `${flag} once in the args`);
  return v[0]!;
};

/** The volume mounted at the longest mount path that contains `path`. */
function volumeFor(path: string): Obj {
  const { container, pod } = manifests();
  const mounts = (container.volumeMounts as Obj[]).filter((m) => path === m.mountPath || path.startsWith(`${m.mountPath}/`));
  assert.ok(mounts.length > 0, `${path} lies in a volume mount`);
  const m = mounts.sort((a, b) => b.mountPath.length - a.mountPath.length)[0]!;
  const v = (pod.volumes as Obj[]).find((x) => x.name === m.name);
  assert.ok(v, `volume ${m.name} is defined`);
  return { ...v, mountPath: m.mountPath };
}

function captureIo(): { io: CliIo; out: () => string } {
  let out = '';
  const sink = new Writable({
    write(c: Buffer, _e, cb) {
      out += c.toString();
      cb();
    },
  });
  return {
    io: { stdout: sink, stderr: sink, env: {}, cwd: '/', interruptions: () => ({ signal: new AbortController().signal, dispose() {} }) },
    out: () => out,
  };
}

test('the kustomization builds the namespace, cache ConfigMap, Deployment and Service, all in one namespace', () => {
  const { built } = manifests();
  assert.equal(built.map((o) => o.kind).sort(), ['ConfigMap', 'Deployment', 'Namespace', 'Service']);
  const ns = one(built, 'Namespace').metadata.name;
  for (const o of built.filter((x) => x.kind !== 'Namespace')) assert.is(o.metadata.namespace, ns, `${o.kind} in ${ns}`);
  // The example secrets stay out of `kubectl apply -k`: a real token is created from a file.
  assert.not.match(readFileSync(`${DIR}kustomization.yaml`, 'utf8'), /^\s*-\s*secret/m);
});

test('the Deployment runs several `kiln serve` replicas on the state root, listening on TCP with a token', () => {
  const { deployment, args } = manifests();
  assert.ok(deployment.spec.replicas >= 2, `replicas ${deployment.spec.replicas}`);
  assert.is(args[0], 'kiln');
  assert.ok(args.includes('serve'));
  assert.ok(args.indexOf('--root') < args.indexOf('serve'), '--root is a global option, before the command');
  assert.ok(argValues('--listen').includes('tcp://0.0.0.0:2375'));
  const root = argValue('--root');
  const state = volumeFor(root);
  assert.is(state.mountPath, root, 'the state root is a volume of its own (overlay upper dirs cannot live on the overlay rootfs)');
  assert.ok(state.emptyDir?.sizeLimit || state.persistentVolumeClaim, 'an emptyDir with a size limit, or a PVC');
});

test('the flags the Deployment passes are options of `kiln serve` and of kiln', async () => {
  const { args } = manifests();
  const top = captureIo();
  assert.is(await main(['node', 'kiln', '--help'], top.io), 0, top.out());
  const serve = captureIo();
  assert.is(await main(['node', 'kiln', 'serve', '--help'], serve.io), 0, serve.out());
  const serveAt = args.indexOf('serve');
  for (const [i, a] of args.entries()) {
    if (!a.startsWith('--')) continue;
    const help = i < serveAt ? top.out() : serve.out();
    assert.ok(help.includes(`${a} `), `${a} is a flag of ${i < serveAt ? 'kiln' : 'kiln serve'}`);
  }
});

test('--cache-from and --cache-to come from the ConfigMap through env $(VAR) expansion', () => {
  const { container, args, configMap } = manifests();
  const env = container.env as Obj[];
  const cacheFrom = argValue('--cache-from');
  const cacheTo = argValue('--cache-to');
  assert.match(cacheFrom, /^type=registry,ref=\$\(KILN_CACHE_REF\)$/);
  assert.match(cacheTo, /^type=registry,ref=\$\(KILN_CACHE_REF\),/);
  // Every $(VAR) in the args must be defined in env, or the kubelet leaves the text as it is.
  const used = new Set(args.flatMap((a) => [...a.matchAll(/\$\(([A-Z0-9_]+)\)/g)].map((m) => m[1]!)));
  assert.ok(used.size >= 1);
  for (const name of used) {
    const e = env.find((x) => x.name === name);
    assert.ok(e, `${name} is in the container's env`);
    const ref = e.valueFrom?.configMapKeyRef;
    assert.ok(ref, `${name} comes from a ConfigMap`);
    assert.is(ref.name, configMap.metadata.name);
    assert.type(configMap.data[ref.key], 'string', `the ConfigMap has ${ref.key}`);
  }
  // The cache ref is a repository:tag on a registry the pods can reach, not the pod's own loopback.
  assert.match(configMap.data.KILN_CACHE_REF, /^[a-z0-9.-]+(:\d+)?\/[a-z0-9._/-]+:[\w.-]+$/);
  assert.not.match(configMap.data.KILN_CACHE_REF, /^(localhost|127\.)/);
  // As the kubelet expands them, the specs are what kiln's parser accepts (BuildKit's keys; unknown ones refused).
  const expand = (v: string) =>
    v.replace(/\$\(([A-Z0-9_]+)\)/g, (_, n: string) => configMap.data[env.find((x) => x.name === n)!.valueFrom.configMapKeyRef.key] as string);
  assert.equal(parseCacheImport(expand(cacheFrom)), { type: 'registry', ref: configMap.data.KILN_CACHE_REF });
  const exp = parseCacheExport(expand(cacheTo));
  assert.is(exp.type === 'registry' && exp.ref, configMap.data.KILN_CACHE_REF);
  assert.is(exp.mode, 'max');
});

test("kiln's config file (insecure registries) comes from the ConfigMap, read only", () => {
  const { container, configMap } = manifests();
  const path = (container.env as Obj[]).find((x) => x.name === 'KILN_CONFIG')?.value as string;
  assert.ok(path);
  const v = volumeFor(path);
  assert.is(v.configMap?.name, configMap.metadata.name);
  const item = (v.configMap.items as Obj[]).find((i) => `${v.mountPath}/${i.path}` === path);
  assert.ok(item, `${path} is an item of the ConfigMap volume`);
  assert.ok(Array.isArray(JSON.parse(configMap.data[item.key]).insecureRegistries));
});

test('the token file is the kiln-auth Secret, whose example is clearly not a usable token', () => {
  const { examples } = manifests();
  const tokenFile = argValue('--token-file');
  const v = volumeFor(tokenFile);
  assert.is(v.secret?.secretName, 'kiln-auth');
  const example = one(examples, 'Secret', 'kiln-auth');
  const key = tokenFile.slice(v.mountPath.length + 1);
  assert.type(example.stringData?.[key], 'string', `the example Secret has the key ${key}`);
  // kiln serve refuses a token shorter than 16 characters: applying the example as it is cannot open the server.
  assert.ok(example.stringData[key].length < 16);
  const tls = one(examples, 'Secret', 'kiln-tls');
  assert.equal(Object.keys(tls.stringData).sort(), ['ca.pem', 'cert.pem', 'key.pem']);
});

test('the probes ask /_ping on the unix socket the server also listens on (TCP needs the token)', () => {
  const { container } = manifests();
  const socket = argValues('--listen')
    .find((l) => l.startsWith('unix://'))
    ?.slice('unix://'.length);
  assert.ok(socket, 'a unix listener for the probes');
  for (const kind of ['readinessProbe', 'livenessProbe', 'startupProbe']) {
    const probe = container[kind] as Obj;
    assert.ok(probe?.exec, `${kind} is an exec probe (an httpGet probe cannot send the token)`);
    const cmd = probe.exec.command as string[];
    assert.is(cmd[0], 'curl');
    assert.ok(
      cmd.some((c) => /^-[a-zA-Z]*f[a-zA-Z]*$/.test(c)),
      `${kind}: curl -f, failing on an HTTP error`,
    );
    assert.is(cmd[cmd.indexOf('--unix-socket') + 1], socket, kind);
    assert.match(cmd[cmd.length - 1]!, /^http:\/\/[^/]+\/_ping$/, kind);
  }
  // The image has what the probes and RUN steps need.
  const dockerfile = readFileSync(`${DIR}Dockerfile`, 'utf8');
  for (const pkg of ['curl', 'runc', 'iptables', 'iproute2', 'tini']) assert.match(dockerfile, new RegExp(`apt-get install[^\\n]*\\b${pkg}\\b`), pkg);
  assert.match(dockerfile, /^ENTRYPOINT \["\/usr\/bin\/tini", "-s", "--"\]$/m);
});

test('the server is privileged, with seccomp and AppArmor unconfined, as a rootful BuildKit pod', () => {
  const { deployment, container } = manifests();
  const sc = container.securityContext as Obj;
  assert.is(sc.privileged, true);
  assert.is(sc.seccompProfile?.type, 'Unconfined');
  assert.is(deployment.spec.template.metadata.annotations?.[`container.apparmor.security.beta.kubernetes.io/${container.name}`], 'unconfined');
  assert.ok(container.resources?.requests?.cpu && container.resources?.limits?.memory, 'requests and limits');
});

test('termination waits for the drain: longer than --grace-period', () => {
  const { pod, container } = manifests();
  const grace = Number(argValue('--grace-period'));
  assert.ok(Number.isInteger(grace) && grace > 0);
  const preStop = Number((container.lifecycle?.preStop?.exec?.command as string[] | undefined)?.[1] ?? 0);
  assert.ok(pod.terminationGracePeriodSeconds >= grace + preStop + 10, `${pod.terminationGracePeriodSeconds} s for ${preStop} s + ${grace} s + clean-up`);
});

test('a prune container GCs the same state root, in the PID namespace the leases are checked in', () => {
  const { pod, container, configMap } = manifests();
  const root = argValue('--root');
  const others = (pod.containers as Obj[]).filter((c) => c !== container);
  const prune = others.find((c) => c.name === 'prune');
  assert.ok(prune, 'a prune container');
  assert.is(prune.image, container.image);
  const script = (prune.args as string[]).join(' ');
  assert.match(script, new RegExp(`kiln --root ${root} prune --keep-storage "\\$KILN_KEEP_STORAGE"`));
  assert.match(script, /trap 'exit 0' TERM/, 'stops at once on SIGTERM');
  for (const name of ['KILN_KEEP_STORAGE', 'KILN_PRUNE_INTERVAL']) {
    const ref = (prune.env as Obj[]).find((e) => e.name === name)?.valueFrom?.configMapKeyRef;
    assert.is(ref?.name, configMap.metadata.name, name);
    assert.type(configMap.data[ref.key], 'string', name);
  }
  assert.match(configMap.data.KILN_KEEP_STORAGE, /^\d+(\.\d+)?(k|m|g|t|kb|mb|gb|tb|ki|mi|gi|ti|kib|mib|gib|tib)?$/i);
  assert.match(configMap.data.KILN_PRUNE_INTERVAL, /^\d+$/);
  const state = (container.volumeMounts as Obj[]).find((m) => m.mountPath === root)!.name;
  for (const c of others) {
    const m = (c.volumeMounts as Obj[] | undefined)?.find((x) => x.name === state);
    if (!m) continue;
    assert.is(m.mountPath, root, `${c.name} sees the state root at the same path`);
  }
  // A lease names its owner by pid: from another PID namespace a running build looks dead and loses its data.
  assert.is(pod.shareProcessNamespace, true);
});

test("the Service exposes 2375 and selects the Deployment's pods", () => {
  const { deployment, container, service } = manifests();
  assert.is(service.spec.type ?? 'ClusterIP', 'ClusterIP');
  const port = (service.spec.ports as Obj[]).find((p) => p.port === 2375);
  assert.ok(port, 'port 2375');
  const target = (container.ports as Obj[]).find((p) => p.name === port.targetPort || p.containerPort === port.targetPort);
  assert.ok(target, `targetPort ${port.targetPort} is a container port`);
  assert.is(target.containerPort, 2375);
  const labels = deployment.spec.template.metadata.labels as Obj;
  assert.ok(Object.keys(service.spec.selector).length > 0);
  for (const [k, v] of Object.entries(service.spec.selector as Obj)) assert.is(labels[k], v, `pod label ${k}`);
  for (const [k, v] of Object.entries(deployment.spec.selector.matchLabels as Obj)) assert.is(labels[k], v, `selector ${k}`);
  assert.is(service.spec.sessionAffinity, 'ClientIP', 'a build and the push of its image reach the same pod');
  // The Service is named kiln: its links would be KILN_* variables, kiln's own configuration namespace.
  assert.is(deployment.spec.template.spec.enableServiceLinks, false);
});

test.run();
