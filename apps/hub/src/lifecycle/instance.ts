import { Injectable } from '@nestjs/common';
import { randomBytes } from 'node:crypto';

/**
 * This process's identity among the hub's instances: in connection ids, in
 * the cluster-wide stream counts, and in the ingress consumer's name, so that
 * all three point at the same process.
 */
@Injectable()
export class Instance {
  readonly id = randomBytes(6).toString('hex');
}
