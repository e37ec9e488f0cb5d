import { Module } from '@nestjs/common';
import { DevTokenController } from './dev-token.controller.js';

@Module({ controllers: [DevTokenController] })
export class DevModule {}
