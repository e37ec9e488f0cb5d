import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, type OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import { ErrorResponse } from '../errors/error-response.js';
import { errorBody, UNEXPECTED_ERROR } from '../errors/http-error.filter.js';
import { SECURITY_SCHEMES } from './security.js';

/** Where the document and its page are served. */
export const OPENAPI_JSON_PATH = '/openapi.json';
export const DOCS_PATH = '/docs';

/**
 * 3.2, for what it says about streams: a `text/event-stream` response has an
 * `itemSchema` that describes each event, and a client generator can type them.
 */
const OPENAPI_VERSION = '3.2.0';

const DESCRIPTION = `A real-time notification hub. Browsers hold one Server-Sent Events stream per signed-in user
(\`GET /v1/stream\`); services publish events over HTTP (\`POST /v1/events\`) or into the Redis ingress stream.

- **Tokens**: HS256 JWTs in \`Authorization: Bearer\`. The stream also takes a single-use ticket, the token in
  the query string, or the \`herald_token\` cookie, as \`EventSource\` cannot set headers.
- **Errors** are JSON \`{statusCode, error, message, …}\`, also on the stream's URL; a 400 names the field at fault.
  A 429 of a rate limit, and a 503 that another try may cure, come with \`Retry-After\`.
- Bodies are JSON of at most 64 KiB; unknown fields are refused.`;

/** Tags, in the order the page shows them; each controller names its own. */
const TAGS: Record<string, string> = {
  Stream: 'Receive events: the stream, and the tickets that open it',
  Publish: 'Send events to users',
  Inbox: "A user's stored notifications",
  Comments: 'The sample producer: posts and comments, whose comments notify',
  Operations: 'Probes and metrics',
  Development: 'Only while dev auth is on (HERALD_DEV_AUTH)',
};

/**
 * Serves the API document at /openapi.json and Swagger UI at /docs. The
 * document is built from the controllers this app registers (so in every
 * mode, and with /v1/dev/token only while dev auth is on) when first asked for.
 */
export function mountOpenApi(app: INestApplication): void {
  SwaggerModule.setup(DOCS_PATH, app, () => buildDocument(app), {
    jsonDocumentUrl: OPENAPI_JSON_PATH,
    raw: ['json'],
    customSiteTitle: 'Herald API',
  });
}

export function buildDocument(app: INestApplication): OpenAPIObject {
  const builder = new DocumentBuilder()
    .setOpenAPIVersion(OPENAPI_VERSION)
    .setTitle('Herald')
    .setDescription(DESCRIPTION)
    .setVersion('v1')
    .addGlobalResponse({
      status: 500,
      description: 'an unexpected error; the body has the requestId, logged with the cause',
      type: ErrorResponse,
      example: errorBody(500, UNEXPECTED_ERROR, { requestId: '6f1c0e5e-3b7a-4d2c-9a51-0c8d2f4e7b19' }),
    });
  for (const [name, scheme] of Object.entries(SECURITY_SCHEMES)) builder.addSecurity(name, scheme);
  for (const [name, description] of Object.entries(TAGS)) builder.addTag(name, description);
  return SwaggerModule.createDocument(app, builder.build(), {
    autoTagControllers: false,
    operationIdFactory: operationId,
  });
}

/** `inboxList` rather than `InboxController_list`: what a generated client's methods are called. */
function operationId(controller: string, method: string): string {
  const resource = controller.replace(/Controller$/, '');
  return `${resource[0].toLowerCase()}${resource.slice(1)}${method[0].toUpperCase()}${method.slice(1)}`;
}
