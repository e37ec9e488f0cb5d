// The shipped nginx config (deploy/nginx/herald.conf) in front of a real hub:
// streams pass unbuffered (each event arrives at once, not in lumps or at the
// end), the SSE headers survive, streams are never compressed, the heartbeat
// gets through, tokens in the query never reach nginx's access log, and a
// request has one id in nginx's log and the hub's answer.
import { ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startHub, TestHub } from './support/hub.js';
import { freePort } from './support/processes.js';
import { openRaw } from './support/sse.js';

const SHIPPED = readFileSync(new URL('../deploy/nginx/herald.conf', import.meta.url), 'utf8');

describe('nginx with the shipped config', () => {
  let hub: TestHub;
  let nginx: ChildProcess;
  let dir: string;
  let url: string;

  beforeAll(async () => {
    hub = await startHub({ HEARTBEAT_MS: '300' });
    dir = mkdtempSync(path.join(tmpdir(), 'herald-nginx-'));
    const port = await freePort();
    const hubPort = new URL(hub.url).port;
    // The shipped server block, pointed at this hub and this directory.
    const server = SHIPPED.replace(/upstream herald \{[^}]*\}/, `upstream herald { server 127.0.0.1:${hubPort}; keepalive 8; }`)
      .replace('listen 80;', `listen 127.0.0.1:${port};`)
      .replace('/var/log/nginx/access.log', path.join(dir, 'access.log'));
    writeFileSync(
      path.join(dir, 'nginx.conf'),
      `worker_processes 1; error_log ${dir}/error.log; pid ${dir}/nginx.pid;
       events { worker_connections 256; }
       http { client_body_temp_path ${dir}; proxy_temp_path ${dir}; fastcgi_temp_path ${dir};
              uwsgi_temp_path ${dir}; scgi_temp_path ${dir}; ${server} }`,
    );
    nginx = spawn('nginx', ['-p', dir, '-c', path.join(dir, 'nginx.conf'), '-g', 'daemon off;'], { stdio: 'inherit' });
    url = `http://127.0.0.1:${port}`;
    for (let i = 0; i < 100; i++) {
      if (await fetch(`${url}/health/live`).then((r) => r.ok, () => false)) return;
      await sleep(50);
    }
    throw new Error('nginx did not start');
  });

  afterAll(async () => {
    nginx?.kill('SIGTERM');
    await hub?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('passes each event through at once, with the SSE headers and no compression', async () => {
    const token = hub.userToken('alice');
    const stream = await openRaw(`${url}/v1/stream?access_token=${token}`, { headers: { 'accept-encoding': 'gzip' } });
    expect(stream.response.status).toBe(200);
    expect(stream.response.headers.get('content-type')).toBe('text/event-stream');
    // X-Accel-Buffering is addressed to nginx, which consumes it; its effect is timed below.
    expect(stream.response.headers.get('cache-control')).toContain('no-cache');
    expect(stream.response.headers.get('content-encoding')).toBeNull();
    expect((await stream.next(1000)).event).toBe('ready');
    for (let n = 0; n < 5; n++) {
      const sent = performance.now();
      expect((await hub.publish({ type: 'through.nginx', recipients: ['alice'], data: { n }, persist: false })).status).toBe(202);
      const frame = await stream.next(1000);
      expect(JSON.parse(frame.data!).data).toEqual({ n });
      expect(performance.now() - sent).toBeLessThan(500);
    }
    const ping = await stream.until((frame) => frame.comment === 'ping', 2000);
    expect(ping.length).toBeGreaterThan(0);
    stream.close();
  });

  it('keeps tokens out of its access log', async () => {
    const token = hub.userToken('bob');
    const stream = await openRaw(`${url}/v1/stream?access_token=${token}`);
    expect((await stream.next(1000)).event).toBe('ready');
    stream.close();
    await sleep(200);
    const log = readFileSync(path.join(dir, 'access.log'), 'utf8');
    expect(log).toContain('GET /v1/stream');
    expect(log).not.toContain(token);
    expect(log).not.toContain('access_token');
  });

  it('gives the hub its request id, so both logs name a request alike', async () => {
    const response = await fetch(`${url}/health/live`);
    const id = response.headers.get('x-request-id');
    expect(id).toMatch(/^[0-9a-f]{32}$/);
    await sleep(200);
    expect(readFileSync(path.join(dir, 'access.log'), 'utf8')).toMatch(new RegExp(`GET /health/live" 200 .* ${id}\n`));
  });
});
