import { Controller, Get, HttpCode, HttpException, HttpStatus } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { Fanout } from '../fanout/fanout.js';
import { Draining } from '../lifecycle/draining.js';

type Checks = Record<string, 'up' | 'down'>;

@Controller('health')
export class HealthController {
  constructor(
    private readonly fanout: Fanout,
    private readonly draining: Draining,
    private readonly dataSource: DataSource,
  ) {}

  /** 200 while the process runs: a failing liveness probe restarts the pod. */
  @Get('live')
  @HttpCode(200)
  live(): { status: 'ok' } {
    return { status: 'ok' };
  }

  /** 200 when this instance can serve; 503 while a dependency is down or it is draining. */
  @Get('ready')
  async ready(): Promise<{ status: 'ok'; checks: Checks }> {
    const checks: Checks = {
      database: (await this.databaseAnswers()) ? 'up' : 'down',
      transport: this.fanout.isReady() ? 'up' : 'down',
      lifecycle: this.draining.active ? 'down' : 'up',
    };
    if (Object.values(checks).includes('down')) {
      throw new HttpException(
        { statusCode: 503, error: 'Service Unavailable', message: 'not ready', checks },
        HttpStatus.SERVICE_UNAVAILABLE,
      );
    }
    return { status: 'ok', checks };
  }

  private async databaseAnswers(): Promise<boolean> {
    try {
      await this.dataSource.query('SELECT 1');
      return true;
    } catch {
      return false;
    }
  }
}
