// Test-only OAuth 2.0 / OpenID Connect authorization server plus resource
// servers for the arazzo integration tests (see tests/support/oidc.rs).
//
//   node tests/oidc/server.mjs '{"tokenTtl": 2, "mtls": {"cert": "...", "key": "...", "ca": "..."}}'
//
// Everything listens on 127.0.0.1, on ephemeral ports. On startup exactly one
// line of JSON goes to stdout:
//
//   {"issuer": "http://127.0.0.1:P", "tokenEndpoint": "http://127.0.0.1:P/token",
//    "resource": "http://127.0.0.1:Q", "mtls": "https://127.0.0.1:R" | null}
//
// The process then runs until it is killed or its stdin ends (so it never
// outlives the test that started it; run it with stdin attached). Logs go to
// stderr only.
//
// Configuration (all optional):
//   tokenTtl            access token lifetime in seconds (default 300)
//   refreshTokenTtl     refresh token lifetime in seconds (default 86400)
//   rotateRefreshTokens when true every refresh_token grant consumes the old
//                       refresh token and returns a new one (default false:
//                       refresh tokens are reusable and the same value is
//                       returned)
//   mtls                {cert, key, ca}: PEM paths of the mTLS server's own
//                       certificate and key, and of the CA that client
//                       certificates must be signed by
//
// The authorization server is the real `oidc-provider` package. Issuer
// http://127.0.0.1:P, discovery at /.well-known/openid-configuration, token
// endpoint /token, introspection /token/introspection, revocation
// /token/revocation. Access tokens are opaque. Scopes: read write admin (plus
// openid offline_access). Clients:
//
//   cc-client   / cc-secret    client_credentials + refresh_token,
//                              scopes read write admin, client_secret_basic
//   post-client / post-secret  client_credentials, scopes read write,
//                              client_secret_post only (Basic is refused)
//   pw-client   / pw-secret    password + refresh_token, client_secret_basic;
//                              user alice / wonderland; scopes openid
//                              offline_access read write admin; always gets a
//                              refresh token
//   rs-client   / rs-secret    used by the resource server for introspection
//
// Each client authenticates only with its registered method (oidc-provider
// itself would take Basic and post interchangeably): the other one gets
// invalid_client. A requested scope that the client may not use, or that
// nobody knows, is answered with invalid_scope.
//
// Resource server (plain node:http) at "resource":
//   /api/...              needs Authorization: Bearer <token>, checked with an
//                         introspection call; 200 {"ok":true,"path","clientId",
//                         "sub","scope"}, or 401 invalid_token
//   /api/scoped/<scope>   additionally needs <scope>, else 403 insufficient_scope
//   GET  /_stats          {"tokenRequests": {"client_credentials": n,
//                         "refresh_token": n, "password": n, ...},
//                         "tokenErrors": n, "introspections": n}
//   GET  /_requests       every /api/ request: [{"method","path","query",
//                         "authorization","headers"}]
//   POST /_revoke         destroys every access token issued so far (refresh
//                         tokens survive); 204
//   POST /_mint-refresh-token  password grant as pw-client for alice;
//                         {"refresh_token","access_token"}. Not counted in
//                         /_stats.
//
// mTLS resource server (node:https) at "mtls", only with the mtls config:
// requires a client certificate signed by mtls.ca; /api/... answers
// 200 {"ok":true,"cn":"<client certificate CN>","path"}.

import { generateKeyPairSync, randomBytes, webcrypto } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';

import Provider, { errors } from 'oidc-provider';

// jose (under oidc-provider) uses the global Web Crypto object, which Node.js
// only exposes by default from v19 on.
if (!globalThis.crypto?.subtle) {
  globalThis.crypto = webcrypto;
}

const HOST = '127.0.0.1';

function log(...args) {
  process.stderr.write(`[oidc-test-server] ${args.join(' ')}\n`);
}

const config = JSON.parse(process.argv[2] || '{}');
const tokenTtl = Number(config.tokenTtl ?? 300);
const refreshTokenTtl = Number(config.refreshTokenTtl ?? 86400);
const rotateRefreshTokens = config.rotateRefreshTokens === true;

const USERS = new Map([['alice', 'wonderland']]);
const KNOWN_SCOPES = ['openid', 'offline_access', 'read', 'write', 'admin'];
const MINT_HEADER = 'x-oidc-test-control';

