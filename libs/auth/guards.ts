import {
  CanActivate,
  createParamDecorator,
  ExecutionContext,
  ForbiddenException,
  Injectable,
  SetMetadata,
  UnauthorizedException,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { bearerToken, Credential, HttpRequest, RepeatedCredentialError, streamCredential, TOKEN_COOKIE } from './credentials.js';
import { PUBLISH_SCOPE, Principal } from './principal.js';
import { StreamTickets } from './stream-tickets.js';
import { TokenService } from './token.service.js';

const PRINCIPAL = Symbol('herald.principal');
const REQUIRED_SCOPE = 'herald:required-scope';

type AuthenticatedRequest = HttpRequest & { [PRINCIPAL]?: Principal };

const EMPTY_CREDENTIAL: Record<Credential['from'], string> = {
  header: 'Authorization header must be "Bearer <jwt>"',
  ticket: '?ticket= is empty: send the ticket POST /v1/stream-tickets returned',
  access_token: '?access_token= is empty: send a token',
  cookie: `the ${TOKEN_COOKIE} cookie is empty`,
};

/** Requires the token's `scope` to contain `scope` (403 otherwise). */
export const RequireScope = (scope: string) => SetMetadata(REQUIRED_SCOPE, scope);

/** The principal a guard of this library authenticated on this request, if any. */
export const principalOf = (request: HttpRequest): Principal | undefined => (request as AuthenticatedRequest)[PRINCIPAL];

export const CurrentPrincipal = createParamDecorator(
  (_data: unknown, ctx: ExecutionContext): Principal | undefined => principalOf(ctx.switchToHttp().getRequest<HttpRequest>()),
);

/**
 * API calls: the token comes from the Authorization header only. Cookies are
 * not read here, so no page on another site can make a browser call the API
 * with its credentials.
 */
@Injectable()
export class BearerAuthGuard implements CanActivate {
  constructor(
    private readonly tokens: TokenService,
    private readonly reflector: Reflector,
  ) {}

  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest<AuthenticatedRequest>();
    const token = bearerToken(request);
    if (token === undefined) throw new UnauthorizedException('missing token: send Authorization: Bearer <jwt>');
    if (token === '') throw new UnauthorizedException('Authorization header must be "Bearer <jwt>"');
    const principal = this.tokens.verify(token);
    const scope = this.reflector.getAllAndOverride<string | undefined>(REQUIRED_SCOPE, [
      context.getHandler(),
      context.getClass(),
    ]);
    if (scope && !principal.scopes.has(scope)) {
      throw new ForbiddenException(`token lacks the "${scope}" scope`);
    }
    if (!scope) refuseServiceToken(principal);
    request[PRINCIPAL] = principal;
    return true;
  }
}

/**
 * Services and users share one space of names: a service token acting as a
 * user would be that user (a service named alice would read alice's stream
 * and inbox). So a token that may publish acts for no user: routes without a
 * required scope are the users' own.
 */
function refuseServiceToken(principal: Principal): void {
  if (principal.scopes.has(PUBLISH_SCOPE)) {
    throw new ForbiddenException(`a service token (scope "${PUBLISH_SCOPE}") acts for no user: use a user's token here`);
  }
}

/**
 * Streams: `EventSource` cannot set headers, so the token may also come from a
 * single-use ticket, the `access_token` query parameter or the cookie.
 */
@Injectable()
export class StreamAuthGuard implements CanActivate {
  constructor(
    private readonly tokens: TokenService,
    private readonly tickets: StreamTickets,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<AuthenticatedRequest>();
    let credential: Credential | undefined;
    try {
      credential = streamCredential(request);
    } catch (err) {
      if (err instanceof RepeatedCredentialError) throw new UnauthorizedException(err.message);
      throw err;
    }
    if (!credential) {
      throw new UnauthorizedException(
        'missing token: send Authorization: Bearer <jwt>, the herald_token cookie, ?ticket= or ?access_token=',
      );
    }
    if (credential.value === '') throw new UnauthorizedException(EMPTY_CREDENTIAL[credential.from]);
    const principal =
      credential.kind === 'ticket' ? await this.redeem(credential.value) : this.tokens.verify(credential.value);
    if (principal.exp * 1000 <= Date.now()) throw new UnauthorizedException('token expired');
    refuseServiceToken(principal);
    request[PRINCIPAL] = principal;
    return true;
  }

  private async redeem(ticket: string): Promise<Principal> {
    const principal = await this.tickets.redeem(ticket);
    if (!principal) throw new UnauthorizedException('ticket is unknown, expired or already used');
    return principal;
  }
}
