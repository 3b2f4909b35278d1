// DPoP (RFC 9449) interop checks for tokenmint: oauth4webapi v3 (DPoP handle, client
// credentials grant, protected resource request) and jose v6 (thumbprint, remote JWKS).
//
// Run by tests/interop/run.sh against one running tokenmint server and one
// examples/resource_server in --listen mode that trusts it:
//   node dpop.mjs --issuer URL --resource URL --client-id ID --client-secret S [--nonce]
// oauth4webapi is used unmodified, as its DPoP example does: oauth.DPoP(client, keyPair)
// passed as { DPoP } to clientCredentialsGrantRequest and protectedResourceRequest, and a
// request whose processing throws an error for which isDPoPNonceError() is true is sent once
// more. Options besides: allowInsecureRequests (the servers are plain http on 127.0.0.1) and
// customFetch, a pass-through to fetch that records what went over the wire for the checks.
// --nonce: the server has [dpop] require_nonce = true, so the first token request must end in
// a use_dpop_nonce error and the retry must carry the nonce.
// Prints "PASS <name>", "FAIL <name>: <why>", "NOTE <text>"; exits 1 if any check failed.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import * as oauth from 'oauth4webapi';
import * as jose from 'jose';

const { values: a } = parseArgs({
  options: {
    issuer: { type: 'string' },
    resource: { type: 'string' },
    alg: { type: 'string', default: 'ES256' },
    audience: { type: 'string', default: 'https://api.example.com' },
    'client-id': { type: 'string' },
    'client-secret': { type: 'string' },
    nonce: { type: 'boolean', default: false },
    tag: { type: 'string', default: '' },
  },
});
if (!a.issuer || !a.resource || !a['client-id'] || !a['client-secret']) {
  console.error('usage: node dpop.mjs --issuer URL --resource URL --client-id ID --client-secret SECRET [--nonce]');
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
  out(`-- node dpop totals: ${counts.pass} passed, ${counts.fail} failed`);
  process.exit(counts.fail ? 1 : 0);
}

const version = (p) => JSON.parse(readFileSync(new URL(`./node_modules/${p}/package.json`, import.meta.url))).version;
note(`oauth4webapi@${version('oauth4webapi')} jose@${version('jose')} node ${process.version}`);

const b64u = (buf) => Buffer.from(buf).toString('base64url');
const decodePart = (jws, i) => JSON.parse(Buffer.from(jws.split('.')[i], 'base64url').toString('utf8'));
// RFC 7638 §3 by hand: the required members of an EC key, in lexicographic order, no whitespace.
const handThumbprint = (jwk) =>
  b64u(createHash('sha256').update(JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y })).digest());

// Every request oauth4webapi sends, with its answer.
const wire = [];
const recordingFetch = async (url, init) => {
  const res = await fetch(url, init);
  wire.push({
    url: String(url),
    method: init?.method,
    dpop: init?.headers?.dpop,
    authorization: init?.headers?.authorization,
    status: res.status,
    nonce: res.headers.get('dpop-nonce'),
    wwwAuthenticate: res.headers.get('www-authenticate'),
  });
  return res;
};
const options = { [oauth.allowInsecureRequests]: true, [oauth.customFetch]: recordingFetch };

const issuer = new URL(a.issuer);
const tokenUrl = `${a.issuer}/oauth2/token`;
const apiUrl = new URL('/reports', a.resource);
const state = {};

await check('oauth4webapi discoveryRequest (oauth2) + processDiscoveryResponse', async () => {
  const res = await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...options });
  state.as = await oauth.processDiscoveryResponse(issuer, res);
  expect(state.as.token_endpoint === tokenUrl, `token_endpoint ${state.as.token_endpoint}`);
  const algs = state.as.dpop_signing_alg_values_supported;
  expect(Array.isArray(algs) && algs.includes('ES256'), `dpop_signing_alg_values_supported ${JSON.stringify(algs)}`);
  return `dpop_signing_alg_values_supported ${algs.join(' ')}`;
});
if (!state.as) finish();

const client = { client_id: a['client-id'] };
const clientAuth = oauth.ClientSecretPost(a['client-secret']);
const keyPair = await oauth.generateKeyPair('ES256');
const DPoP = oauth.DPoP(client, keyPair);
const publicJwk = await crypto.subtle.exportKey('jwk', keyPair.publicKey);
const jkt = await jose.calculateJwkThumbprint(publicJwk, 'sha256');

await check('thumbprint of the DPoP key: jose calculateJwkThumbprint = by hand (RFC 7638) = DPoP.calculateThumbprint()', async () => {
  const hand = handThumbprint(publicJwk);
  const handle = await DPoP.calculateThumbprint();
  expect(jkt === hand && jkt === handle, `jose ${jkt}, by hand ${hand}, handle ${handle}`);
  return jkt;
});

// The library's documented pattern: send, process; on a DPoP nonce error send once more.
const title = a.nonce
  ? 'oauth4webapi clientCredentialsGrantRequest { DPoP }, server requires a nonce: isDPoPNonceError, one retry, DPoP token'
  : 'oauth4webapi clientCredentialsGrantRequest { DPoP } + processClientCredentialsResponse -> DPoP-bound token';