const CLIENTS = [
  {
    client_id: 'cc-client',
    client_secret: 'cc-secret',
    grant_types: ['client_credentials', 'refresh_token'],
    response_types: [],
    redirect_uris: [],
    scope: 'read write admin',
    token_endpoint_auth_method: 'client_secret_basic',
  },
  {
    client_id: 'post-client',
    client_secret: 'post-secret',
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    scope: 'read write',
    token_endpoint_auth_method: 'client_secret_post',
  },
  {
    client_id: 'pw-client',
    client_secret: 'pw-secret',
    grant_types: ['password', 'refresh_token'],
    response_types: [],
    redirect_uris: [],
    scope: 'openid offline_access read write admin',
    token_endpoint_auth_method: 'client_secret_basic',
  },
  {
    client_id: 'rs-client',
    client_secret: 'rs-secret',
    grant_types: [],
    response_types: [],
    redirect_uris: [],
    token_endpoint_auth_method: 'client_secret_basic',
  },
];

// ---------------------------------------------------------------------------
// Storage: a small in-memory adapter, so that /_revoke can find every token.

const store = new Map(); // `${model}:${id}` -> payload
const grantMembers = new Map(); // grantId -> Set of store keys

class TestAdapter {
  constructor(model) {
    this.model = model;
  }

  key(id) {
    return `${this.model}:${id}`;
  }

  async upsert(id, payload, expiresIn) {
    const key = this.key(id);
    const expiresAt = typeof expiresIn === 'number' ? Date.now() + expiresIn * 1000 : Infinity;
    store.set(key, { payload, expiresAt });
    if (payload.grantId) {
      if (!grantMembers.has(payload.grantId)) grantMembers.set(payload.grantId, new Set());
      grantMembers.get(payload.grantId).add(key);
    }
  }

  async find(id) {
    const entry = store.get(this.key(id));
    if (!entry) return undefined;
    if (entry.expiresAt <= Date.now()) {
      store.delete(this.key(id));
      return undefined;
    }
    return entry.payload;
  }

  async findByUid(uid) {
    for (const [key, entry] of store) {
      if (key.startsWith(`${this.model}:`) && entry.payload.uid === uid) return entry.payload;
    }
    return undefined;
  }

  async findByUserCode(userCode) {
    for (const [key, entry] of store) {
      if (key.startsWith(`${this.model}:`) && entry.payload.userCode === userCode) {
        return entry.payload;
      }
    }
    return undefined;
  }

  async consume(id) {
    const entry = store.get(this.key(id));
    if (entry) entry.payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id) {
    store.delete(this.key(id));
  }

  async revokeByGrantId(grantId) {
    for (const key of grantMembers.get(grantId) ?? []) store.delete(key);
    grantMembers.delete(grantId);
  }

  static ids(model) {
    const prefix = `${model}:`;
    return [...store.keys()].filter((k) => k.startsWith(prefix)).map((k) => k.slice(prefix.length));
  }
}

// ---------------------------------------------------------------------------
// Statistics and the resource server's request log.

const stats = {
  tokenRequests: { client_credentials: 0, refresh_token: 0, password: 0 },
  tokenErrors: 0,
  introspections: 0,
};
const apiRequests = [];

// ---------------------------------------------------------------------------
// The authorization server.

function listen(server) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, HOST, () => resolve(server.address().port));
  });
}

function clientScopes(client) {
  return new Set((client.scope || '').split(' ').filter(Boolean));
}

function checkScopes(client, requested) {
  const allowed = clientScopes(client);
  for (const scope of requested) {
    if (!allowed.has(scope)) {
      throw new errors.InvalidScope('requested scope is not allowed', scope);
    }
  }
}

// oidc-provider accepts client_secret_basic and client_secret_post
// interchangeably for a client registered with either; these tests want the
// registered method to be the only one that works.
function checkClientAuthMethod(ctx) {
  const { client, params } = ctx.oidc;
  const used = params.client_secret !== undefined ? 'client_secret_post' : 'client_secret_basic';
  const registered = client.tokenEndpointAuthMethod;
  if (registered.startsWith('client_secret_') && used !== registered) {
    log(`refusing ${used} for ${client.clientId}, registered for ${registered}`);
    throw new errors.InvalidClientAuth(`${used} is not the registered method ${registered}`);
  }
}

const authHttp = http.createServer();
const authPort = await listen(authHttp);
const issuer = `http://${HOST}:${authPort}`;

const signingKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({
  format: 'jwk',
});

