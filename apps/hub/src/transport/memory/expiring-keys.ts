/** Keys remembered until their own expiry: the embedded default's dedupe markers. */
export class ExpiringKeys {
  private readonly expiries = new Map<string, number>();

  has(key: string, now: number): boolean {
    const expiresAt = this.expiries.get(key);
    return expiresAt !== undefined && expiresAt > now;
  }

  add(key: string, expiresAt: number): void {
    this.expiries.set(key, expiresAt);
  }

  sweep(now: number): void {
    for (const [key, expiresAt] of this.expiries) if (expiresAt <= now) this.expiries.delete(key);
  }
}
