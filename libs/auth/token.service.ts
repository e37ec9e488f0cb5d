import { Injectable, UnauthorizedException } from '@nestjs/common';
import { JwtService } from '@nestjs/jwt';
import { isTopicPattern } from '#herald/contracts/topic';
import { isUserId } from '#herald/contracts/user-id';
import { AuthOptions } from './auth.options.js';
import type { Principal } from './principal.js';

const ALGORITHM = 'HS256';
/**
 * Tokens verified lately, kept by their text: a publisher sends the same one
 * with every request, and checking its signature and claims again cost ~40 us
 * of a publish's ~200. Only tokens that passed are kept, each until its `exp`;
 * first in, first out, so a flood of distinct tokens costs a map entry each.
 */
const VERIFIED_KEPT = 1024;
/** Patterns a token may list in its `topics` claim: more belong in a public prefix or a broader pattern. */
export const MAX_TOPIC_PATTERNS = 256;

interface Claims {
  sub?: unknown;
  exp?: unknown;
  scope?: unknown;
  topics?: unknown;
}

export interface TokenClaims {
  sub: string;
  scope?: string;
  /** Topic patterns (`post:*`, `team:7`): what a user may follow, or a service may publish to. */
  topics?: readonly string[];
  /** Lifetime in seconds. */
  expiresIn: number;
}

/** Signs and verifies Herald's JWTs, with the algorithm pinned to HS256. */
@Injectable()
export class TokenService {
  private readonly maxLifetimeSeconds: number;
  private readonly verified = new Map<string, Principal>();

  constructor(
    private readonly jwt: JwtService,
    options: AuthOptions,
  ) {
    this.maxLifetimeSeconds = options.maxLifetimeSeconds ?? 0;
  }

  sign({ sub, scope, topics, expiresIn }: TokenClaims): string {
    return this.jwt.sign({ sub, ...(scope ? { scope } : {}), ...(topics ? { topics } : {}) }, { algorithm: ALGORITHM, expiresIn });
  }

  /**
   * Verifies on every request and stream open; a token that passed lately is
   * answered from memory until it expires.
   * @throws UnauthorizedException naming what is wrong with the token.
   */
  verify(token: string): Principal {
    const known = this.verified.get(token);
    if (known && known.exp * 1000 > Date.now()) return known;
    if (known) this.verified.delete(token);
    const principal = this.check(token);
    if (this.verified.size >= VERIFIED_KEPT) this.verified.delete(this.verified.keys().next().value!);
    this.verified.set(token, principal);
    return principal;
  }

  /** The token is decoded once on success; only a refused one is looked into again, to say why. */
  private check(token: string): Principal {
    let claims: Claims;
    try {
      const { header, payload } = this.jwt.verify<{ header: { crit?: unknown }; payload: Claims }>(token, {
        algorithms: [ALGORITHM],
        complete: true,
      });
      // RFC 7515: a header naming extensions as critical must be refused by whoever does not implement them; this hub implements none.
      if (header.crit !== undefined) {
        throw new UnauthorizedException('token header lists critical extensions (crit); none is supported');
      }
      claims = payload;
    } catch (err) {
      if (err instanceof UnauthorizedException) throw err;
      const alg = this.readAlgorithm(token);
      if (alg !== ALGORITHM) {
        throw new UnauthorizedException(`token algorithm "${alg}" is not accepted (${ALGORITHM} only)`);
      }
      throw new UnauthorizedException(describeJwtError(err));
    }
    if (typeof claims.exp !== 'number') throw new UnauthorizedException('token has no exp claim');
    if (this.maxLifetimeSeconds > 0 && claims.exp > Date.now() / 1000 + this.maxLifetimeSeconds) {
      throw new UnauthorizedException(`token expires too far ahead: more than ${this.maxLifetimeSeconds} s from now`);
    }
    if (!isUserId(claims.sub)) throw new UnauthorizedException('token sub is not a valid user id');
    const scopes = typeof claims.scope === 'string' ? claims.scope.split(' ').filter(Boolean) : [];
    const principal = { sub: claims.sub, exp: claims.exp, scopes: new Set(scopes) };
    if (claims.topics === undefined) return principal;
    if (!isTopicPatternList(claims.topics)) {
      throw new UnauthorizedException(
        `token topics claim must be an array of up to ${MAX_TOPIC_PATTERNS} topic patterns (a topic, or a prefix ending in *)`,
      );
    }
    return { ...principal, topics: claims.topics };
  }

  private readAlgorithm(token: string): string {
    let decoded: { header?: { alg?: unknown } } | null;
    try {
      decoded = this.jwt.decode(token, { complete: true });
    } catch {
      decoded = null;
    }
    if (!decoded?.header) throw new UnauthorizedException('token is malformed');
    return String(decoded.header.alg);
  }
}

export function isTopicPatternList(value: unknown): value is string[] {
  return Array.isArray(value) && value.length <= MAX_TOPIC_PATTERNS && value.every(isTopicPattern);
}

function describeJwtError(err: unknown): string {
  const name = (err as Error)?.name;
  const message = (err as Error)?.message ?? '';
  if (name === 'TokenExpiredError') return 'token expired';
  if (name === 'NotBeforeError') return 'token is not valid yet';
  if (message === 'invalid signature') return 'token signature is invalid';
  return `token is invalid: ${message}`;
}
