/** Whether a path parameter can name a row: ids are positive integers of at most 18 digits (bigint). */
export function isRowId(value: string): boolean {
  return /^\d{1,18}$/.test(value);
}
