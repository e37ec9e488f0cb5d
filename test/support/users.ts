let users = 0;

/**
 * A user id no other test uses (the process id keeps test files that share a
 * Redis apart), so one test's events and notifications never reach another.
 */
export const newUser = (name: string): string => `${name}-${process.pid}-${++users}`;
