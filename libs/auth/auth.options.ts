/** What the auth library needs from the app; provided through `AuthModule.forRoot()`. */
export abstract class AuthOptions {
  /** HS256 key shared by every instance and by the services that mint tokens. */
  abstract readonly secret: string;
  /**
   * A token whose `exp` is further ahead than this many seconds is refused
   * (0 or absent: no limit): one minted to last for ever stays usable for
   * ever if it leaks, and nothing can end it short of changing the secret.
   */
  abstract readonly maxLifetimeSeconds?: number;
}
