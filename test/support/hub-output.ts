/** What hub processes printed, for failure messages. */
import { setTimeout as sleep } from 'node:timers/promises';
import type { HubProcess } from './processes.js';

/** The last lines a hub printed, as they are. */
export function tail(hub: HubProcess, lines = 25): string {
  return hub.output.join('').split('\n').slice(-lines).join('\n');
}

/** The last 30 lines a hub printed, without colours and Nest's start-up chatter, under a heading naming the hub. */
export function outputOf(hub: HubProcess): string {
  const lines = hub.output
    .join('')
    .replace(/\x1b\[[0-9;]*m/g, '')
    .split('\n')
    .filter((line) => line && !/\[(InstanceLoader|RoutesResolver|RouterExplorer|NestFactory)\]/.test(line));
  return `--- hub ${hub.port} (pid ${hub.pid}) ---\n${lines.slice(-30).join('\n')}`;
}

/** Runs `body`; when it fails, appends what the hubs (as they are by then) printed to the error. */
export async function withHubOutput(hubs: () => HubProcess[], body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (err) {
    if (err instanceof Error) err.message += `\n\n${hubs().map(outputOf).join('\n')}`;
    throw err;
  }
}

/**
 * Polls `check` until it holds (a check that throws counts as not yet); after
 * `timeoutMs` fails naming `what` and showing the tail of each hub's output.
 */
export async function waitUntil(
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs: number,
  hubs: HubProcess[] = [],
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await Promise.resolve(check()).catch(() => false)) return;
    if (Date.now() > deadline) {
      const outputs = hubs.map((h) => `--- hub ${h.port} output (tail):\n${tail(h)}`).join('\n');
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${outputs ? `\n${outputs}` : ''}`);
    }
    await sleep(25);
  }
}
