import { applyDecorators } from '@nestjs/common';
import { ApiSecurity, type SecuritySchemeObject } from '@nestjs/swagger';
import { TOKEN_COOKIE } from '#herald/auth/credentials';
import { ApiError } from '../errors/error-response.js';

/**
 * How a request proves who it is, as the API document names it: the
 * Authorization header everywhere, and for the stream also what EventSource
 * can send (libs/auth/credentials.ts reads them in this order).
 */
export const SECURITY_SCHEMES = {
  bearer: {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'JWT',
    description:
      'An HS256 JWT signed with JWT_SECRET, with `exp`. A user token has `sub` = the user id (1-128 characters of ' +
      'A-Z a-z 0-9 _ . : @ -); a service token has a `scope` containing `events:publish`.',
  },
  ticket: {
    type: 'apiKey',
    in: 'query',
    name: 'ticket',
    description:
      'GET /v1/stream only: a single-use ticket from POST /v1/stream-tickets, valid for 30 s on any instance.',
  },
  accessToken: {
    type: 'apiKey',
    in: 'query',
    name: 'access_token',
    description:
      'GET /v1/stream only: the user token in the query string (logged as [redacted]); a ticket keeps it out of URLs.',
  },
  cookie: {
    type: 'apiKey',
    in: 'cookie',
    name: TOKEN_COOKIE,
    description:
      'GET /v1/stream only: the user token in a cookie. No other endpoint reads it, so no other site can use it.',
  },
} satisfies Record<string, SecuritySchemeObject>;

type Scheme = keyof typeof SECURITY_SCHEMES;
const requirement = (scheme: Scheme, roles: string[] = []) => ApiSecurity(scheme, roles);

const UNAUTHORIZED = 'no token, or one that is malformed, badly signed or expired';

/** A user's route refuses a service token: libs/auth/guards.ts. */
const SERVICE_TOKEN_REFUSED = ApiError(403, 'a service token (scope `events:publish`) acts for no user', {
  message: 'a service token (scope "events:publish") acts for no user: use a user\'s token here',
});

/** A user token in the Authorization header. */
export const ApiUserToken = () =>
  applyDecorators(requirement('bearer'), ApiError(401, UNAUTHORIZED, { message: 'token expired' }), SERVICE_TOKEN_REFUSED);

/** A token in the Authorization header whose `scope` contains `scope`. */
export const ApiServiceToken = (scope: string) =>
  applyDecorators(
    requirement('bearer', [scope]),
    ApiError(401, UNAUTHORIZED, { message: 'missing token: send Authorization: Bearer <jwt>' }),
    ApiError(403, `the token's scope lacks "${scope}"`, { message: `token lacks the "${scope}" scope` }),
  );

/** Any one of a stream's credentials: header, ticket, query token or cookie. */
export const ApiStreamCredentials = () =>
  applyDecorators(
    requirement('bearer'),
    requirement('ticket'),
    requirement('accessToken'),
    requirement('cookie'),
    ApiError(401, `${UNAUTHORIZED}; or a ticket that is unknown, expired or already used`, {
      message: 'ticket is unknown, expired or already used',
    }),
    SERVICE_TOKEN_REFUSED,
  );
