/**
 * A validator of the OTLP/JSON encoding of ExportTraceServiceRequest (opentelemetry-proto trace/v1/trace.proto
 * with the proto3 JSON mapping and OTLP's hex-id rule), strict about field names so that a field a collector would
 * reject fails here. Also checks the tree: one root, every parent exists in the same trace and spans its children.
 */
const SPAN_FIELDS = new Set([
  'traceId',
  'spanId',
  'traceState',
  'parentSpanId',
  'flags',
  'name',
  'kind',
  'startTimeUnixNano',
  'endTimeUnixNano',
  'attributes',
  'droppedAttributesCount',
  'events',
  'droppedEventsCount',
  'links',
  'droppedLinksCount',
  'status',
]);
const ANY_VALUE = new Set(['stringValue', 'boolValue', 'intValue', 'doubleValue', 'arrayValue', 'kvlistValue', 'bytesValue']);

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkAttributes(v: unknown, where: string, errs: string[]): void {
  if (!Array.isArray(v)) return void errs.push(`${where}: attributes not an array`);
  for (const [i, a] of v.entries()) {
    if (!isObj(a) || typeof a.key !== 'string' || !a.key) {
      errs.push(`${where}.attributes[${i}]: no key`);
      continue;
    }
    if (!isObj(a.value)) {
      errs.push(`${where}.attributes[${i}]: no value`);
      continue;
    }
    const keys = Object.keys(a.value);
    if (keys.length !== 1 || !ANY_VALUE.has(keys[0]!)) errs.push(`${where}.attributes[${i}]: value must set one AnyValue field, has ${keys.join(',')}`);
    if ('intValue' in a.value && !/^-?\d+$/.test(String(a.value.intValue))) errs.push(`${where}.attributes[${i}]: intValue not an int64`);
    if ('stringValue' in a.value && typeof a.value.stringValue !== 'string') errs.push(`${where}.attributes[${i}]: stringValue not a string`);
  }
}

/** Every way `req` breaks the shape; empty when valid. */
export function validateOtlp(req: unknown): string[] {
  const errs: string[] = [];
  if (!isObj(req) || !Array.isArray(req.resourceSpans)) return ['resourceSpans missing'];
  const spans: Array<Record<string, unknown>> = [];
  for (const [i, rs] of req.resourceSpans.entries()) {
    if (!isObj(rs)) {
      errs.push(`resourceSpans[${i}] not an object`);
      continue;
    }
    if (rs.resource !== undefined) {
      if (!isObj(rs.resource)) errs.push(`resourceSpans[${i}].resource not an object`);
      else checkAttributes(rs.resource.attributes ?? [], `resourceSpans[${i}].resource`, errs);
    }
    if (!Array.isArray(rs.scopeSpans)) {
      errs.push(`resourceSpans[${i}].scopeSpans missing`);
      continue;
    }
    for (const [j, ss] of rs.scopeSpans.entries()) {
      if (!isObj(ss) || !Array.isArray(ss.spans)) {
        errs.push(`scopeSpans[${j}].spans missing`);
        continue;
      }
      if (ss.scope !== undefined && (!isObj(ss.scope) || typeof ss.scope.name !== 'string')) errs.push(`scopeSpans[${j}].scope.name not a string`);
      for (const s of ss.spans) spans.push(s as Record<string, unknown>);
    }
  }
  const ids = new Map<string, Record<string, unknown>>();
  for (const [k, s] of spans.entries()) {
    const w = `span ${k} (${String(s.name)})`;
    for (const f of Object.keys(s)) if (!SPAN_FIELDS.has(f)) errs.push(`${w}: unknown field ${f}`);
    if (typeof s.traceId !== 'string' || !/^[0-9a-f]{32}$/.test(s.traceId) || /^0+$/.test(s.traceId)) errs.push(`${w}: traceId not 32 hex, non-zero`);
    if (typeof s.spanId !== 'string' || !/^[0-9a-f]{16}$/.test(s.spanId) || /^0+$/.test(s.spanId)) errs.push(`${w}: spanId not 16 hex, non-zero`);
    if (ids.has(String(s.spanId))) errs.push(`${w}: duplicate spanId`);
    ids.set(String(s.spanId), s);
    if (typeof s.name !== 'string' || !s.name) errs.push(`${w}: name empty`);
    if (!(Number.isInteger(s.kind) && (s.kind as number) >= 0 && (s.kind as number) <= 5)) errs.push(`${w}: kind not a SpanKind`);
    for (const t of ['startTimeUnixNano', 'endTimeUnixNano'])
      if (typeof s[t] !== 'string' || !/^\d+$/.test(s[t] as string)) errs.push(`${w}: ${t} not a fixed64 string`);
    if (typeof s.startTimeUnixNano === 'string' && typeof s.endTimeUnixNano === 'string' && BigInt(s.endTimeUnixNano) < BigInt(s.startTimeUnixNano))
      errs.push(`${w}: ends before it starts`);
    if (s.attributes !== undefined) checkAttributes(s.attributes, w, errs);
    if (s.status !== undefined && (!isObj(s.status) || ![0, 1, 2].includes(s.status.code as number))) errs.push(`${w}: status.code not 0-2`);
  }
  let roots = 0;
  for (const s of spans) {
    if (s.parentSpanId === undefined || s.parentSpanId === '') {
      roots++;
      continue;
    }
    const parent = ids.get(String(s.parentSpanId));
    if (!parent) {
      errs.push(`span ${String(s.name)}: parentSpanId ${String(s.parentSpanId)} names no span`);
      continue;
    }
    if (parent.traceId !== s.traceId) errs.push(`span ${String(s.name)}: parent in another trace`);
    if (
      BigInt(s.startTimeUnixNano as string) < BigInt(parent.startTimeUnixNano as string) ||
      BigInt(s.endTimeUnixNano as string) > BigInt(parent.endTimeUnixNano as string)
    ) {
      errs.push(`span ${String(s.name)}: outside its parent's time`);
    }
  }
  if (roots !== 1) errs.push(`${roots} root spans, want 1`);
  return errs;
}
