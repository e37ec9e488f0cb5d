import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Polls `check` until it holds; after `timeoutMs` fails naming `what`, with
 * `detail()` appended when given. A check that throws fails at once.
 */
export async function waitFor(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
  detail?: () => string | Promise<string>,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail ? `: ${await detail()}` : ''}`);
    }
    await sleep(10);
  }
}
