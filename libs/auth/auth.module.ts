import { DynamicModule, Module } from '@nestjs/common';
import { JwtModule } from '@nestjs/jwt';
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
      imports: [JwtModule.register({ secret: options.secret })],
      providers: [{ provide: AuthOptions, useValue: options }, TokenService],
      exports: [AuthOptions, TokenService],
    };
  }
}
