// Serve PostGraphile 5 with graphile.config.mjs on 127.0.0.1:BENCH_PEER_PORT, POST /graphql.
// The schema is built before the port opens, so an open port means ready. Stops on SIGTERM.
import { createServer } from "node:http";

import { postgraphile } from "postgraphile";
import { grafserv } from "postgraphile/grafserv/node";

import preset from "./graphile.config.mjs";

const port = Number(process.env.BENCH_PEER_PORT);
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  throw new Error("BENCH_PEER_PORT must be a TCP port");
}

const pgl = postgraphile(preset);
const serv = pgl.createServ(grafserv);
await pgl.getSchema();
const server = createServer();
await serv.addTo(server, false);
server.listen(port, "127.0.0.1");

process.once("SIGTERM", () => {
  server.close();
  server.closeAllConnections();
  Promise.resolve(pgl.release()).finally(() => process.exit(0));
});
