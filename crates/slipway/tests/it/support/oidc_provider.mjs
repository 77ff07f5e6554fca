// A real OpenID provider for Slipway's tests: the npm package `oidc-provider` (installed by
// .ci/run into $HOME/.cache/slipway-oidc), with one confidential client that must use PKCE, a
// login page of its own (user name and password from SLIPWAY_OIDC_USERS), and consent granted
// for that first-party client, as a company's provider would be set up.
//
// Environment: SLIPWAY_OIDC_MODULES (the node_modules folder), SLIPWAY_OIDC_CLIENT_ID,
// SLIPWAY_OIDC_CLIENT_SECRET, SLIPWAY_OIDC_REDIRECT (Slipway's callback), SLIPWAY_OIDC_USERS
// (JSON: {"quinn": {"password": "...", "name": "Quinn Q.", "groups": ["release-ops"]}}).
// A user with `"tamper": "audience" | "nonce" | "expired" | "signature"` gets an ID token the
// provider's own key signed but that is wrong in that way, as a misconfigured or hostile
// provider would send: Slipway must refuse it.
// Refresh tokens are issued at every sign-in (Slipway re-checks people with them) but to a user
// marked `"no_refresh_token": true`; a user marked `"rotate_refresh_token": true` gets a new one
// at each refresh and the one used is spent (used again, the provider refuses it and revokes the
// grant), as providers that rotate do — `GET /test-admin/rotations/NAME` counts those rotations;
// `PUT /test-admin/users/NAME` with a JSON user (or `null`: the account is gone, as a disabled
// one is) changes a person at the provider while Slipway runs: their next refresh sees it.
// Prints `listening http://127.0.0.1:PORT` once it serves; the test kills it at the end.
import http from 'node:http';
import { generateKeyPairSync, sign } from 'node:crypto';
import { pathToFileURL } from 'node:url';

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const modules = env('SLIPWAY_OIDC_MODULES');
const { default: Provider } = await import(
  pathToFileURL(`${modules}/oidc-provider/lib/index.js`).href
);
const users = JSON.parse(env('SLIPWAY_OIDC_USERS'));
const rotations = {};
const clientId = env('SLIPWAY_OIDC_CLIENT_ID');

let handler = (req, res) => { res.statusCode = 503; res.end(); };
const server = http.createServer((req, res) => handler(req, res));
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'test-key', alg: 'RS256', use: 'sig' };

