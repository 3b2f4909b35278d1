// Node.js interop checks for tokenmint: openid-client v6 (discovery + client
// credentials + introspection) and jose v6 (remote JWKS + jwtVerify).
//
// Run by tests/interop/run.sh against one running tokenmint server:
//   node interop.mjs --issuer URL --alg ALG [--kid KID] [--https-strict] [--extended]
// Prints "PASS <name>", "FAIL <name>: <why>", "NOTE <text>"; exits 1 if any check failed.
// --https-strict: the issuer is https and trusted through NODE_EXTRA_CA_CERTS, so the
// openid-client configuration is built WITHOUT allowInsecureRequests.
// --private-key-jwt CLIENTS.json: run only the private_key_jwt checks (openid-client's
// PrivateKeyJwt client authentication, see privateKeyJwtChecks below).
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import * as client from 'openid-client';
import * as jose from 'jose';

const { values: a } = parseArgs({
  options: {
    issuer: { type: 'string' },
    alg: { type: 'string' },
    kid: { type: 'string', default: '' },
    audience: { type: 'string', default: 'https://api.example.com' },
    'client-id': { type: 'string', default: 'interop-client' },
    'client-secret': { type: 'string', default: 'interop-secret' },
    'special-id': { type: 'string', default: '' },
    'special-secret': { type: 'string', default: '' },
    'https-strict': { type: 'boolean', default: false },
    extended: { type: 'boolean', default: false },
    tag: { type: 'string', default: '' },
    'private-key-jwt': { type: 'string', default: '' },
  },
});
if (!a.issuer || !a.alg) {
  console.error('usage: node interop.mjs --issuer URL --alg ALG [...]');
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

// jose createRemoteJWKSet + jwtVerify of an access token, as RFC 9068 resource servers do.
async function joseVerify(JWKS, tok, clientId) {
  const { payload, protectedHeader } = await jose.jwtVerify(tok.access_token, JWKS, {
    issuer: a.issuer,
    audience: a.audience,
    typ: 'at+jwt',
    algorithms: [a.alg],
    requiredClaims: ['iss', 'sub', 'aud', 'exp', 'iat', 'nbf', 'jti', 'client_id'],
  });
  expect(protectedHeader.alg === a.alg, `alg ${protectedHeader.alg}`);
  if (a.kid) expect(protectedHeader.kid === a.kid, `kid ${protectedHeader.kid} != keygen kid ${a.kid}`);
  expect(payload.client_id === clientId, `client_id ${payload.client_id}`);
  expect(payload.sub === clientId, `sub ${payload.sub}`);
  expect(payload.scope === tok.scope, `scope claim ${payload.scope} != response scope ${tok.scope}`);
  expect(typeof payload.jti === 'string' && payload.jti.length > 0, 'jti');
  return `kid=${protectedHeader.kid}`;
}

const issuerUrl = new URL(a.issuer);
// Plain http on loopback is refused by openid-client unless allowInsecureRequests is executed.
const execute = a['https-strict'] ? [] : [client.allowInsecureRequests];
const execName = a['https-strict'] ? 'https, no allowInsecureRequests' : 'allowInsecureRequests';
const state = {};

if (a['private-key-jwt']) {
  await privateKeyJwtChecks(a['private-key-jwt']);
  out(`-- node totals: ${counts.pass} passed, ${counts.fail} failed`);
  process.exit(counts.fail ? 1 : 0);
}

// --- openid-client: discovery via /.well-known/openid-configuration (default algorithm "oidc")
await check(`openid-client discovery (oidc well-known, ClientSecretBasic, ${execName})`, async () => {
  state.cfgBasic = await client.discovery(
    issuerUrl,
    a['client-id'],
    a['client-secret'],
    client.ClientSecretBasic(a['client-secret']),
    { execute, timeout: 10 },
  );
  const md = state.cfgBasic.serverMetadata();
  expect(md.issuer === a.issuer, `issuer ${md.issuer}`);
  expect(md.token_endpoint === `${a.issuer}/oauth2/token`, `token_endpoint ${md.token_endpoint}`);
  return `token_endpoint=${md.token_endpoint}`;
});

// --- openid-client: discovery via RFC 8414 /.well-known/oauth-authorization-server
await check(`openid-client discovery (algorithm "oauth2", ClientSecretPost, ${execName})`, async () => {
  state.cfgPost = await client.discovery(
    issuerUrl,
    a['client-id'],
    a['client-secret'],
    client.ClientSecretPost(a['client-secret']),
    { execute, algorithm: 'oauth2', timeout: 10 },
  );
  const md = state.cfgPost.serverMetadata();
  expect(md.jwks_uri === `${a.issuer}/jwks`, `jwks_uri ${md.jwks_uri}`);
  return `jwks_uri=${md.jwks_uri}`;
});

async function grant(cfgKey, scope, label, expectScope) {
  if (!state[cfgKey]) return;
  await check(`openid-client clientCredentialsGrant ${label}`, async () => {
    const tok = await client.clientCredentialsGrant(state[cfgKey], scope ? { scope } : {});
    expect(typeof tok.access_token === 'string' && tok.access_token.startsWith('eyJ'), 'no JWT access_token');
    expect(tok.token_type === 'bearer', `token_type ${tok.token_type}`); // normalised to lower case
    expect(tok.expires_in === 3600, `expires_in ${tok.expires_in}`);
    expect(tok.scope === expectScope, `scope ${tok.scope} != ${expectScope}`);
    expect(typeof tok.expiresIn() === 'number', 'expiresIn() helper');
    state[label] = tok;
    return `scope=${tok.scope} expires_in=${tok.expires_in}`;
  });
}
await grant('cfgBasic', 'reports:read', 'basic', 'reports:read');
await grant('cfgPost', 'reports:write', 'post', 'reports:write');
await grant('cfgBasic', undefined, 'basic-default-scope', 'reports:read');

// --- jose: remote JWKS + jwtVerify with RFC 9068 typ
const jwksUri = state.cfgBasic?.serverMetadata().jwks_uri ?? `${a.issuer}/jwks`;
const JWKS = jose.createRemoteJWKSet(new URL(jwksUri), { timeoutDuration: 10000 });
for (const label of ['basic', 'post']) {
  const tok = state[label];
  if (!tok) continue;
  await check(`jose createRemoteJWKSet + jwtVerify ${a.alg} (${label} token, typ at+jwt)`, () =>
    joseVerify(JWKS, tok, a['client-id']),
  );
}
if (state.basic && state.post) {
  await check('tokens have distinct jti', async () => {
    const j1 = jose.decodeJwt(state.basic.access_token).jti;
    const j2 = jose.decodeJwt(state.post.access_token).jti;
    expect(j1 !== j2, `both jti ${j1}`);
  });
}

// --- jose: the JWKS document itself
await check('jose importJWK for every published key', async () => {
  const res = await fetch(jwksUri);
  expect(res.status === 200, `status ${res.status}`);
  const { keys } = await res.json();
  expect(Array.isArray(keys) && keys.length > 0, 'no keys');
  for (const jwk of keys) {
    expect(jwk.use === 'sig', `kid ${jwk.kid} use=${jwk.use}`);
    expect(jwk.kid && jwk.alg && jwk.kty, `kid/alg/kty missing in ${JSON.stringify(jwk)}`);
    expect(!('d' in jwk) && !('p' in jwk), `private material published for ${jwk.kid}`);
    await jose.importJWK(jwk, jwk.alg);
  }
  return `${keys.length} key(s): ${keys.map((k) => `${k.alg}/${k.kid}`).join(', ')}`;
});

// --- openid-client: RFC 7662 introspection
if (state.basic) {
  await check('openid-client tokenIntrospection (active)', async () => {
    const r = await client.tokenIntrospection(state.cfgBasic, state.basic.access_token);
    expect(r.active === true, `active ${r.active}`);
    expect(r.client_id === a['client-id'], `client_id ${r.client_id}`);
    return 'active=true';
  });
}

if (a.extended) {
  if (state.cfgBasic) {
    await check('openid-client tokenIntrospection (garbage token -> active false)', async () => {
      const r = await client.tokenIntrospection(state.cfgBasic, 'garbage');
      expect(r.active === false, `active ${r.active}`);
      return 'active=false';
    });
  }

  // RFC 6749 §2.3.1: client_id/secret are form-urlencoded before Basic; openid-client does that.
  if (a['special-id']) {
    await check('openid-client ClientSecretBasic, secret with reserved chars (RFC 6749 §2.3.1 encoding)', async () => {
      const cfg = await client.discovery(
        issuerUrl,
        a['special-id'],
        a['special-secret'],
        client.ClientSecretBasic(a['special-secret']),
        { execute, timeout: 10 },
      );
      const tok = await client.clientCredentialsGrant(cfg, {});
      expect(typeof tok.access_token === 'string', 'no access_token');
    });
  }

  const errorCode = (err) => err?.error ?? err?.cause?.[0]?.parameters?.error;
  await check('openid-client wrong secret -> invalid_client (401)', async () => {
    const cfg = await client.discovery(
      issuerUrl,
      a['client-id'],
      'wrong-secret',
      client.ClientSecretBasic('wrong-secret'),
      { execute, timeout: 10 },
    );
    try {
      await client.clientCredentialsGrant(cfg, {});
    } catch (err) {
      // A 401 carrying WWW-Authenticate surfaces as WWWAuthenticateChallengeError,
      // otherwise as ResponseBodyError; both are acceptable per RFC 6749 §5.2.
      expect(err.status === 401, `status ${err.status} (${describe(err)})`);
      if (err instanceof client.ResponseBodyError) {
        expect(err.error === 'invalid_client', `error ${err.error}`);
      }
      return `${err.name} status=${err.status}${errorCode(err) ? ` error=${errorCode(err)}` : ''}`;
    }
    throw new Error('wrong secret accepted');
  });
  if (state.cfgBasic) {
    await check('openid-client unregistered scope -> invalid_scope (400)', async () => {
      try {
        await client.clientCredentialsGrant(state.cfgBasic, { scope: 'reports:admin' });
      } catch (err) {
        expect(err instanceof client.ResponseBodyError, describe(err));
        expect(err.error === 'invalid_scope' && err.status === 400, `error ${err.error} status ${err.status}`);
        return 'ResponseBodyError invalid_scope';
      }
      throw new Error('unregistered scope accepted');
    });
  }
  if (!a['https-strict'] && a.issuer.startsWith('http:')) {
    await check('openid-client refuses plain http without allowInsecureRequests (client-side guard)', async () => {
      try {
        await client.discovery(issuerUrl, a['client-id'], a['client-secret'], undefined, { timeout: 10 });
      } catch (err) {
        expect(err.code === 'OAUTH_HTTP_REQUEST_FORBIDDEN', describe(err));
        return err.code;
      }
      throw new Error('http discovery unexpectedly allowed');
    });
  }
}

out(`-- node totals: ${counts.pass} passed, ${counts.fail} failed`);
process.exit(counts.fail ? 1 : 0);

// --- private_key_jwt (RFC 7523 §2.2): openid-client PrivateKeyJwt with its defaults (aud = the
// issuer identifier, exp = iat + 60, nbf, a fresh jti, client_id in the body, no kid for a bare
// CryptoKey, alg from the key), for each client of CLIENTS.json (format: python/interop.py).
async function privateKeyJwtChecks(file) {
  const { clients } = JSON.parse(readFileSync(file, 'utf8'));
  const JWKS = jose.createRemoteJWKSet(new URL(`${a.issuer}/jwks`), { timeoutDuration: 10000 });
  for (const c of clients) {
    const seen = {};
    let cfg;
    const label = `client ${c.id} (jwks ${c.jwks})`;
    const ok = await check(`openid-client discovery with PrivateKeyJwt(${c.alg} CryptoKey), ${label}`, async () => {
      // importPKCS8 gives a non-extractable CryptoKey: RSASSA-PKCS1-v1_5 for RS256, ECDSA P-256 for ES256.
      const key = await jose.importPKCS8(readFileSync(c.key, 'utf8'), c.alg);
      cfg = await client.discovery(issuerUrl, c.id, undefined, client.PrivateKeyJwt(key), { execute, timeout: 10 });
      // Only observes the token request (to report the assertion the library built); the request is unchanged.
      cfg[client.customFetch] = async (url, options) => {
        if (String(url).endsWith('/oauth2/token')) seen.form = new URLSearchParams(String(options.body));
        const res = await fetch(url, options);
        seen.status = res.status;
        seen.wwwAuthenticate = res.headers.get('www-authenticate');
        return res;
      };
      const md = cfg.serverMetadata();
      expect(md.token_endpoint_auth_methods_supported?.includes('private_key_jwt'),
        `token_endpoint_auth_methods_supported ${JSON.stringify(md.token_endpoint_auth_methods_supported)}`);
      return `token_endpoint=${md.token_endpoint}`;
    });
    if (!ok) continue;
    const summary = () => {
      const f = seen.form;
      expect(f, 'no token request seen');
      expect(f.get('client_assertion_type') === 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
        `client_assertion_type ${f.get('client_assertion_type')}`);
      const h = jose.decodeProtectedHeader(f.get('client_assertion'));
      const p = jose.decodeJwt(f.get('client_assertion'));
      expect(h.alg === c.alg, `assertion alg ${h.alg}`);
      expect(p.iss === c.id && p.sub === c.id, `assertion iss/sub ${p.iss}/${p.sub}`);
      expect(p.aud === a.issuer, `assertion aud ${JSON.stringify(p.aud)} (openid-client: the issuer identifier)`);
      return `assertion alg=${h.alg} kid=${h.kid ?? '-'} aud=${p.aud} exp-iat=${p.exp - p.iat} client_id in body=${f.has('client_id')}`;
    };
    if (c.expect === 'ok') {
      let tok;
      await check(`openid-client clientCredentialsGrant PrivateKeyJwt ${c.alg}, ${label}`, async () => {
        try {
          tok = await client.clientCredentialsGrant(cfg, {});
        } catch (err) {
          throw new Error(`HTTP ${seen.status}: ${describe(err)}`);
        }
        expect(typeof tok.access_token === 'string' && tok.access_token.startsWith('eyJ'), 'no JWT access_token');
        expect(tok.token_type === 'bearer', `token_type ${tok.token_type}`);
        expect(tok.scope === 'reports:read', `scope ${tok.scope} (default_scopes)`);
        return summary();
      });
      if (tok) {
        await check(`jose createRemoteJWKSet + jwtVerify ${a.alg} (token of ${c.id}, typ at+jwt)`, () =>
          joseVerify(JWKS, tok, c.id),
        );
      }
    } else {
      await check(`openid-client PrivateKeyJwt ${c.alg}, ${label} signs with a key other than its configured JWK -> 401 ${c.expect}`, async () => {
        let tok;
        try {
          tok = await client.clientCredentialsGrant(cfg, {});
        } catch (err) {
          expect(err.status === 401, `status ${err.status} (${describe(err)})`);
          expect(err instanceof client.ResponseBodyError, `not a ResponseBodyError: ${describe(err)}`);
          expect(err.error === c.expect, `error ${err.error}`);
          return `${err.name} 401 ${err.error}; WWW-Authenticate ${seen.wwwAuthenticate ?? 'absent'}; ${summary()}`;
        }
        throw new Error(`token issued to a client signing with a key it is not configured with: ${JSON.stringify(tok)}`);
      });
    }
  }
}
