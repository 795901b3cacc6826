/** File access for the dataflow CLI: readable errors, and writes that never leave a half-written file. */
import { readFileSync } from "node:fs";
import { UserError } from "../core/errors.js";
import { writeFileAtomic as writeShared } from "../core/files.js";

export function readJson(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new UserError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new UserError(`${file} is not valid JSON: ${(e as Error).message}`);
  }
}

/** The shared atomic write (temp file, then rename), with a user-facing error. */
export function writeFileAtomic(file: string, data: string): void {
  try {
    writeShared(file, data);
  } catch (e) {
    throw new UserError(`cannot write ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}
