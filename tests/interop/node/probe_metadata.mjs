// Probe what openid-client v6 discovery + clientCredentialsGrant require of the metadata
// document (not part of run.sh). Uses customFetch, so no server is needed:
//   cd tests/interop/node && node probe_metadata.mjs
import * as client from 'openid-client';

const iss = 'http://127.0.0.1:8080';
const base = {
  issuer: iss,
  token_endpoint: `${iss}/oauth2/token`,
  jwks_uri: `${iss}/jwks`,
  grant_types_supported: ['client_credentials'],
  token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
  response_types_supported: [],
};
const tokenBody = JSON.stringify({ access_token: 'x', token_type: 'Bearer', expires_in: 60 });

async function probe(name, mutate, { ctype = 'application/json', url = iss, algorithm } = {}) {
  const md = structuredClone(base);
  mutate(md);
  const fake = async (u) =>
    u.endsWith('/token')
      ? new Response(tokenBody, { status: 200, headers: { 'content-type': 'application/json' } })
      : new Response(JSON.stringify(md), { status: 200, headers: { 'content-type': ctype } });
  let res;
  try {
    const cfg = await client.discovery(new URL(url), 'c', 's', undefined, {
      execute: [client.allowInsecureRequests],
      [client.customFetch]: fake,
      algorithm,
    });
    cfg[client.customFetch] = fake;
    await client.clientCredentialsGrant(cfg, {});
    res = 'accepted';
  } catch (e) {
    res = `REJECTED: ${e.code ?? e.name}: ${e.message}`;
  }
  console.log(`${name.padEnd(72)} ${res}`);
}

await probe('baseline (response_types_supported = [], no authorization_endpoint)', () => {});
await probe('response_types_supported absent', (m) => delete m.response_types_supported);
await probe('grant_types_supported absent', (m) => delete m.grant_types_supported);
await probe('issuer with trailing slash', (m) => (m.issuer = `${iss}/`));
await probe('issuer differs (localhost vs 127.0.0.1)', (m) => (m.issuer = 'http://localhost:8080'));
await probe('Content-Type text/plain (body still JSON)', () => {}, { ctype: 'text/plain' });
await probe('token_endpoint absent', (m) => delete m.token_endpoint);
await probe('algorithm "oauth2" (RFC 8414 well-known)', () => {}, { algorithm: 'oauth2' });
