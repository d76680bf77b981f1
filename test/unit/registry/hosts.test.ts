import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { allowsPlainHttp, apiHost, isLoopback, isNotTlsError, isCertificateError } from '../../../src/registry/hosts.js';

test('docker.io is served at registry-1.docker.io; other registries as named', () => {
  assert.is(apiHost('docker.io'), 'registry-1.docker.io');
  assert.is(apiHost('127.0.0.1:5000'), '127.0.0.1:5000');
});

test('loopback means 127.0.0.0/8, ::1 and localhost, with or without a port', () => {
  for (const h of ['127.0.0.1:5000', '127.1.2.3', 'localhost:5000', '[::1]:5000', 'localhost']) assert.ok(isLoopback(h), h);
  for (const h of ['10.0.0.1:5000', 'registry.example.com', '128.0.0.1', 'localhost.example.com']) assert.not.ok(isLoopback(h), h);
});

test('plain HTTP is allowed only for loopback and listed registries', () => {
  assert.ok(allowsPlainHttp('127.0.0.1:5000'));
  assert.not.ok(allowsPlainHttp('reg.example:5000'));
  assert.ok(allowsPlainHttp('reg.example:5000', ['reg.example:5000']));
  assert.ok(allowsPlainHttp('reg.example:5000', ['http://reg.example']), 'a host entry covers any port');
  assert.not.ok(allowsPlainHttp('other.example:5000', ['reg.example']));
});

test('TLS errors are told apart: not-TLS falls back, certificate problems never do', () => {
  assert.ok(isNotTlsError(Object.assign(new Error('wrong version number'), { code: 'EPROTO' })));
  assert.not.ok(isNotTlsError(Object.assign(new Error('self signed'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' })));
  assert.ok(isCertificateError(Object.assign(new Error('self signed'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' })));
  assert.ok(isCertificateError(Object.assign(new Error('x'), { code: 'ERR_TLS_CERT_ALTNAME_INVALID' })));
});

test.run();
