import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { checkRunEntitlements, parseEntitlements, requireEntitlement } from '../../../src/builder/entitlements.js';
import { parseDockerfile } from '../../../src/parser/parse-dockerfile.js';
import type { RunInstruction } from '../../../src/parser/types.js';
import { parseBuildQuery } from '../../../src/server/build-params.js';
import { checkContainerEntitlements } from '../../../src/server/host-config.js';
import { Query } from '../../../src/server/http-util.js';
import { throwsCode } from '../../helpers/assert.js';
import type { KilnError } from '../../../src/errors.js';

const q = (s: string) => new Query(new URLSearchParams(s), 32 * 1024);
const loc = { file: 'Dockerfile', line: 4 };

test("parseEntitlements() takes buildx's names, repeated or comma-separated, and refuses others", () => {
  assert.equal(parseEntitlements(['network.host', 'security.insecure,network.host']), ['network.host', 'security.insecure']);
  assert.equal(parseEntitlements([]), []);
  throwsCode(() => parseEntitlements(['network.none']), 'INVALID_ARGUMENT', /invalid entitlement "network\.none"/);
});

test('requireEntitlement() passes a granted one and refuses the rest naming the line, the step and the flag', () => {
  requireEntitlement(['network.host'], 'network.host', 'RUN --network=host', loc);
  const err = throwsCode(
    () => requireEntitlement(['security.insecure'], 'network.host', 'RUN --network=host', loc),
    'ENTITLEMENT_DENIED',
    /RUN --network=host needs the network\.host entitlement/,
  ) as KilnError;
  assert.equal(err.loc, loc);
  assert.match(err.hint ?? '', /--allow network\.host/);
  throwsCode(() => requireEntitlement(undefined, 'security.insecure', 'RUN --security=insecure', loc), 'ENTITLEMENT_DENIED');
});

test('a server build is granted what it asks for and the server permits; asking for more is refused up front', () => {
  assert.equal(parseBuildQuery(q('networkmode=default')).options.allow, []);
  assert.equal(parseBuildQuery(q('networkmode=bridge'), ['network.host']).options.allow, []);
  // networkmode=host asks for network.host, as dockerd's builder takes `docker build --network host`.
  const host = parseBuildQuery(q('networkmode=host'), ['network.host']);
  assert.is(host.options.networkMode, 'host');
  assert.equal(host.options.allow, ['network.host']);
  throwsCode(() => parseBuildQuery(q('networkmode=host')), 'ENTITLEMENT_DENIED', /networkmode=host .*not allowed by this server/);
  // kiln's own client asks with kilnallow.
  assert.equal(parseBuildQuery(q('kilnallow=network.host,security.insecure'), ['security.insecure', 'network.host']).options.allow, [
    'network.host',
    'security.insecure',
  ]);
  throwsCode(() => parseBuildQuery(q('kilnallow=security.insecure'), ['network.host']), 'ENTITLEMENT_DENIED', /security\.insecure/);
  throwsCode(() => parseBuildQuery(q('kilnallow=root.shell'), ['network.host']), 'INVALID_ARGUMENT');
  // The hint a refused step gets says who can grant it.
  const hint = (permitted: ('network.host' | 'security.insecure')[]) => parseBuildQuery(q(''), permitted).options.entitlementHint!('network.host');
  assert.match(hint([]), /kiln serve --allow network\.host/);
  assert.match(hint(['network.host']), /docker build --network host/);
});

test('a container through the server needs network.host for the host network and security.insecure to lift the sandbox', () => {
  const hc = (HostConfig: Record<string, unknown>) => ({ Image: 'busybox', HostConfig });
  checkContainerEntitlements(hc({ NetworkMode: 'bridge', Privileged: false, CapAdd: null, SecurityOpt: ['seccomp=builtin'] }), []);
  throwsCode(
    () => checkContainerEntitlements(hc({ NetworkMode: 'host' }), ['security.insecure']),
    'ENTITLEMENT_DENIED',
    /--network host.*network\.host entitlement/,
  );
  checkContainerEntitlements(hc({ NetworkMode: 'host' }), ['network.host']);
  for (const h of [
    { Privileged: true },
    { CapAdd: ['NET_ADMIN'] },
    { SecurityOpt: ['seccomp=unconfined'] },
    { SecurityOpt: ['seccomp={"defaultAction":"SCMP_ACT_ALLOW"}'] },
  ]) {
    throwsCode(() => checkContainerEntitlements(hc(h), ['network.host']), 'ENTITLEMENT_DENIED', /security\.insecure/);
    checkContainerEntitlements(hc(h), ['security.insecure']);
  }
});

test("checkRunEntitlements(): a RUN's own flags or the build's network mode decide what it needs", () => {
  const runs = parseDockerfile('FROM busybox\nRUN a\nRUN --network=host b\nRUN --security=insecure c\nRUN --network=none d\n', {
    file: 'Dockerfile',
  }).stages[0]!.instructions.filter((i): i is RunInstruction => i.kind === 'RUN');
  const [plain, host, insecure, none] = runs as [RunInstruction, RunInstruction, RunInstruction, RunInstruction];
  assert.is(checkRunEntitlements(plain, {}), 'default');
  assert.is(checkRunEntitlements(none, { networkMode: 'host' }), 'none');
  throwsCode(() => checkRunEntitlements(host, {}), 'ENTITLEMENT_DENIED', /RUN --network=host needs the network\.host/);
  assert.is(checkRunEntitlements(host, { allow: ['network.host'] }), 'host');
  throwsCode(() => checkRunEntitlements(plain, { networkMode: 'host' }), 'ENTITLEMENT_DENIED', /RUN with the build's host network/);
  throwsCode(() => checkRunEntitlements(insecure, { allow: ['network.host'] }), 'ENTITLEMENT_DENIED', /--security=insecure needs the security\.insecure/);
});

test.run();
