import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { pageRoutes } from '../../../../src/server/routes/index.js';
import { parseUiListen } from '../../../../src/cli/commands/ui.js';

test('kiln ui serves the page and /kiln/v1/ only: no Docker API route', () => {
  assert.ok(pageRoutes.some((r) => r.pattern === '/ui'));
  assert.ok(pageRoutes.some((r) => r.pattern === '/kiln/v1/history/{id}/layers'));
  for (const r of pageRoutes) assert.ok(r.pattern === '/ui' || r.pattern.startsWith('/ui/') || r.pattern.startsWith('/kiln/'), r.pattern);
  assert.not.ok(pageRoutes.some((r) => r.pattern === '/build' || r.pattern.startsWith('/containers')));
});

test('parseUiListen() takes HOST:PORT and refuses anything else with the option named', () => {
  assert.equal(parseUiListen('127.0.0.1:7480'), { host: '127.0.0.1', port: 7480 });
  assert.equal(parseUiListen('tcp://[::1]:80'), { host: '::1', port: 80 });
  for (const bad of ['7480', 'localhost', '1.2.3.4:99999', 'unix:///x']) {
    assert.throws(
      () => parseUiListen(bad),
      (e: Error & { code?: string }) => e.code === 'INVALID_ARGUMENT' && e.message.includes('--listen'),
      bad,
    );
  }
});

test.run();
