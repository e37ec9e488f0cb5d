/** A user id: 1–128 characters of `A-Z a-z 0-9 _ . : @ -` (the contract's `sub`). */
export const USER_ID_PATTERN = /^[A-Za-z0-9_.:@-]{1,128}$/;

export function isUserId(value: unknown): value is string {
  return typeof value === 'string' && USER_ID_PATTERN.test(value);
}
