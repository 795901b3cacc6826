/**
 * A mistake the user can fix (bad flag, bad file, bad configuration). The CLI prints
 * its message without a stack trace and exits non-zero; anything else is a bug. (Its own
 * file, importing nothing, so the lowest modules, the locks among them, can raise it.)
 */
export class UserError extends Error {
  /** What a script reads from the `--json` error: the option at fault, its value, what to do. */
  readonly details?: { field?: string; value?: string; hint?: string };

  constructor(message: string, details?: { field?: string; value?: string; hint?: string }) {
    super(message);
    this.name = "UserError";
    this.details = details;
  }
}
