import * as fs from "node:fs";
import * as path from "node:path";
import { cacheRoot } from "./cache.js";
import { UserError } from "./user-error.js";

export { UserError };

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

/** What to do about each file-system error a user's folders can cause. */
const FS_ERRORS: Record<string, string> = {
  EACCES: "permission denied: choose a folder you can write to, or fix its permissions",
  EPERM: "operation not permitted: choose another folder",
  EROFS: "the file system is read-only: choose a writable folder",
  ENOSPC: "no space left on the device: free some space or choose another folder (TMPDIR for temporary files)",
  EDQUOT: "disk quota exceeded: free some space or choose another folder",
  EISDIR: "is a folder where a file was expected: give a file name",
  ENOTDIR: "a part of the path is a file, not a folder: check the path",
  ENOENT: "does not exist: check the path (for temporary files, TMPDIR must name an existing folder)",
  EEXIST: "already exists",
  ENAMETOOLONG: "the name is too long",
  EMFILE: "too many open files: raise the limit (ulimit -n)",
};

/**
 * A file-system error (from Node) as a UserError naming the path and what to do, or undefined
 * when the error is not one a user's folders can cause.
 */
export function fileSystemError(e: unknown): UserError | undefined {
  const err = e as NodeJS.ErrnoException | undefined;
  if (!err || typeof err !== "object" || typeof err.code !== "string" || !(err.code in FS_ERRORS)) return undefined;
  if (err.code === "EEXIST" && err.syscall === "mkdir" && err.path) {
    let isFile = false;
    try {
      isFile = !fs.statSync(err.path).isDirectory();
    } catch {
      isFile = false;
    }
    if (isFile) return new UserError(`${err.path}: is a file where a folder is needed (a part of the output path): choose another path (EEXIST in mkdir)`);
  }
  const dest = (err as { dest?: string }).dest;
  // A failure inside oltron's cache is about the cache, not the folders the user named.
  const cache = cacheRoot();
  if (err.path && (err.path === cache || err.path.startsWith(cache + path.sep)) && ["EACCES", "EPERM", "EROFS", "ENOSPC", "EDQUOT"].includes(err.code)) {
    return new UserError(
      `${err.path}: oltron's cache folder ${cache} cannot be written (${err.code}${err.syscall ? ` in ${err.syscall}` : ""}): ` +
        `set OLTRON_CACHE to a writable folder with free space (it is ${process.env.OLTRON_CACHE ? "set by OLTRON_CACHE" : "$XDG_CACHE_HOME/oltron or ~/.cache/oltron"}), or free space with 'oltron cache clean'`,
    );
  }
  const where = err.path ? `${err.path}${dest ? ` -> ${dest}` : ""}` : "a file";
  return new UserError(`${where}: ${FS_ERRORS[err.code]} (${err.code}${err.syscall ? ` in ${err.syscall}` : ""})`);
}
