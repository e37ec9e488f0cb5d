import { createParamDecorator, ExecutionContext } from '@nestjs/common';
import type { ServerResponse } from 'node:http';

/** Node's response inside the platform's (Fastify's reply): what a stream writes to, and closes. */
export const RawResponse = createParamDecorator((_data: unknown, ctx: ExecutionContext): ServerResponse => {
  const response = ctx.switchToHttp().getResponse<ServerResponse & { raw?: ServerResponse }>();
  return response.raw ?? response;
});
