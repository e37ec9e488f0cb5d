import { Injectable } from '@nestjs/common';
import { randomBytes } from 'node:crypto';

/**
 * This process's identity among the hub's instances: in connection ids, in
 * the cluster-wide stream counts, and in the ingress consumer's name, so that
 * all three point at the same process.
 */
/** `<instance>-<counter>`: a connection id, naming the instance that holds the stream. */
const CONNECTION_ID = /^([0-9a-f]{12})-[0-9a-z]{1,12}$/;

@Injectable()
export class Instance {
  readonly id = randomBytes(6).toString('hex');
  private connections = 0;

  /** A new connection id: unique across instances, cheap to make. */
  nextConnectionId(): string {
    return `${this.id}-${(++this.connections).toString(36)}`;
  }

  /** The instance a connection id names; undefined when it is not a connection id. */
  static holding(connectionId: string): string | undefined {
    return CONNECTION_ID.exec(connectionId)?.[1];
  }
}
