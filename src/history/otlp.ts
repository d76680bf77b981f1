/**
 * A build record as an OpenTelemetry trace in the OTLP/JSON encoding (an ExportTraceServiceRequest, the body
 * `POST /v1/traces` takes and Jaeger's "JSON file" upload reads): one root span for the build, a child per
 * stage, a grandchild per step. Ids are derived from the record id (trace) and the span's path (span), so the
 * same record always gives the same trace. Times are epoch nanoseconds as decimal strings (proto int64 → JSON).
 */
import { createHash } from 'node:crypto';
import type { BuildRecord, StageRecord, StepRecord } from './types.js';

export type OtlpValue = { stringValue: string } | { intValue: string } | { boolValue: boolean };
export interface OtlpAttribute {
  key: string;
  value: OtlpValue;
}

export interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  /** SPAN_KIND_INTERNAL = 1 (the JSON mapping accepts the enum's integer). */
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: OtlpAttribute[];
  /** code: 0 unset, 1 ok, 2 error. */
  status: { code: number; message?: string };
}

export interface OtlpTrace {
  resourceSpans: Array<{
    resource: { attributes: OtlpAttribute[] };
    scopeSpans: Array<{ scope: { name: string; version?: string }; spans: OtlpSpan[] }>;
  }>;
}

const KIND_INTERNAL = 1;

function hexId(seed: string, bytes: number): string {
  const h = createHash('sha256')
    .update(seed)
    .digest('hex')
    .slice(0, bytes * 2);
  // An all-zero id is invalid in OTLP; sha256 never gives one in practice, but make it impossible.
  return /^0+$/.test(h) ? `1${h.slice(1)}` : h;
}

function nanos(ms: number): string {
  return `${BigInt(Math.round(ms)) * 1_000_000n}`;
}

function attrs(o: Record<string, string | number | boolean | undefined>): OtlpAttribute[] {
  const out: OtlpAttribute[] = [];
  for (const [key, v] of Object.entries(o)) {
    if (v === undefined) continue;
    if (typeof v === 'number') out.push({ key, value: { intValue: String(Math.round(v)) } });
    else if (typeof v === 'boolean') out.push({ key, value: { boolValue: v } });
    else out.push({ key, value: { stringValue: v } });
  }
  return out;
}

/** The trace of `rec`. A record without an end (running, incomplete) ends at its last known time. */
export function recordToOtlp(rec: BuildRecord, version = 'dev'): OtlpTrace {
  const traceId = hexId(`trace:${rec.id}`, 16);
  const lastSeen = Math.max(rec.start, rec.end ?? 0, ...rec.steps.map((s) => s.end ?? s.start));
  const buildEnd = rec.end ?? lastSeen;
  const rootId = hexId(`${rec.id}:build`, 8);
  const spans: OtlpSpan[] = [];
  spans.push({
    traceId,
    spanId: rootId,
    name: `build ${rec.tags[0] ?? rec.target ?? rec.dockerfile.name}`,
    kind: KIND_INTERNAL,
    startTimeUnixNano: nanos(rec.start),
    endTimeUnixNano: nanos(buildEnd),
    attributes: attrs({
      'kiln.build.id': rec.id,
      'kiln.build.status': rec.status,
      'kiln.dockerfile': rec.dockerfile.name,
      'kiln.dockerfile.digest': rec.dockerfile.digest,
      'kiln.target': rec.target,
      'kiln.platforms': rec.platforms.join(','),
      'kiln.tags': rec.tags.join(','),
      'kiln.image.id': rec.result?.imageId,
      'kiln.manifest.digest': rec.result?.manifestDigest,
    }),
    status: statusOf(rec.status === 'completed' ? 'ok' : rec.status === 'running' ? 'unset' : 'error', rec.error?.message ?? rec.status),
  });
  const stageSpan = new Map<string, string>();
  const stepsOf = (label: string) => rec.steps.filter((s) => s.stage === label);
  const stages: StageRecord[] = [...rec.stages];
  // Steps of a stage the record did not list (a record written before build-start said) still get a parent.
  for (const s of rec.steps) {
    if (!stages.some((st) => st.label === s.stage)) stages.push({ label: s.stage, name: s.stage || 'stage', index: -1, platform: '', base: '', dependsOn: [] });
  }
  for (const st of stages) {
    const steps = stepsOf(st.label);
    if (!steps.length) continue;
    const spanId = hexId(`${rec.id}:stage:${st.label}`, 8);
    stageSpan.set(st.label, spanId);
    const start = Math.min(...steps.map((s) => s.start));
    const end = Math.max(...steps.map((s) => s.end ?? lastSeen));
    const failed = steps.some((s) => s.status === 'failed' || s.status === 'cancelled' || s.status === 'running');
    spans.push({
      traceId,
      spanId,
      parentSpanId: rootId,
      name: `stage ${st.label || st.name}`,
      kind: KIND_INTERNAL,
      startTimeUnixNano: nanos(start),
      endTimeUnixNano: nanos(Math.max(start, end)),
      attributes: attrs({
        'kiln.stage.name': st.name,
        'kiln.stage.platform': st.platform || undefined,
        'kiln.stage.base': st.base || undefined,
        'kiln.stage.depends_on': st.dependsOn.join(',') || undefined,
      }),
      status: statusOf(failed ? 'error' : 'ok'),
    });
  }
  for (const s of rec.steps) spans.push(stepSpan(rec, s, traceId, stageSpan.get(s.stage)!, lastSeen));
  return {
    resourceSpans: [
      {
        resource: { attributes: attrs({ 'service.name': 'kiln', 'service.version': version }) },
        scopeSpans: [{ scope: { name: 'kiln.build', version }, spans }],
      },
    ],
  };
}

function stepSpan(rec: BuildRecord, s: StepRecord, traceId: string, parent: string, lastSeen: number): OtlpSpan {
  const end = Math.max(s.start, s.end ?? lastSeen);
  return {
    traceId,
    spanId: hexId(`${rec.id}:step:${s.id}`, 8),
    parentSpanId: parent,
    name: `[${s.stage ? `${s.stage} ` : ''}${s.index}] ${s.text}`.slice(0, 200),
    kind: KIND_INTERNAL,
    startTimeUnixNano: nanos(s.start),
    endTimeUnixNano: nanos(end),
    attributes: attrs({
      'kiln.step.id': s.id,
      'kiln.step.kind': s.kind,
      'kiln.step.status': s.status,
      'kiln.step.cached': s.status === 'cached',
      'kiln.cache.source': s.cache ? (s.cache.ref ? `${s.cache.kind}:${s.cache.ref}` : s.cache.kind) : undefined,
      'kiln.cache.miss_reason': s.missReason,
      'kiln.step.bytes_written': s.bytesWritten,
      'kiln.step.log_bytes': s.logBytes,
      'kiln.step.exit_code': s.exitCode,
      'code.filepath': s.loc?.file,
      'code.lineno': s.loc?.line,
    }),
    status: statusOf(
      s.status === 'failed' || s.status === 'cancelled' || s.status === 'running' ? 'error' : 'ok',
      s.error ?? (s.status === 'running' ? 'incomplete' : s.status),
    ),
  };
}

function statusOf(kind: 'ok' | 'error' | 'unset', message?: string): OtlpSpan['status'] {
  if (kind === 'ok') return { code: 1 };
  if (kind === 'unset') return { code: 0 };
  return { code: 2, ...(message ? { message } : {}) };
}
