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

/**
 * Exit codes of the `oltron` command, the same for every command (README, "Exit codes"):
 * a script can tell bad input from a run that went through and found the hardware wrong.
 */
export const EXIT = {
  ok: 0,
  /** Bad input: a flag value, a file, a configuration (a UserError). */
  badInput: 1,
  /** Bad usage: an unknown option or command, a missing required option. */
  usage: 2,
  /** The run went through but failed: outputs mismatch, a hang, an accelerator error, a protocol violation. */
  runFailed: 3,
  /** A bug in oltron (the message carries a stack trace). */
  internal: 70,
} as const;
