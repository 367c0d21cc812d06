// PostGraphile 5 preset for the hub's read benchmark (bench/side_by_side.py).
//
// It serves the hub's own tables (schema public) and the benchmark's plaintext identity side
// table (schema peer), as the database role of the caller's (role, purpose). What that role
// sees is decided by PostgreSQL row-level security, written by bench/peers/postgraphile.py to
// match the hub's police rules: police_officer, identity_validation or inspection, own city.
//
// Each request is authenticated as the hub authenticates it: the hub's own RS256 access token
// (issuer, audience, expiry, signature) and the Hub-Purpose header, which must be one of the
// token's purposes. Anything else is refused; nothing falls back to a default role.
//
// Settings come from the environment (all required):
//   BENCH_PEER_DATABASE_URL   postgres:// URL; the connecting user may SET ROLE to the roles
//   BENCH_PEER_JWK            file with the hub's public signing key (a JWK)
//   BENCH_PEER_ISSUER         the hub's issuer URL, as in its tokens
//   BENCH_PEER_AUDIENCE       the hub's token audience
//   BENCH_PEER_DB_ROLES       JSON {hub role: {purpose: database role}}; the first role listed
//                             is the one the schema is introspected as
import { createPublicKey } from "node:crypto";
import { readFileSync } from "node:fs";

import jsonwebtoken from "jsonwebtoken";
import { makePgService } from "postgraphile/adaptors/pg";
import { SafeError } from "postgraphile/grafast";
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";

function setting(name) {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} is not set`);
  }
  return value;
}

const publicKey = createPublicKey({
  key: JSON.parse(readFileSync(setting("BENCH_PEER_JWK"), "utf8")),
  format: "jwk",
});
const issuer = setting("BENCH_PEER_ISSUER");
const audience = setting("BENCH_PEER_AUDIENCE");
const dbRoles = new Map(
  Object.entries(JSON.parse(setting("BENCH_PEER_DB_ROLES"))).map(([role, byPurpose]) => [
    role,
    new Map(Object.entries(byPurpose)),
  ]),
);
const introspectionRole = [...dbRoles.values()][0]?.values().next().value;
if (!introspectionRole) {
  throw new Error("BENCH_PEER_DB_ROLES maps no role");
}

function refuse(message) {
  // The message reaches the client (and grafserv's log): it never names the token or claims.
  // grafserv takes the HTTP status from the error itself when it is thrown here.
  return Object.assign(new SafeError(message, { statusCode: 401 }), { statusCode: 401 });
}

function claimsOf(req) {
  const header = req?.headers?.authorization;
  const match = typeof header === "string" ? /^Bearer (\S+)$/i.exec(header) : null;
  if (!match) {
    throw refuse("missing bearer token");
  }
  try {
    return jsonwebtoken.verify(match[1], publicKey, {
      algorithms: ["RS256"],
      issuer,
      audience,
      clockTolerance: 30,
    });
  } catch {
    throw refuse("token refused");
  }
}

// The per-request settings: the database role of the caller's (role, purpose), which binds the
// purpose, and the city claim that the row-level security policies read.
function pgSettingsFor(req) {
  const claims = claimsOf(req);
  const roles = Array.isArray(claims.roles) ? claims.roles.filter((r) => dbRoles.has(r)) : [];
  if (roles.length !== 1) {
    throw refuse("the token carries no single role this peer serves");
  }
  const purposes = Array.isArray(claims.purposes) ? claims.purposes : [];
  const asked = req.headers["hub-purpose"];
  const purpose = typeof asked === "string" ? asked.trim() : purposes.length === 1 ? purposes[0] : "";
  if (!purpose || !purposes.includes(purpose)) {
    throw refuse("purpose missing or not allowed by the token");
  }
  const dbRole = dbRoles.get(roles[0]).get(purpose);
  if (!dbRole) {
    throw refuse("no rule for this role and purpose");
  }
  if (typeof claims.city !== "string" || !claims.city) {
    throw refuse("token lacks claims: city");
  }
  return { role: dbRole, "jwt.claims.city": claims.city };
}

/** @type {GraphileConfig.Preset} */
const preset = {
  extends: [PostGraphileAmberPreset],
  // By default only indexed columns can be ordered by; the hub orders premises by address.
  disablePlugins: ["PgIndexBehaviorsPlugin"],
  pgServices: [
    makePgService({
      connectionString: setting("BENCH_PEER_DATABASE_URL"),
      schemas: ["public", "peer"],
      // Introspect as a served role, so the schema shows only the tables it was granted.
      pgSettingsForIntrospection: { role: introspectionRole },
      pubsub: false,
    }),
  ],
  grafast: {
    explain: false,
    context(requestContext) {
      return { pgSettings: pgSettingsFor(requestContext.node?.req) };
    },
  },
  grafserv: {
    graphqlPath: "/graphql",
    graphiql: false,
    websockets: false,
  },
};

export default preset;
