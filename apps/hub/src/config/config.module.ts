import { DynamicModule, Global, Module } from '@nestjs/common';
import { HubConfig } from './config.js';

/** Makes the validated HubConfig injectable everywhere. */
@Global()
@Module({})
export class ConfigModule {
  static forRoot(config: HubConfig): DynamicModule {
    return { module: ConfigModule, providers: [{ provide: HubConfig, useValue: config }], exports: [HubConfig] };
  }
}
