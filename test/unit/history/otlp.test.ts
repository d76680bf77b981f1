/**
 * The trace kiln writes against the OTLP/JSON encoding of ExportTraceServiceRequest
 * (opentelemetry-proto trace/v1/trace.proto with the proto3 JSON mapping and OTLP's hex-id rule): a validator
 * written from the proto, strict about field names so a field a collector would reject fails here.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { recordToOtlp } from '../../../src/history/otlp.js';
import { sampleRecord } from './fixtures.js';
import { validateOtlp } from '../../helpers/otlp-shape.js';

test('recordToOtlp() gives a valid OTLP/JSON trace: build > stages > steps', () => {
  const rec = sampleRecord();
  const trace = recordToOtlp(rec);
  assert.equal(validateOtlp(JSON.parse(JSON.stringify(trace))), []);
  const spans = trace.resourceSpans[0]!.scopeSpans[0]!.spans;
  assert.is(spans.length, 1 + 2 + 4);
  const root = spans.find((s) => !s.parentSpanId)!;
  const stages = spans.filter((s) => s.parentSpanId === root.spanId);
  assert.is(stages.length, 2);
  for (const step of spans.filter((s) => s.name.includes(']'))) assert.ok(stages.some((st) => st.spanId === step.parentSpanId));
  assert.is(root.startTimeUnixNano, `${BigInt(rec.start) * 1_000_000n}`);
  assert.equal(recordToOtlp(rec), trace, 'the same record gives the same trace');
});

test('recordToOtlp() of an incomplete record ends its open spans at the last known time, as errors', () => {
  const rec = sampleRecord({ status: 'incomplete', end: undefined });
  rec.steps[3] = { ...rec.steps[3]!, status: 'running', end: undefined };
  const trace = recordToOtlp(rec);
  assert.equal(validateOtlp(JSON.parse(JSON.stringify(trace))), []);
  const last = trace.resourceSpans[0]!.scopeSpans[0]!.spans.find((s) => s.name.includes('COPY'))!;
  assert.is(last.status.code, 2);
});

test('the validator catches broken traces', () => {
  const trace = JSON.parse(JSON.stringify(recordToOtlp(sampleRecord()))) as {
    resourceSpans: Array<{ scopeSpans: Array<{ spans: Array<Record<string, unknown>> }> }>;
  };
  const spans = trace.resourceSpans[0]!.scopeSpans[0]!.spans;
  spans[1]!.parentSpanId = 'ffffffffffffffff';
  spans[2]!.spanId = 'XYZ';
  spans[3]!.startTimeUnixNano = 5;
  spans[4]!.attributes = [{ key: 'a', value: { stringValue: 'x', intValue: '1' } }];
  const errs = validateOtlp(trace);
  assert.ok(errs.some((e) => e.includes('names no span')));
  assert.ok(errs.some((e) => e.includes('spanId not 16 hex')));
  assert.ok(errs.some((e) => e.includes('startTimeUnixNano')));
  assert.ok(errs.some((e) => e.includes('one AnyValue')));
});

test.run();