const provider = new Provider(issuer, {
  clients: [{
    client_id: clientId,
    client_secret: env('SLIPWAY_OIDC_CLIENT_SECRET'),
    redirect_uris: [env('SLIPWAY_OIDC_REDIRECT')],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  jwks: { keys: [jwk] },
  pkce: { required: () => true },
  // A user with `"no_refresh_token": true` gets none, as a provider asked without the scope
  // it needs (often `offline_access`) behaves.
  issueRefreshToken: async (ctx, client, code) => !users[code.accountId]?.no_refresh_token,
  rotateRefreshToken: (ctx) => {
    const account = ctx.oidc.entities.RefreshToken?.accountId;
    const rotate = Boolean(users[account]?.rotate_refresh_token);
    if (rotate) rotations[account] = (rotations[account] ?? 0) + 1;
    return rotate;
  },
  claims: { openid: ['sub'], profile: ['name', 'preferred_username'], groups: ['groups'] },
  scopes: ['openid', 'profile', 'groups'],
  // The groups go into the ID token itself, where Slipway reads them.
  conformIdTokenClaims: false,
  features: { devInteractions: { enabled: false } },
  cookies: { keys: ['slipway-test-provider'] },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(ctx, id) {
    const user = users[id];
    if (!user) return undefined;
    return {
      accountId: id,
      async claims() {
        return { sub: id, preferred_username: id, name: user.name, groups: user.groups };
      },
    };
  },
  // Slipway is this company's own application: consent is given for it, not asked.
  async loadExistingGrant(ctx) {
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope('openid profile groups');
    grant.addOIDCClaims(['name', 'preferred_username', 'groups']);
    await grant.save();
    return grant;
  },
});
provider.proxy = false;
for (const event of ['grant.error', 'authorization.error', 'server_error']) {
  provider.on(event, (ctx, err) => console.error(event, err?.message, err?.error_detail ?? ''));
}

const page = (uid, problem) => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Test provider sign-in</title></head>
<body><h1>Test provider</h1>${problem ? `<p id="problem">${problem}</p>` : ''}
<form id="provider-login" method="post" action="/interaction/${uid}/login">
<label for="login">User</label><input id="login" name="login" autocomplete="off">
<label for="password">Password</label><input id="password" name="password" type="password">
<button id="provider-submit" type="submit">Sign in</button></form></body></html>`;

const readForm = (req) => new Promise((resolve, reject) => {
  let body = '';
  req.on('data', (chunk) => {
    body += chunk;
    if (body.length > 10_000) reject(new Error('form too large'));
  });
  req.on('end', () => resolve(new URLSearchParams(body)));
});

const interaction = async (req, res) => {
  const details = await provider.interactionDetails(req, res);
  if (req.method === 'GET') {
    res.setHeader('content-type', 'text/html; charset=utf-8');
    res.end(page(details.uid));
    return;
  }
  const form = await readForm(req);
  const login = form.get('login') ?? '';
  const user = users[login];
  if (!user || user.password !== form.get('password')) {
    res.statusCode = 401;
    res.setHeader('content-type', 'text/html; charset=utf-8');
    res.end(page(details.uid, 'wrong user or password'));
    return;
  }
  await provider.interactionFinished(req, res, {
    login: { accountId: login, ts: Math.floor(Date.now() / 1000) },
  }, { mergeWithLastSubmission: false });
};

// The ID token re-made wrong for a tampering user, signed with the provider's key.
const tamper = (token) => {
  const [, payload] = token.split('.');
  const claims = JSON.parse(Buffer.from(payload, 'base64url'));
  const mode = users[claims.sub]?.tamper;
  if (!mode) return token;
  const now = Math.floor(Date.now() / 1000);
  if (mode === 'audience') claims.aud = 'another-application';
  if (mode === 'nonce') claims.nonce = 'not-the-nonce-slipway-sent';
  if (mode === 'expired') Object.assign(claims, { iat: now - 7200, exp: now - 3600 });
  const b64 = (x) => Buffer.from(x).toString('base64url');
  const input = `${b64(JSON.stringify({ alg: 'RS256', kid: jwk.kid }))}.${b64(JSON.stringify(claims))}`;
  const signature = sign('sha256', Buffer.from(input), privateKey);
  if (mode === 'signature') signature[0] ^= 1;
  return `${input}.${b64(signature)}`;
};

const withTampering = (res) => {
  const end = res.end.bind(res);
  res.end = (chunk, ...rest) => {
    try {
      const body = JSON.parse(chunk.toString());
      if (body.id_token) {
        body.id_token = tamper(body.id_token);
        chunk = JSON.stringify(body);
        if (!res.headersSent) res.setHeader('content-length', Buffer.byteLength(chunk));
      }
    } catch {
      // Not a JSON answer: leave it as it is.
    }
    return end(chunk, ...rest);
  };
};

const testAdmin = async (req, res) => {
  const name = decodeURIComponent(req.url.slice('/test-admin/users/'.length));
  let body = '';
  for await (const chunk of req) body += chunk;
  const user = JSON.parse(body);
  if (user === null) delete users[name];
  else users[name] = user;
  res.statusCode = 204;
  res.end();
};

const callback = provider.callback();
handler = (req, res) => {
  if (req.method === 'GET' && req.url.startsWith('/test-admin/rotations/')) {
    const name = decodeURIComponent(req.url.slice('/test-admin/rotations/'.length));
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(rotations[name] ?? 0));
    return;
  }
  if (req.method === 'PUT' && req.url.startsWith('/test-admin/users/')) {
    testAdmin(req, res).catch((e) => {
      res.statusCode = 400;
      res.end(String(e));
    });
    return;
  }
  if (req.url.startsWith('/token')) withTampering(res);
  if (req.url.startsWith('/interaction/')) {
    interaction(req, res).catch((e) => {
      res.statusCode = 400;
      res.end(String(e));
    });
    return;
  }
  callback(req, res);
};
console.log(`listening ${issuer}`);
