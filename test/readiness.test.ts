// GET /health/ready (API.md, Operations): 200 when the database (and Redis, if
// configured) answers, 503 otherwise, with the check that failed named; the
// process stays live. Here the hub's PostgreSQL database is dropped under it.
import { startHub, TestHub } from './support/hub.js';
import { createTestDatabase, TestDatabase } from './support/postgres.js';
import { waitFor } from './support/wait.js';

describe('readiness follows the database', () => {
  let db: TestDatabase;
  let hub: TestHub;

  beforeAll(async () => {
    db = await createTestDatabase();
    hub = await startHub({ DATABASE_URL: db.url });
  });

  afterAll(async () => {
    await hub.close().catch(() => undefined);
    await db.drop();
  });

  it('is ready while the database answers, and 503 naming it once it does not', async () => {
    const ready = await fetch(`${hub.url}/health/ready`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ok', checks: { database: 'up', transport: 'up', lifecycle: 'up' } });

    await db.drop();
    let body: unknown;
    await waitFor('readiness to turn 503', async () => {
      const response = await fetch(`${hub.url}/health/ready`);
      body = await response.json();
      return response.status === 503;
    }, 5000);
    expect(body).toEqual(expect.objectContaining({ statusCode: 503, checks: expect.objectContaining({ database: 'down' }) }));
    expect((await fetch(`${hub.url}/health/live`)).status).toBe(200);
  });
});
