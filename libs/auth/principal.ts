/** Who a request acts for, read from a verified token. */
export interface Principal {
  /** The user id, or the service's name for a service token. */
  readonly sub: string;
  /** Expiry, in seconds since the epoch (the JWT `exp`). */
  readonly exp: number;
  readonly scopes: ReadonlySet<string>;
  /**
   * The token's `topics` claim: the topic patterns a user may follow, or a
   * service may publish to. Absent: a user follows only public topics, a
   * service publishes to any topic.
   */
  readonly topics?: readonly string[];
}

export const PUBLISH_SCOPE = 'events:publish';
