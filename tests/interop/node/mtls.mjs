// Mutual TLS (RFC 8705) interop checks for tokenmint: oauth4webapi v3 with TlsClientAuth() client
// authentication over an undici v7 Agent that presents the client certificate, as oauth4webapi's
// documentation does it (use_mtls_endpoint_aliases aside: tokenmint has no aliases, the plain token
// endpoint asks for the certificate), and jose v6 to validate the certificate-bound token.
//
// Run by tests/interop/mtls.sh against one running tokenmint over HTTPS ([server.tls], [mtls]
// ca_file) and, with --resource, one examples/resource_server --tls-cert that trusts it:
//   node mtls.mjs --issuer URL --ca CA.pem --clients clients.json [--resource URL]
// clients.json: {"clients": [{"id": "...", "cert": "client.pem", "key": "client.key"}]}.
// The expected cnf.x5t#S256 is computed here from the certificate file (node:crypto), not asked of
// the server.
// Prints "PASS <name>", "FAIL <name>: <why>", "NOTE <text>"; exits 1 if any check failed.
import { createHash, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import * as oauth from 'oauth4webapi';
import * as jose from 'jose';
import { Agent, fetch as undiciFetch } from 'undici';

const { values: a } = parseArgs({
  options: {
    issuer: { type: 'string' },
    ca: { type: 'string' },
    clients: { type: 'string' },
    resource: { type: 'string' },
    alg: { type: 'string', default: 'ES256' },
    audience: { type: 'string', default: 'https://api.example.com' },
    tag: { type: 'string', default: '' },
  },
});
if (!a.issuer || !a.ca || !a.clients) {
  console.error('usage: node mtls.mjs --issuer URL --ca CA.pem --clients clients.json [--resource URL]');
  process.exit(2);
}

const TAG = a.tag ? `[${a.tag}] ` : '';
const counts = { pass: 0, fail: 0 };
const out = (line) => process.stdout.write(`${line}\n`);
const note = (text) => out(`NOTE ${TAG}${text}`);
const expect = (cond, msg) => {
  if (!cond) throw new Error(msg);
};

function describe(err) {
  const parts = [`${err?.name ?? 'Error'}: ${err?.message ?? err}`];
  if (err?.code) parts.push(`code=${err.code}`);
  if (err?.error) parts.push(`error=${err.error}`);
  if (err?.status) parts.push(`status=${err.status}`);
  if (err?.cause && typeof err.cause === 'object') {
    try {
      parts.push(`cause=${JSON.stringify(err.cause).slice(0, 400)}`);
    } catch {
      parts.push(`cause=${String(err.cause)}`);
    }
  }
  return parts.join(' ').replaceAll('\n', ' | ');
}

async function check(name, fn) {
  try {
    const detail = await fn();
    counts.pass++;
    out(`PASS ${TAG}${name}${typeof detail === 'string' && detail ? ` (${detail})` : ''}`);
    return true;
  } catch (err) {
    counts.fail++;
    out(`FAIL ${TAG}${name}: ${describe(err).slice(0, 900)}`);
    return false;
  }
}

function finish() {
  out(`-- node mtls totals: ${counts.pass} passed, ${counts.fail} failed`);
  process.exit(counts.fail ? 1 : 0);
}

const version = (p) => JSON.parse(readFileSync(new URL(`./node_modules/${p}/package.json`, import.meta.url))).version;
note(`oauth4webapi@${version('oauth4webapi')} undici@${version('undici')} jose@${version('jose')} node ${process.version}`);

// RFC 8705 §3.1: base64url SHA-256 of the certificate's DER.
const x5t = (pemFile) => createHash('sha256').update(new X509Certificate(readFileSync(pemFile)).raw).digest('base64url');

// undici's fetch over an Agent that trusts the test CA and, given a client, presents its certificate.
const ca = readFileSync(a.ca, 'utf8');
const fetchWith = (c) => {
  const agent = new Agent({ connect: c ? { ca, cert: readFileSync(c.cert), key: readFileSync(c.key) } : { ca } });
  return (url, init) => undiciFetch(url, { ...init, dispatcher: agent });
};
const anonymous = { [oauth.customFetch]: fetchWith(null) };

const issuer = new URL(a.issuer);
const tokenUrl = `${a.issuer}/oauth2/token`;
const clients = JSON.parse(readFileSync(a.clients, 'utf8')).clients;
const state = {};

await check('oauth4webapi discoveryRequest (oauth2, undici Agent with the test CA): mTLS metadata', async () => {
  const res = await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...anonymous });
  state.as = await oauth.processDiscoveryResponse(issuer, res);
  expect(state.as.token_endpoint === tokenUrl, `token_endpoint ${state.as.token_endpoint}`);
  expect(state.as.tls_client_certificate_bound_access_tokens === true,
    `tls_client_certificate_bound_access_tokens ${state.as.tls_client_certificate_bound_access_tokens}`);
  const methods = state.as.token_endpoint_auth_methods_supported ?? [];
  for (const m of ['tls_client_auth', 'self_signed_tls_client_auth']) {
    expect(methods.includes(m), `token_endpoint_auth_methods_supported ${JSON.stringify(methods)} lacks ${m}`);
  }
  return `tls_client_certificate_bound_access_tokens true, auth methods ${methods.join(' ')}`;
});
if (!state.as) finish();

