/** Docker's HostConfig.PortBindings → the executor's port mappings. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { portMappings } from '../../../src/server/container-backend.js';
import { KilnError } from '../../../src/errors.js';

test('portMappings() turns each binding of each container port into a mapping', () => {
  assert.equal(
    portMappings({
      '80/tcp': [
        { HostIp: '127.0.0.1', HostPort: '8080' },
        { HostIp: '', HostPort: '8081' },
      ],
      '443/tcp': [{ HostPort: '8443' }],
      '53': [{ HostPort: '5353' }],
    }),
    [
      // '53' sorts first: JavaScript keeps integer-like keys in numeric order.
      { hostPort: 5353, containerPort: 53, protocol: 'tcp' },
      { hostIp: '127.0.0.1', hostPort: 8080, containerPort: 80, protocol: 'tcp' },
      { hostPort: 8081, containerPort: 80, protocol: 'tcp' },
      { hostPort: 8443, containerPort: 443, protocol: 'tcp' },
    ],
  );
  assert.equal(portMappings({ '53/udp': [{ HostIp: '127.0.0.1', HostPort: '5353' }] }), [
    { hostIp: '127.0.0.1', hostPort: 5353, containerPort: 53, protocol: 'udp' },
  ]);
  assert.equal(portMappings(null), []);
  assert.equal(portMappings({ '80/tcp': null }), []);
});

test('portMappings() refuses sctp, a random host port and nonsense ports', () => {
  const cases: Array<Parameters<typeof portMappings>[0]> = [
    { '53/sctp': [{ HostPort: '53' }] },
    { '80/tcp': [{ HostIp: '', HostPort: '' }] },
    { 'x/tcp': [{ HostPort: '1' }] },
    { '80/tcp': [{ HostPort: '70000' }] },
  ];
  for (const bad of cases) {
    try {
      portMappings(bad);
      assert.unreachable(`accepted ${JSON.stringify(bad)}`);
    } catch (err) {
      assert.instance(err, KilnError);
      assert.is((err as KilnError).code, 'INVALID_ARGUMENT');
    }
  }
});

test.run();