const provider = new Provider(issuer, {
  adapter: TestAdapter,
  clients: CLIENTS,
  jwks: { keys: [{ ...signingKey, kid: 'test-rs256', use: 'sig', alg: 'RS256' }] },
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  scopes: KNOWN_SCOPES,
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: {
      enabled: true,
      // Only the resource server's client may introspect tokens.
      allowedPolicy: async (ctx, client) => client.clientId === 'rs-client',
    },
    revocation: { enabled: true },
  },
  // Reusable refresh tokens unless the config asks for rotation.
  rotateRefreshToken: () => rotateRefreshTokens,
  ttl: {
    AccessToken: () => tokenTtl,
    ClientCredentials: () => tokenTtl,
    RefreshToken: () => refreshTokenTtl,
    Grant: () => refreshTokenTtl,
    IdToken: () => 3600,
    Interaction: () => 3600,
    Session: () => 3600,
  },
  async findAccount(ctx, sub) {
    if (!USERS.has(sub)) return undefined;
    return { accountId: sub, claims: async () => ({ sub }) };
  },
  // Runs for every access token the token endpoint issues, before it is
  // stored; an error thrown here becomes the token endpoint's error answer.
  async extraTokenClaims(ctx, token) {
    checkClientAuthMethod(ctx);
    // Without a resource indicator oidc-provider silently drops the scopes it
    // does not know from a client_credentials request; refuse them instead,
    // looking at the scope parameter as sent.
    const requested = ctx.oidc.body?.scope;
    if (token.kind === 'ClientCredentials' && typeof requested === 'string') {
      checkScopes(ctx.oidc.client, requested.split(' ').filter(Boolean));
    }
    return undefined;
  },
});

// The resource owner password credentials grant (RFC 6749 section 4.3), which
// oidc-provider does not ship.
async function passwordGrant(ctx) {
  checkClientAuthMethod(ctx);
  const { client, params } = ctx.oidc;
  if (!params.username || !params.password) {
    throw new errors.InvalidRequest('username and password are required');
  }
  if (USERS.get(params.username) !== params.password) {
    throw new errors.InvalidGrant('invalid resource owner credentials');
  }
  const requested = params.scope
    ? params.scope.split(' ').filter(Boolean)
    : [...clientScopes(client)];
  checkScopes(client, requested);
  const scope = requested.join(' ');

  const grant = new provider.Grant({ accountId: params.username, clientId: client.clientId });
  grant.addOIDCScope(scope);
  const grantId = await grant.save();

  const common = {
    accountId: params.username,
    client,
    grantId,
    gty: 'password',
    scope,
    expiresWithSession: false,
  };
  const at = new provider.AccessToken(common);
  const accessToken = await at.save();
  const rt = new provider.RefreshToken({ ...common, rotations: 0 });
  const refreshToken = await rt.save();

  ctx.body = {
    access_token: accessToken,
    token_type: at.tokenType,
    expires_in: at.expiration,
    refresh_token: refreshToken,
    scope: scope || undefined,
  };
}
provider.registerGrantType('password', passwordGrant, ['username', 'password', 'scope']);

const tokenPath = new URL(provider.urlFor('token')).pathname;
const introspectionPath = new URL(provider.urlFor('introspection')).pathname;

// Count what reaches the token and introspection endpoints.
provider.use(async (ctx, next) => {
  await next();
  if (ctx.method !== 'POST') return;
  if (ctx.path === tokenPath) {
    if (ctx.get(MINT_HEADER) === 'mint') return;
    const grant = ctx.oidc?.params?.grant_type;
    const name = typeof grant === 'string' ? grant : '(none)';
    stats.tokenRequests[name] = (stats.tokenRequests[name] ?? 0) + 1;
    if (ctx.status >= 400) stats.tokenErrors += 1;
  } else if (ctx.path === introspectionPath) {
    stats.introspections += 1;
  }
});

provider.on('server_error', (ctx, err) => log('server_error', err?.stack ?? err));
provider.on('grant.error', (ctx, err) => log('grant.error', err?.message, err?.error_description ?? ''));

authHttp.on('request', provider.callback());

const tokenEndpoint = provider.urlFor('token');
const introspectionEndpoint = provider.urlFor('introspection');

// ---------------------------------------------------------------------------
// The resource server.

