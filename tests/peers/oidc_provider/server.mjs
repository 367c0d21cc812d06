// A real OpenID Connect provider for the hub's tests: panva's oidc-provider, serving the
// client credentials grant with RFC 9068 JWT access tokens for the resources it is given
// (RFC 8707 resource indicators), each client's tokens carrying the claims the hub maps.
//
// With a `console` in its config it also logs people in for the hub's consoles: the
// authorization code flow with PKCE for one public client, its own (development) login and
// consent pages, and for each person of `people` the claims their access tokens carry.
//
// Usage: node server.mjs CONFIG.json
//   config: {"clients": [{"client_id", "client_secret", "claims": {...}}],
//            "resources": ["urn:..."], "default_resource": "urn:...", "keys": [private JWK],
//            "console": {"client_id", "redirect_uri"} (optional),
//            "people": {"<login>": {"name": ..., "claims": {...}}} (optional)}
// It listens on a free loopback port and prints one JSON line per event on stdout (any
// other line there is the library's own notice):
//   {"event": "ready", "issuer": "http://127.0.0.1:PORT"}
// and reads one JSON command per line on stdin:
//   {"cmd": "rotate", "keys": [...]}  the provider signs with keys[0] from now on and
//                                     publishes all of them -> {"event": "rotated"}
//   {"cmd": "stats"}                  -> {"event": "stats", "jwks_requests": N}
// It exits when stdin closes.
import { readFileSync } from 'node:fs';
import http from 'node:http';
import readline from 'node:readline';

import Provider, { errors } from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const claimsByClient = new Map(config.clients.map((c) => [c.client_id, c.claims]));
const people = config.people || {};
const consoleClient = config.console
  ? [{
    client_id: config.console.client_id,
    grant_types: ['authorization_code'],
    redirect_uris: [config.console.redirect_uri],
    response_types: ['code'],
    token_endpoint_auth_method: 'none',
  }]
  : [];

function tokenClaims(token) {
  if (token.accountId && Object.hasOwn(people, token.accountId)) {
    return people[token.accountId].claims;
  }
  return claimsByClient.get(token.clientId);
}

function makeProvider(issuer, keys) {
  const provider = new Provider(issuer, {
    clients: config.clients.map((c) => ({
      client_id: c.client_id,
      client_secret: c.client_secret,
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
      token_endpoint_auth_method: 'client_secret_basic',
    })).concat(consoleClient),
    // Only the people of the config exist; the development login page names them.
    findAccount: (_ctx, sub) => (Object.hasOwn(people, sub)
      ? { accountId: sub, claims: () => ({ sub, name: people[sub].name }) }
      : undefined),
    claims: { openid: ['sub'], profile: ['name'] },
    jwks: { keys },
    scopes: ['openid', 'profile', 'hub'],
    ttl: { AccessToken: 300, ClientCredentials: 300 },
    features: {
      devInteractions: { enabled: Boolean(config.console) },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => config.default_resource,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx, resource) => {
          if (!config.resources.includes(resource)) {
            throw new errors.InvalidTarget();
          }
          return {
            scope: 'hub',
            audience: resource,
            accessTokenTTL: 300,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'RS256' } },
          };
        },
      },
    },
    extraTokenClaims: (_ctx, token) => tokenClaims(token),
  });
  return provider.callback();
}

function emit(message) {
  process.stdout.write(`${JSON.stringify(message)}\n`);
}

let handler;
let issuer;
let jwksRequests = 0;

const server = http.createServer((req, res) => {
  if (req.url.startsWith('/jwks')) {
    jwksRequests += 1;
  }
  handler(req, res);
});

server.listen(0, '127.0.0.1', () => {
  issuer = `http://127.0.0.1:${server.address().port}`;
  handler = makeProvider(issuer, config.keys);
  emit({ event: 'ready', issuer });
});

const commands = readline.createInterface({ input: process.stdin });
commands.on('line', (line) => {
  const command = JSON.parse(line);
  if (command.cmd === 'rotate') {
    handler = makeProvider(issuer, command.keys);
    emit({ event: 'rotated' });
  } else if (command.cmd === 'stats') {
    emit({ event: 'stats', jwks_requests: jwksRequests });
  } else {
    emit({ event: 'error', message: `unknown command ${command.cmd}` });
  }
});
commands.on('close', () => {
  server.close();
  process.exit(0);
});
