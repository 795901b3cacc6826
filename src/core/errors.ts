/**
 * A mistake the user can fix (bad flag, bad file, bad configuration). The CLI prints
 * its message without a stack trace and exits non-zero; anything else is a bug.
 */
export class UserError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UserError";
  }
}

/** Throws a UserError unless `cond` holds. */
export function check(cond: unknown, message: string | (() => string)): asserts cond {
  if (!cond) throw new UserError(typeof message === "function" ? message() : message);
}
