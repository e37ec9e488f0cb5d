/** What the auth library needs from the app; provided through `AuthModule.forRoot()`. */
export abstract class AuthOptions {
  /** HS256 key shared by every instance and by the services that mint tokens. */
  abstract readonly secret: string;
}
