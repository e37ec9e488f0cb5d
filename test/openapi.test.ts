import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Validator } from '@seriousme/openapi-schema-validator';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { readdirSync } from 'node:fs';
import { DOCS_PATH, OPENAPI_JSON_PATH } from '../apps/hub/src/openapi/openapi.js';
import { call, Json, Reply } from './support/http.js';
import { startHub, TestHub } from './support/hub.js';
import { RedisServer, startRedis } from './support/processes.js';
import { openRaw, SseFrame } from './support/sse.js';
import { newUser } from './support/users.js';

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];
/** What Swagger UI's page loads: its styles, its two bundles, and the script that hands it the document. */
const UI_FILES = ['swagger-ui.css', 'swagger-ui-bundle.js', 'swagger-ui-standalone-preset.js', 'swagger-ui-init.js'];

/** `GET /openapi.json`, parsed. */
async function fetchDocument(hub: TestHub): Promise<Json> {
  const reply = await call(hub, 'GET', OPENAPI_JSON_PATH);
  expect({ status: reply.status, contentType: reply.contentType }).toEqual({
    status: 200,
    contentType: expect.stringContaining('application/json'),
  });
  return reply.body;
}

/**
 * Every route the app's Fastify router holds, as `METHOD /path/{param}`, from
 * its printed tree (one node a line, each indented 4 more than its parent and
 * holding the rest of its path). The HEAD route Fastify adds beside each GET
 * route is left out.
 */
function registeredRoutes(app: NestFastifyApplication): string[] {
  const prefixes: string[] = [];
  const routes: string[] = [];
  for (const line of app.getHttpAdapter().getInstance().printRoutes({ commonPrefix: false }).split('\n')) {
    const node = /^([│ ]*)[├└]── (\S+)(?: \(([A-Z, ]+)\))?$/u.exec(line);
    if (!node) continue;
    const depth = node[1].length / 4;
    const path = (prefixes[depth - 1] ?? '') + node[2];
    prefixes[depth] = path;
    const methods = node[3]?.split(', ') ?? [];
    const route = path.replace(/:(\w+)/g, '{$1}');
    for (const method of methods) {
      if (method !== 'HEAD' || !methods.includes('GET')) routes.push(`${method} ${route}`);
    }
  }
  return routes;
}

/** Every operation of the document, as `METHOD /path/{param}`. */
function documentedRoutes(document: Json): string[] {
  return Object.entries(document.paths as Record<string, Json>).flatMap(([path, item]) =>
    Object.keys(item)
      .filter((key) => METHODS.includes(key))
      .map((method) => `${method.toUpperCase()} ${path}`),
  );
}

/** The demo page's files, each a route of its own. */
const DEMO_PAGE = new Set(['/', ...readdirSync(new URL('../apps/hub/public', import.meta.url)).map((name) => `/${name}`)]);

/**
 * The document's own routes (the JSON, and Swagger UI's page, script and
 * files, the last as `/docs*`) and the demo page's: not part of the API the
 * document describes.
 */
const isNotApiRoute = (route: string) => {
  const path = route.slice(route.indexOf(' ') + 1);
  return path === OPENAPI_JSON_PATH || path.startsWith(DOCS_PATH) || DEMO_PAGE.has(path);
};

/** The document is valid OpenAPI, and lists exactly the routes the app registers. */
async function expectDocumentOf(hub: TestHub): Promise<Json> {
  const document = await fetchDocument(hub);
  const validation = await new Validator().validate(document);
  expect(validation).toEqual({ valid: true });
  expect(document.openapi).toMatch(/^3\.\d+\.\d+$/);

  const routes = registeredRoutes(hub.app);
  const setAside = routes.filter(isNotApiRoute);
  // What is set aside is the document's and the page's, served with GET, and nothing else.
  expect(setAside).toEqual(expect.arrayContaining([`GET ${OPENAPI_JSON_PATH}`, `GET ${DOCS_PATH}`]));
  expect(setAside.filter((route) => !route.startsWith('GET '))).toEqual([]);
  const api = routes.filter((route) => !isNotApiRoute(route));
  const documented = documentedRoutes(document);
  expect(api).toEqual(expect.arrayContaining(['POST /v1/events', 'GET /v1/stream', 'GET /health/ready']));
  expect({
    undocumented: api.filter((route) => !documented.includes(route)),
    notRegistered: documented.filter((route) => !api.includes(route)),
  }).toEqual({ undocumented: [], notRegistered: [] });
  return document;
}

