import { startHub, TestHub } from './hub.js';
import { createTestDatabase, TestDatabase } from './postgres.js';

/** A database a hub can run on: `setup()` gives the environment to start the hub with, and what removes the database. */
export interface Backend {
  name: string;
  setup(): Promise<{ env: Record<string, string>; teardown: () => Promise<void> }>;
}

/** For `describe.each`: the embedded SQLite (a hub's default), and a fresh PostgreSQL database of its own. */
export const BACKENDS: Backend[] = [
  { name: 'SQLite (embedded)', setup: async () => ({ env: {}, teardown: async () => undefined }) },
  {
    name: 'PostgreSQL',
    setup: async () => {
      const db: TestDatabase = await createTestDatabase();
      return { env: { DATABASE_URL: db.url }, teardown: () => db.drop() };
    },
  },
];

/** Starts a hub in this process (`env` on top of the test defaults) on the backend; its `close()` removes the database too. */
export async function startHubOn(backend: Backend, env: Record<string, string> = {}): Promise<TestHub> {
  const database = await backend.setup();
  let hub: TestHub;
  try {
    hub = await startHub({ ...env, ...database.env });
  } catch (err) {
    await database.teardown();
    throw err;
  }
  return {
    ...hub,
    close: async () => {
      try {
        await hub.close();
      } finally {
        await database.teardown();
      }
    },
  };
}