await check(title, async () => {
  wire.length = 0;
  const grant = () =>
    oauth.clientCredentialsGrantRequest(state.as, client, clientAuth, { scope: 'reports:read' }, { DPoP, ...options });
  let response = await grant();
  let nonceError;
  const result = await oauth.processClientCredentialsResponse(state.as, client, response).catch(async (err) => {
    if (oauth.isDPoPNonceError(err)) {
      nonceError = err;
      response = await grant();
      return oauth.processClientCredentialsResponse(state.as, client, response);
    }
    throw err;
  });
  // The library lower-cases token_type (RFC 6749 §5.1: case-insensitive).
  expect(result.token_type === 'dpop', `token_type ${result.token_type}`);
  const claims = jose.decodeJwt(result.access_token);
  expect(claims.cnf?.jkt === jkt, `cnf ${JSON.stringify(claims.cnf)}, want jkt ${jkt}`);
  const proofs = wire.map((w) => decodePart(w.dpop, 1));
  expect(proofs.every((p) => p.htm === 'POST' && p.htu === tokenUrl && p.ath === undefined),
    `proof claims ${JSON.stringify(proofs)}`);
  const header = decodePart(wire[0].dpop, 0);
  expect(header.typ === 'dpop+jwt' && header.alg === 'ES256' && handThumbprint(header.jwk) === jkt,
    `proof header ${JSON.stringify(header)}`);
  const statuses = wire.map((w) => w.status);
  if (a.nonce) {
    expect(nonceError, 'no use_dpop_nonce error: the first request got a token without a nonce');
    expect(nonceError instanceof oauth.ResponseBodyError && nonceError.status === 400 && nonceError.error === 'use_dpop_nonce',
      `nonce error ${describe(nonceError)}`);
    expect(JSON.stringify(statuses) === '[400,200]', `statuses ${statuses}`);
    expect(wire[0].nonce, '400 use_dpop_nonce without a DPoP-Nonce header');
    expect(proofs[0].nonce === undefined, 'the first proof already had a nonce');
    expect(proofs[1].nonce === wire[0].nonce, `retry nonce ${proofs[1].nonce} != DPoP-Nonce ${wire[0].nonce}`);
    expect(wire[1].nonce, 'the token response carries no DPoP-Nonce');
  } else {
    expect(!nonceError && JSON.stringify(statuses) === '[200]', `statuses ${statuses}`);
    expect(!wire[0].nonce && proofs[0].nonce === undefined, 'a nonce without nonces configured');
  }
  state.tok = result;
  return a.nonce
    ? `400 use_dpop_nonce + DPoP-Nonce, retry with nonce -> 200, token_type ${result.token_type}, cnf.jkt ${jkt}`
    : `one request -> 200, token_type ${result.token_type}, cnf.jkt ${jkt}`;
});
if (!state.tok) finish();
const token = state.tok.access_token;

await check(`jose createRemoteJWKSet + jwtVerify ${a.alg} validates the DPoP-bound token and sees cnf`, async () => {
  const JWKS = jose.createRemoteJWKSet(new URL(`${a.issuer}/jwks`));
  const { payload, protectedHeader } = await jose.jwtVerify(token, JWKS, {
    issuer: a.issuer,
    audience: a.audience,
    typ: 'at+jwt',
    algorithms: [a.alg],
    requiredClaims: ['iss', 'sub', 'aud', 'exp', 'iat', 'jti', 'client_id', 'cnf'],
  });
  expect(payload.cnf?.jkt === jkt, `cnf ${JSON.stringify(payload.cnf)}`);
  expect(payload.client_id === a['client-id'], `client_id ${payload.client_id}`);
  return `kid=${protectedHeader.kid}`;
});

// protectedResourceRequest, retried once on a DPoP nonce error as the library's example does.
async function resourceGet(handle) {
  const get = () => oauth.protectedResourceRequest(token, 'GET', apiUrl, undefined, undefined, { DPoP: handle, ...options });
  return get().catch((err) => {
    if (oauth.isDPoPNonceError(err)) return get();
    throw err;
  });
}

await check('oauth4webapi protectedResourceRequest { DPoP } at examples/resource_server -> 200', async () => {
  wire.length = 0;
  const res = await resourceGet(DPoP);
  expect(res.status === 200, `HTTP ${res.status}`);
  const body = await res.json();
  expect(body.claims?.cnf?.jkt === jkt, `the resource server saw cnf ${JSON.stringify(body.claims?.cnf)}`);
  const sent = wire.at(-1);
  expect(sent.authorization === `DPoP ${token}`, `Authorization ${String(sent.authorization).slice(0, 20)}...`);
  const p = decodePart(sent.dpop, 1);
  const ath = b64u(createHash('sha256').update(token, 'ascii').digest());
  expect(p.ath === ath && p.htm === 'GET' && p.htu === apiUrl.href, `proof claims ${JSON.stringify(p)}`);
  return `200; Authorization: DPoP, proof with ath, htm GET, htu ${apiUrl.href}`;
});

await check('the same token with a DPoP handle of another key: WWWAuthenticateChallengeError, scheme dpop, error invalid_token', async () => {
  const otherKeys = await oauth.generateKeyPair('ES256');
  try {
    const res = await resourceGet(oauth.DPoP(client, otherKeys));
    throw new Error(`HTTP ${res.status}: the resource server accepted a proof of another key`);
  } catch (err) {
    expect(err instanceof oauth.WWWAuthenticateChallengeError, `not a challenge error: ${describe(err)}`);
    expect(err.status === 401, `status ${err.status}`);
    const challenge = err.cause.find((c) => c.scheme === 'dpop');
    expect(challenge, `challenges ${JSON.stringify(err.cause)}`);
    expect(challenge.parameters.error === 'invalid_token', `error ${challenge.parameters.error}`);
    expect(!oauth.isDPoPNonceError(err), 'isDPoPNonceError is true for an invalid_token challenge');
    return `401 ${JSON.stringify(challenge.parameters)}`;
  }
});

finish();
