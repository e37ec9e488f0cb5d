import { Controller, Get, HttpCode, HttpException, HttpStatus } from '@nestjs/common';
import {
  ApiOkResponse,
  ApiOperation,
  ApiProperty,
  type ApiPropertyOptions,
  ApiServiceUnavailableResponse,
  ApiTags,
} from '@nestjs/swagger';
import { DataSource } from 'typeorm';
import { ErrorResponse } from '../errors/error-response.js';
import { errorBody } from '../errors/http-error.filter.js';
import { Transport } from '../transport/transport.js';
import { Draining } from '../lifecycle/draining.js';

type Checks = Record<string, 'up' | 'down'>;

const CHECKS: ApiPropertyOptions = {
  type: 'object',
  additionalProperties: { type: 'string', enum: ['up', 'down'] },
  description: 'each dependency, and whether this instance is draining',
  example: { database: 'up', transport: 'up', lifecycle: 'up' },
};

export class Live {
  @ApiProperty({ enum: ['ok'] })
  status!: 'ok';
}

export class Ready extends Live {
  @ApiProperty(CHECKS)
  checks!: Checks;
}

export class NotReady extends ErrorResponse {
  @ApiProperty({ ...CHECKS, example: { database: 'up', transport: 'down', lifecycle: 'up' } } as ApiPropertyOptions)
  checks!: Checks;
}

@ApiTags('Operations')
@Controller('health')
export class HealthController {
  constructor(
    private readonly transport: Transport,
    private readonly draining: Draining,
    private readonly dataSource: DataSource,
  ) {}

  /** 200 while the process runs: a failing liveness probe restarts the pod. */
  @Get('live')
  @HttpCode(200)
  @ApiOperation({ summary: 'Liveness: 200 while the process runs' })
  @ApiOkResponse({ type: Live, description: 'alive' })
  live(): Live {
    return { status: 'ok' };
  }

  /** 200 when this instance can serve; 503 while a dependency is down or it is draining. */
  @Get('ready')
  @ApiOperation({ summary: 'Readiness: 200 when this instance can serve' })
  @ApiOkResponse({ type: Ready, description: 'ready: every check is up' })
  @ApiServiceUnavailableResponse({
    type: NotReady,
    description: 'a dependency is down, or the instance is draining',
    example: errorBody(503, 'not ready', { checks: { database: 'up', transport: 'down', lifecycle: 'up' } }),
  })
  async ready(): Promise<Ready> {
    const checks: Checks = {
      database: (await this.databaseAnswers()) ? 'up' : 'down',
      transport: this.transport.isReady() ? 'up' : 'down',
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
