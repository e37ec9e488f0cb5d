import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { devSecretPath, keptDevSecret } from './dev-secret.js';

describe('the development secret', () => {
  const dir = () => mkdtempSync(path.join(tmpdir(), 'herald-secret-'));

  it('is kept beside the SQLite file, and not at all for an in-memory database', () => {
    expect(devSecretPath('./data/herald.sqlite')).toBe(path.join('data', 'dev-jwt-secret'));
    expect(devSecretPath(':memory:')).toBeUndefined();
  });

  it('is made once, readable by its owner only, and read back on the next start', () => {
    const file = path.join(dir(), 'data', 'dev-jwt-secret');
    const first = keptDevSecret(file);
    expect(first).toEqual({ secret: expect.any(String), file, created: true });
    expect(first.secret.length).toBeGreaterThanOrEqual(32);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(keptDevSecret(file)).toEqual({ secret: first.secret, file, created: false });
    expect(readFileSync(file, 'utf8').trim()).toBe(first.secret);
  });

  it('replaces a kept secret too short to be one', () => {
    const file = path.join(dir(), 'dev-jwt-secret');
    writeFileSync(file, 'short\n');
    const kept = keptDevSecret(file);
    expect(kept).toMatchObject({ created: true });
    expect(kept.secret).not.toBe('short');
  });

  it('falls back to a secret for this boot, saying why, where it cannot be kept', () => {
    const blocker = path.join(dir(), 'a-file');
    writeFileSync(blocker, '');
    const kept = keptDevSecret(path.join(blocker, 'dev-jwt-secret'));
    expect(kept).toEqual({ secret: expect.any(String), problem: expect.stringMatching(/cannot be (read|written)/) });
  });
});
