import { encodeStreamPosition, sourceHash } from '#herald/contracts/stream-position';

/**
 * A stream's position in each topic it follows, in arrays rather than a Map:
 * a stream follows a handful of topics, and its id is built from them on
 * every frame.
 */
export class TopicPositions {
  private readonly sources: string[] = [];
  private readonly hashes: string[] = [];
  private readonly positions: string[] = [];

  get size(): number {
    return this.sources.length;
  }

  get(source: string): string | undefined {
    const at = this.sources.indexOf(source);
    return at === -1 ? undefined : this.positions[at];
  }

  /** Sets the position of a topic, following it if it was not. */
  set(source: string, position: string): void {
    const at = this.sources.indexOf(source);
    if (at !== -1) {
      this.positions[at] = position;
      return;
    }
    this.sources.push(source);
    this.hashes.push(sourceHash(source));
    this.positions.push(position);
  }

  delete(source: string): void {
    const at = this.sources.indexOf(source);
    if (at === -1) return;
    this.sources.splice(at, 1);
    this.hashes.splice(at, 1);
    this.positions.splice(at, 1);
  }

  list(): readonly string[] {
    return this.sources;
  }

  /** The stream's id: the user's position and these. */
  streamId(userPosition: string): string {
    return encodeStreamPosition(userPosition, this.hashes, this.positions);
  }
}