/** JSON Schema checks against the document's own schemas, `$ref`s and all. */
class DocumentSchemas {
  private readonly ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });

  constructor(readonly document: Json) {
    this.ajv.addSchema(document, 'openapi.json');
  }

  /** The schema at a JSON pointer into the document; `path` items are pointer segments. */
  at(...path: string[]) {
    const escape = (segment: string) => encodeURIComponent(segment.replace(/~/g, '~0').replace(/\//g, '~1'));
    return this.ajv.compile({ $ref: `openapi.json#/${path.map(escape).join('/')}` });
  }

  /** The reply's status is documented for the operation, and a JSON body matches that response's schema. */
  expectDocumented(method: string, path: string, reply: Reply): void {
    const response = this.document.paths[path]?.[method]?.responses?.[String(reply.status)];
    const answer = `${method.toUpperCase()} ${path} answered ${reply.status}`;
    expect({ answer, documented: response !== undefined }).toEqual({ answer, documented: true });
    if (!response.content?.['application/json']) return;
    const json = ['content', 'application/json', 'schema'];
    const validate = this.at('paths', path, method, 'responses', `${reply.status}`, ...json);
    const errors = validate(reply.body) ? null : validate.errors;
    expect({ body: reply.body, errors }).toEqual({ body: reply.body, errors: null });
  }
}

describe('the API document (embedded hub, dev auth on)', () => {
  let hub: TestHub;
  let document: Json;
  let schemas: DocumentSchemas;
  beforeAll(async () => {
    hub = await startHub({ HERALD_DEV_AUTH: 'on' });
    document = await fetchDocument(hub);
    schemas = new DocumentSchemas(document);
  });
  afterAll(() => hub.close());

  it('is valid OpenAPI and lists every route the app registers, and no other', async () => {
    await expectDocumentOf(hub);
    expect(documentedRoutes(document)).toContain('POST /v1/dev/token');
  });

  describe('request body schemas give the verdicts the hub gives', () => {
    const user = newUser('writer');
    let postId: string;
    beforeAll(async () => {
      const post = await call(hub, 'POST', '/v1/posts', { as: user, body: { title: 'a post', body: 'for comments' } });
      postId = post.body.id;
    });

    const recipients = (n: number) => Array.from({ length: n }, (_, i) => `user-${i}`);
    const CASES: { path: string; auth: () => string | null; bodies: unknown[] }[] = [
      {
        path: '/v1/events',
        auth: () => `Bearer ${hub.serviceToken()}`,
        bodies: [
          { type: 'comment.created', recipients: ['alice'] },
          { type: 'a.b_c-9', recipients: ['alice', 'alice', 'bob@x:y'], data: { postId: '42' }, persist: false },
          { type: 'x'.repeat(64), recipients: recipients(1000), persist: false },
          { type: 'x'.repeat(65), recipients: ['alice'] },
          { type: 'Comment', recipients: ['alice'] },
          { type: 'ready', recipients: ['alice'] },
          { type: 'error', recipients: ['alice'] },
          { recipients: ['alice'] },
          { type: 'a', recipients: [] },
          { type: 'a', recipients: recipients(1001), persist: false },
          { type: 'a', recipients: 'alice' },
          { type: 'a', recipients: ['al ice'] },
          { type: 'a', recipients: ['x'.repeat(129)] },
          { type: 'a', recipients: ['alice'], data: [] },
          { type: 'a', recipients: ['alice'], data: null },
          { type: 'a', recipients: ['alice'], persist: 'yes' },
          { type: 'a', recipients: ['alice'], recipient: 'bob' },
          ['a'],
          'a',
        ],
      },
      {
        path: '/v1/events/batch',
        auth: () => `Bearer ${hub.serviceToken()}`,
        bodies: [
          { events: [{ type: 'a', recipients: ['alice'] }, { type: 'b', recipients: ['bob'], data: { n: 1 }, persist: false }] },
          { events: Array.from({ length: 500 }, () => ({ type: 'a', recipients: ['alice'], persist: false })) },
          { events: Array.from({ length: 501 }, () => ({ type: 'a', recipients: ['alice'], persist: false })) },
          { events: [] },
          { events: [{ type: 'a', recipients: ['alice'] }, { type: 'ready', recipients: ['alice'] }] },
          { events: [{ type: 'a', recipients: ['al ice'] }] },
          { events: [{ type: 'a', recipients: ['alice'], extra: 1 }] },
          { events: [{ type: 'a', recipients: ['alice'] }], persist: false },
          { events: { type: 'a', recipients: ['alice'] } },
          [{ type: 'a', recipients: ['alice'] }],
          {},
        ],
      },
      {
        path: '/v1/dev/token',
        auth: () => null,
        bodies: [
          { sub: 'alice' },
          { sub: 'svc', scope: 'events:publish other', expiresIn: 86_400 },
          { sub: 'alice', expiresIn: 0 },
          { sub: 'alice', expiresIn: 86_401 },
          { sub: 'alice', expiresIn: 1.5 },
          { sub: 'alice', expiresIn: '60' },
          { sub: 'alice', scope: 'a$b' },
          { sub: 'al ice' },
          { sub: 'alice', role: 'admin' },
          {},
        ],
      },
      {
        path: '/v1/posts',
        auth: () => `Bearer ${hub.userToken(user)}`,
        bodies: [
          { title: 'hello', body: 'world' },
          { title: '😀'.repeat(200), body: 'code points, not UTF-16 units' },
          { title: '😀'.repeat(201), body: 'too long' },
          { title: ' \n\t', body: 'blank title' },
          { title: 'x', body: 'x'.repeat(10_001) },
          { title: 'x', body: 'y', draft: true },
          { title: 1, body: 'y' },
          { title: 'x' },
        ],
      },
      {
        path: '/v1/posts/{id}/comments',
        auth: () => `Bearer ${hub.userToken(user)}`,
        bodies: [
          { body: 'nice' },
          { body: 'x'.repeat(5000) },
          { body: 'x'.repeat(5001) },
          { body: '' },
          { body: 'x', extra: 1 },
          {},
        ],
      },
    ];

    it.each(CASES)('$path', async ({ path, auth, bodies }) => {
      const validate = schemas.at('paths', path, 'post', 'requestBody', 'content', 'application/json', 'schema');
      const verdicts = [];
      for (const body of bodies) {
        const reply = await call(hub, 'POST', path.replace('{id}', postId), {
          authorization: auth(),
          body: JSON.stringify(body),
          headers: { 'content-type': 'application/json' },
        });
        schemas.expectDocumented('post', path, reply);
        verdicts.push({ body, schema: validate(body), hub: reply.status < 300, status: reply.status });
      }
      // Both verdicts occur, so agreeing is not agreeing on everything.
      expect(new Set(verdicts.map((v) => v.hub))).toEqual(new Set([true, false]));
      expect(verdicts.filter((v) => v.schema !== v.hub)).toEqual([]);
    });
  });

  describe('GET /v1/stream', () => {
    const operation = () => document.paths['/v1/stream'].get;

    it('opens with each credential its security requirements name', async () => {
      const schemes = document.components.securitySchemes as Record<string, Json>;
      const requirements = operation().security.map((requirement: object) => Object.keys(requirement));
      expect(requirements.flat().sort()).toEqual(Object.keys(schemes).sort());
      for (const [name] of requirements) {
        const user = newUser(name);
        const scheme = schemes[name];
        const token = hub.userToken(user);
        const credential =
          scheme.name === 'ticket'
            ? (await call(hub, 'POST', '/v1/stream-tickets', { authorization: `Bearer ${token}` })).body.ticket
            : token;
        const url = new URL(`${hub.url}/v1/stream`);
        const headers: Record<string, string> = {};
        if (scheme.type === 'http' && scheme.scheme === 'bearer') headers.authorization = `Bearer ${credential}`;
        else if (scheme.in === 'query') url.searchParams.set(scheme.name, credential);
        else if (scheme.in === 'cookie') headers.cookie = `${scheme.name}=${credential}`;
        const stream = await openRaw(url.href, { headers });
        try {
          expect({ scheme: name, status: stream.response.status }).toEqual({ scheme: name, status: 200 });
          const ready = await stream.next();
          expect({ event: ready.event, data: JSON.parse(ready.data!) }).toMatchObject({
            event: 'ready',
            data: { userId: user },
          });
        } finally {
          stream.close();
        }
      }
    });

    it('sends frames that match the itemSchema of its text/event-stream response', async () => {
      const media = operation().responses['200'].content['text/event-stream'];
      const itemPath = ['paths', '/v1/stream', 'get', 'responses', '200', 'content', 'text/event-stream', 'itemSchema'];
      const frameMatches = schemas.at(...itemPath);
      const variants = (media.itemSchema.anyOf as Json[]).map((_, i) => [...itemPath, 'anyOf', `${i}`, 'properties']);
      /** The frame is an item, and its JSON data matches the contentSchema of a variant its `event` fits. */
      const check = (frame: SseFrame) => {
        const { event, id, data: text, retry } = frame;
        const item = { event, id, data: text, ...(retry === undefined ? {} : { retry }) };
        const data = JSON.parse(frame.data!);
        const fitting = variants.filter((variant) => schemas.at(...variant, 'event')(frame.event));
        const dataMatches = fitting.some((variant) => schemas.at(...variant, 'data', 'contentSchema')(data));
        return { event: frame.event, item: frameMatches(item), fits: fitting.length > 0, dataMatches };
      };

      const user = newUser('reader');
      const authorization = `Bearer ${hub.userToken(user)}`;
      const stream = await openRaw(`${hub.url}/v1/stream`, { headers: { authorization } });
      try {
        const frames = [await stream.next()];
        expect((await hub.publish({ type: 'doc.test', recipients: [user], data: { n: 1 } })).status).toBe(202);
        frames.push(...(await stream.until((frame) => frame.event === 'doc.test')));
        const { items } = (await call(hub, 'GET', '/v1/notifications', { as: user })).body;
        expect((await call(hub, 'POST', `/v1/notifications/${items[0].id}/read`, { as: user })).status).toBe(204);
        frames.push(...(await stream.until((frame) => frame.event === 'inbox.read')));
        const events = frames.filter((frame) => frame.event !== undefined);
        expect(events.map((frame) => frame.event)).toEqual(['ready', 'doc.test', 'inbox.read']);
        const matching = events.map(({ event }) => ({ event, item: true, fits: true, dataMatches: true }));
        expect(events.map(check)).toEqual(matching);
        // And a frame the schema does not describe is refused, so the check above can fail.
        expect(check({ event: 'ready', id: '0', data: '{"user":"x"}' })).toMatchObject({ dataMatches: false });
      } finally {
        stream.close();
      }
    });
  });

  describe('the docs page', () => {
    it.each([DOCS_PATH, `${DOCS_PATH}/`])('GET %s serves Swagger UI, and every asset it names', async (page) => {
      const response = await fetch(`${hub.url}${page}`);
      expect({ status: response.status, contentType: response.headers.get('content-type') }).toEqual({
        status: 200,
        contentType: expect.stringContaining('text/html'),
      });
      const html = await response.text();
      const assets = [...html.matchAll(/<(?:script|link)\b[^>]*\b(?:src|href)=['"]([^'"]+)['"]/g)].map(
        ([, ref]) => new URL(ref, `${hub.url}${page}`),
      );
      const names = assets.map((url) => url.pathname.slice(url.pathname.lastIndexOf('/') + 1));
      expect(names).toEqual(expect.arrayContaining(UI_FILES));
      for (const url of assets) {
        const asset = await fetch(url);
        const body = await asset.text();
        const extension = url.pathname.slice(url.pathname.lastIndexOf('.'));
        const kind = { '.js': 'javascript', '.css': 'text/css', '.png': 'image/png' }[extension] ?? extension;
        const contentType = asset.headers.get('content-type');
        expect({ asset: url.pathname, status: asset.status, contentType, empty: body === '' }).toEqual({
          asset: expect.stringMatching(new RegExp(`^${DOCS_PATH}/[^/]+$`)),
          status: 200,
          contentType: expect.stringContaining(kind),
          empty: false,
        });
        // The page shows this hub's document.
        if (url.pathname.endsWith('/swagger-ui-init.js')) expect(body).toContain('"/v1/stream":');
      }
    });
  });
});

describe('the API document with Redis, dev auth off', () => {
  let redis: RedisServer;
  let hub: TestHub;
  beforeAll(async () => {
    redis = await startRedis();
    hub = await startHub({ REDIS_URL: redis.url, HERALD_DEV_AUTH: 'off' });
  });
  afterAll(async () => {
    await hub?.close();
    await redis?.stop();
  });

  it('is served, valid, and lists every route this app registers (no dev token)', async () => {
    const document = await expectDocumentOf(hub);
    expect(documentedRoutes(document)).not.toContain('POST /v1/dev/token');
    expect((await call(hub, 'POST', '/v1/dev/token', { body: { sub: 'alice' } })).status).toBe(404);
  });
});
