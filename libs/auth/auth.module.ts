import { DynamicModule, Module } from '@nestjs/common';
import { JwtModule } from '@nestjs/jwt';
import { createSecretKey } from 'node:crypto';
import { AuthOptions } from './auth.options.js';
import { TokenService } from './token.service.js';

/**
 * Token signing and verification for every module of an app. The guards are
 * used with `@UseGuards()`; `StreamAuthGuard` also needs a `StreamTickets`
 * provider in the module that uses it.
 */
@Module({})
export class AuthModule {
  static forRoot(options: AuthOptions): DynamicModule {
    return {
      module: AuthModule,
      global: true,
      // A KeyObject, not the string: given a string, jsonwebtoken 9 first tries
      // it as a public key on every call (createPublicKey, which throws), about
      // 75 times the cost of the HMAC itself.
      imports: [JwtModule.register({ secret: createSecretKey(Buffer.from(options.secret)) })],
      providers: [{ provide: AuthOptions, useValue: options }, TokenService],
      exports: [AuthOptions, TokenService],
    };
  }
}
