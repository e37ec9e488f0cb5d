// The floor: a bare Node http server holding SSE streams, with nothing of
// Herald's (no auth, no registry, no fan-out). What any Node SSE server costs
// at least; the bench reports Herald's memory and open rate relative to it.
//   PORT=4000 node bench/floor-server.mjs
import http from 'node:http';

const HEARTBEAT_MS = Number(process.env.HEARTBEAT_MS ?? 15000);
const streams = new Set();
let next = 0;

const server = http.createServer((req, res) => {
  if (req.url !== '/v1/stream') {
    res.writeHead(404).end();
    return;
  }
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  res.write(`event: ready\nid: 0\nretry: 3000\ndata: {"connectionId":"${++next}"}\n\n`);
  streams.add(res);
  res.on('close', () => streams.delete(res));
});
server.keepAliveTimeout = 65_000;
server.listen(Number(process.env.PORT ?? 4000), () => process.stdout.write(`listening on ${server.address().port}\n`));
setInterval(() => {
  for (const res of streams) res.write(': ping\n\n');
}, HEARTBEAT_MS).unref();
for (const signal of ['SIGTERM', 'SIGINT']) process.once(signal, () => process.exit(0));