function sendJson(res, status, body, headers = {}) {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

function basic(id, secret) {
  return `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;
}

async function introspect(token) {
  const res = await fetch(introspectionEndpoint, {
    method: 'POST',
    headers: {
      authorization: basic('rs-client', 'rs-secret'),
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ token }).toString(),
  });
  const body = await res.json();
  if (!res.ok) throw new Error(`introspection answered ${res.status}: ${JSON.stringify(body)}`);
  return body;
}

function invalidToken(res) {
  sendJson(res, 401, { error: 'invalid_token' }, {
    'www-authenticate': 'Bearer error="invalid_token"',
  });
}

async function handleApi(req, res, url) {
  const authorization = req.headers.authorization ?? null;
  apiRequests.push({
    method: req.method,
    path: url.pathname,
    query: url.search ? url.search.slice(1) : null,
    authorization,
    headers: req.headers,
  });

  const match = /^Bearer +(\S+)\s*$/i.exec(authorization ?? '');
  if (!match) return invalidToken(res);
  const info = await introspect(match[1]);
  if (!info.active) return invalidToken(res);

  const scopes = new Set((info.scope ?? '').split(' ').filter(Boolean));
  const scoped = /^\/api\/scoped\/([^/]+)/.exec(url.pathname);
  if (scoped) {
    const needed = decodeURIComponent(scoped[1]);
    if (!scopes.has(needed)) {
      return sendJson(res, 403, { error: 'insufficient_scope' }, {
        'www-authenticate': `Bearer error="insufficient_scope", scope="${needed}"`,
      });
    }
  }

  return sendJson(res, 200, {
    ok: true,
    path: url.pathname,
    clientId: info.client_id ?? null,
    sub: info.sub ?? null,
    scope: info.scope ?? null,
  });
}

async function revokeAll() {
  let n = 0;
  for (const Model of [provider.AccessToken, provider.ClientCredentials]) {
    for (const id of TestAdapter.ids(Model.name)) {
      const token = await Model.find(id, { ignoreExpiration: true });
      if (token) {
        await token.destroy();
        n += 1;
      }
    }
  }
  log(`revoked ${n} access tokens`);
}

async function mintRefreshToken() {
  const res = await fetch(tokenEndpoint, {
    method: 'POST',
    headers: {
      authorization: basic('pw-client', 'pw-secret'),
      'content-type': 'application/x-www-form-urlencoded',
      [MINT_HEADER]: 'mint',
    },
    body: new URLSearchParams({
      grant_type: 'password',
      username: 'alice',
      password: 'wonderland',
      scope: 'openid offline_access read write',
    }).toString(),
  });
  const body = await res.json();
  if (!res.ok) throw new Error(`password grant answered ${res.status}: ${JSON.stringify(body)}`);
  return { refresh_token: body.refresh_token, access_token: body.access_token };
}

async function handleResource(req, res) {
  const url = new URL(req.url, `http://${req.headers.host ?? HOST}`);
  // Drain any request body; none of these endpoints reads one.
  for await (const _ of req); // eslint-disable-line no-unused-vars
  if (url.pathname === '/api' || url.pathname.startsWith('/api/')) {
    return handleApi(req, res, url);
  }
  const route = `${req.method} ${url.pathname}`;
  switch (route) {
    case 'GET /_stats':
      return sendJson(res, 200, stats);
    case 'GET /_requests':
      return sendJson(res, 200, apiRequests);
    case 'POST /_revoke':
      await revokeAll();
      res.writeHead(204);
      return res.end();
    case 'POST /_mint-refresh-token':
      return sendJson(res, 200, await mintRefreshToken());
    default:
      return sendJson(res, 404, { error: 'not_found', route });
  }
}

const resourceServer = http.createServer((req, res) => {
  handleResource(req, res).catch((err) => {
    log('resource server error:', err?.stack ?? err);
    if (!res.headersSent) sendJson(res, 500, { error: 'server_error', message: String(err) });
    else res.destroy();
  });
});
const resourcePort = await listen(resourceServer);

// ---------------------------------------------------------------------------
// The mTLS resource server.

let mtlsUrl = null;
if (config.mtls) {
  const { cert, key, ca } = config.mtls;
  const mtlsServer = https.createServer(
    {
      cert: readFileSync(cert),
      key: readFileSync(key),
      ca: readFileSync(ca),
      requestCert: true,
      rejectUnauthorized: true,
    },
    (req, res) => {
      const url = new URL(req.url, `https://${HOST}`);
      const peer = req.socket.getPeerCertificate();
      if (url.pathname === '/api' || url.pathname.startsWith('/api/')) {
        sendJson(res, 200, { ok: true, cn: peer?.subject?.CN ?? null, path: url.pathname });
      } else {
        sendJson(res, 404, { error: 'not_found' });
      }
    },
  );
  mtlsServer.on('tlsClientError', (err) => log('mtls client error:', err.message));
  mtlsUrl = `https://${HOST}:${await listen(mtlsServer)}`;
}

// ---------------------------------------------------------------------------

process.stdout.write(`${JSON.stringify({
  issuer,
  tokenEndpoint,
  resource: `http://${HOST}:${resourcePort}`,
  mtls: mtlsUrl,
})}\n`);
log(`issuer ${issuer}, access tokens live ${tokenTtl}s`);

process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
