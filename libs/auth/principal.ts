/** Who a request acts for, read from a verified token. */
export interface Principal {
  /** The user id, or the service's name for a service token. */
  readonly sub: string;
  /** Expiry, in seconds since the epoch (the JWT `exp`). */
  readonly exp: number;
  readonly scopes: ReadonlySet<string>;
}

export const PUBLISH_SCOPE = 'events:publish';
