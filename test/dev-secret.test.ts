/**
 * A bare start (no JWT_SECRET, outside production) keeps the secret it makes
 * beside the SQLite file, so the tokens a developer's pages and scripts hold
 * survive a restart; an in-memory database keeps none.
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { call } from './support/http.js';
import { type HubProcess, lowPort, startHubProcess } from './support/processes.js';

const hubs: HubProcess[] = [];
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'herald-dev-secret-'));
});
afterAll(async () => {
  await Promise.all(hubs.map((hub) => hub.kill('SIGKILL')));
  rmSync(dir, { recursive: true, force: true });
});

async function bareStart(env: Record<string, string>): Promise<HubProcess> {
  const hub = await startHubProcess({ JWT_SECRET: undefined, ...env });
  hubs.push(hub);
  await hub.ready();
  return hub;
}

async function devToken(hub: HubProcess): Promise<string> {
  const reply = await call(hub, 'POST', '/v1/dev/token', { body: { sub: 'alice' } });
  expect(reply.status).toBe(200);
  return reply.body.token;
}

const inboxWith = (hub: HubProcess, token: string) => call(hub, 'GET', '/v1/notifications', { authorization: `Bearer ${token}` });

it('keeps the secret it made beside the SQLite file: a token from before a restart still works', async () => {
  const env = { PORT: String(await lowPort()), SQLITE_PATH: path.join(dir, 'data', 'herald.sqlite') };
  const first = await bareStart(env);
  const token = await devToken(first);
  expect((await inboxWith(first, token)).status).toBe(200);
  const file = path.join(dir, 'data', 'dev-jwt-secret');
  expect(first.output.join('')).toContain(`development secret made now and kept in ${file}`);
  expect(statSync(file).mode & 0o777).toBe(0o600);
  expect(readFileSync(file, 'utf8').trim().length).toBeGreaterThanOrEqual(32);
  await first.kill('SIGTERM');

  const second = await bareStart(env);
  expect(second.output.join('')).toContain(`development secret kept in ${file}`);
  expect((await inboxWith(second, token)).status).toBe(200);
}, 30_000);

it('with an in-memory database, makes a secret per boot and says so', async () => {
  const env = { PORT: String(await lowPort()), SQLITE_PATH: ':memory:' };
  const first = await bareStart(env);
  const token = await devToken(first);
  expect(first.output.join('')).toContain('random secret for this boot (SQLITE_PATH is :memory:)');
  await first.kill('SIGTERM');
  const second = await bareStart(env);
  const refused = await inboxWith(second, token);
  expect([refused.status, refused.body.message]).toEqual([401, 'token signature is invalid']);
}, 30_000);
