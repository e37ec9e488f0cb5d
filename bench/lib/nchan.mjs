// nginx with the Nchan module, with a config of its own in a temp dir: one
// EventSource channel per user (/sub/<user>), published by POST /pub/<user>,
// and a shared channel (/sub-all, /pub-all) for broadcast. It listens on every
// address the subscribers spread their streams over (ports.mjs).
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { canConnect, freePort, LOOPBACK_ADDRESSES, waitFor } from './ports.mjs';
import { spawnPinned, stop } from './processes.mjs';

export const NCHAN_MODULE = '/usr/lib/nginx/modules/ngx_nchan_module.so';

export function nchanAvailable() {
  return existsSync(NCHAN_MODULE) && (existsSync('/usr/sbin/nginx') || existsSync('/usr/bin/nginx'));
}

function config(dir, port) {
  return `load_module ${NCHAN_MODULE};
daemon off;
master_process on;
worker_processes 1;
worker_rlimit_nofile 40000;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 30000; multi_accept on; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  keepalive_requests 1000000;
  nchan_max_reserved_memory 512M;
  nchan_message_buffer_length 10;
  nchan_message_timeout 60s;
  server {
${LOOPBACK_ADDRESSES.map((address) => `    listen ${address}:${port} backlog=4096;`).join('\n')}
    location ~ ^/sub/([A-Za-z0-9_.-]+)$ {
      nchan_subscriber eventsource;
      nchan_channel_id $1;
    }
    location ~ ^/pub/([A-Za-z0-9_.-]+)$ {
      nchan_publisher;
      nchan_channel_id $1;
    }
    location = /sub-all { nchan_subscriber eventsource; nchan_channel_id all; }
    location = /pub-all { nchan_publisher; nchan_channel_id all; }
  }
}
`;
}

/** Starts nginx (master and one worker) pinned to `cpu`; pids() lists both, for RSS and CPU. */
export async function startNchan({ cpu = 0 } = {}) {
  const port = await freePort();
  const dir = mkdtempSync(path.join(tmpdir(), 'herald-bench-nchan-'));
  writeFileSync(path.join(dir, 'nginx.conf'), config(dir, port));
  const child = spawnPinned(cpu, 'nginx', ['-p', dir, '-c', path.join(dir, 'nginx.conf'), '-e', path.join(dir, 'error.log')]);
  let output = '';
  child.stderr.on('data', (chunk) => (output = (output + chunk).slice(-4000)));
  child.stdout.resume();
  await waitFor(() => canConnect(port), `nginx on ${port}`, 10_000, () =>
    child.exitCode !== null ? `exited (${child.exitCode}): ${output}` : null,
  );
  const pids = () => {
    const children = readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    return [child.pid, ...children];
  };
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    pid: child.pid,
    pids,
    async stop() {
      await stop(child, 'SIGTERM', 3000);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