// Fetched once over undici (jose's createRemoteJWKSet would use Node's own fetch, which knows no test CA).
const jwks = jose.createLocalJWKSet(await (await fetchWith(null)(`${a.issuer}/jwks`)).json());

const grant = (c, options) =>
  oauth
    .clientCredentialsGrantRequest(state.as, { client_id: c.id }, oauth.TlsClientAuth(), {}, options)
    .then((res) => oauth.processClientCredentialsResponse(state.as, { client_id: c.id }, res));

for (const c of clients) {
  const want = x5t(c.cert);
  await check(`oauth4webapi TlsClientAuth() + undici Agent with ${c.id}'s certificate -> certificate-bound token (cnf.x5t#S256 = node:crypto's thumbprint)`, async () => {
    const result = await grant(c, { [oauth.customFetch]: fetchWith(c) });
    // The library lower-cases token_type (RFC 6749 §5.1: case-insensitive).
    expect(result.token_type === 'bearer', `token_type ${result.token_type}`);
    const claims = jose.decodeJwt(result.access_token);
    expect(claims.cnf?.['x5t#S256'] === want, `cnf ${JSON.stringify(claims.cnf)}, want x5t#S256 ${want}`);
    expect(claims.client_id === c.id, `client_id ${claims.client_id}`);
    c.token = result.access_token;
    return `token_type ${result.token_type}, cnf.x5t#S256 ${want}`;
  });
  if (!c.token) continue;

  await check(`jose jwtVerify ${a.alg} validates ${c.id}'s token and sees cnf.x5t#S256`, async () => {
    const { payload, protectedHeader } = await jose.jwtVerify(c.token, jwks, {
      issuer: a.issuer,
      audience: a.audience,
      typ: 'at+jwt',
      algorithms: [a.alg],
      requiredClaims: ['iss', 'sub', 'aud', 'exp', 'iat', 'jti', 'client_id', 'cnf'],
    });
    expect(payload.cnf?.['x5t#S256'] === want, `cnf ${JSON.stringify(payload.cnf)}`);
    return `kid=${protectedHeader.kid}`;
  });

  // Without a certificate, an id sent alone is answered as a request without
  // credentials (401 with the Basic challenge), whether or not the id names a
  // certificate client: oauth4webapi reports the challenge.
  await check(`oauth4webapi TlsClientAuth() without a client certificate, client ${c.id} -> 401 with the Basic challenge`, async () => {
    try {
      await grant(c, anonymous);
    } catch (err) {
      expect(err instanceof oauth.WWWAuthenticateChallengeError, `not a challenge error: ${describe(err)}`);
      expect(err.status === 401, `status ${err.status}`);
      const challenge = err.cause.find((ch) => ch.scheme === 'basic');
      expect(challenge !== undefined, `challenges ${JSON.stringify(err.cause)}`);
      return `${err.status}, Basic challenge`;
    }
    throw new Error('a token was issued without a certificate');
  });
}

if (a.resource) {
  const apiUrl = new URL('/reports', a.resource);
  const [c] = clients;
  const get = (options) => oauth.protectedResourceRequest(c.token, 'GET', apiUrl, undefined, undefined, options);

  await check(`oauth4webapi protectedResourceRequest over ${c.id}'s certificate at examples/resource_server -> 200`, async () => {
    const res = await get({ [oauth.customFetch]: fetchWith(c) });
    expect(res.status === 200, `HTTP ${res.status}`);
    const body = await res.json();
    expect(body.claims?.cnf?.['x5t#S256'] === x5t(c.cert), `the resource server saw cnf ${JSON.stringify(body.claims?.cnf)}`);
    return `200; Authorization: Bearer over the certificate of cnf.x5t#S256`;
  });

  await check('the same token without a client certificate: WWWAuthenticateChallengeError, scheme bearer, error invalid_token', async () => {
    try {
      const res = await get(anonymous);
      throw new Error(`HTTP ${res.status}: the resource server accepted a certificate-bound token without the certificate`);
    } catch (err) {
      expect(err instanceof oauth.WWWAuthenticateChallengeError, `not a challenge error: ${describe(err)}`);
      expect(err.status === 401, `status ${err.status}`);
      const challenge = err.cause.find((ch) => ch.scheme === 'bearer');
      expect(challenge?.parameters.error === 'invalid_token', `challenges ${JSON.stringify(err.cause)}`);
      return `401 ${JSON.stringify(challenge.parameters)}`;
    }
  });
}

finish();
