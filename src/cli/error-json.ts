/**
 * The `--json` error document: a stable code, the message, and where they can be told apart
 * the option at fault, the value given and what to do. Commander's own refusals and oltron's
 * messages follow fixed phrasings ("invalid rows (--rows) = 300: must be ..."), read here.
 */
import type { UserError } from "../core/errors.js";

export interface ErrorDocument {
  error: { kind: "bad-input" | "usage"; code: string; message: string; exitCode: number; field?: string; value?: string; hint?: string };
}

const COMMANDER_CODES: Record<string, string> = {
  "commander.invalidArgument": "invalid-option-value",
  "commander.unknownOption": "unknown-option",
  "commander.missingMandatoryOptionValue": "missing-option",
  "commander.optionMissingArgument": "missing-option-value",
  "commander.unknownCommand": "unknown-command",
  "commander.missingArgument": "missing-argument",
  "commander.excessArguments": "excess-arguments",
  "commander.conflictingOption": "conflicting-options",
};

/** A refusal by the option parser (commander), with its code and message. */
export function usageErrorDocument(commanderCode: string, message: string, exitCode: number, badValue: boolean): ErrorDocument {
  const e: ErrorDocument["error"] = { kind: badValue ? "bad-input" : "usage", code: COMMANDER_CODES[commanderCode] ?? "usage", message, exitCode };
  let m: RegExpExecArray | null;
  if ((m = /^option '(-[-\w]+)[^']*' argument '([^']*)' is invalid\.\s*(.*)$/s.exec(message))) {
    Object.assign(e, { field: m[1], value: m[2], ...(m[3] ? { hint: m[3] } : {}) });
  } else if ((m = /^unknown (?:option|command) '([^']+)'(?:\n\(Did you mean (.+)\?\))?/.exec(message))) {
    Object.assign(e, commanderCode === "commander.unknownCommand" ? { value: m[1] } : { field: m[1] });
    if (m[2]) e.hint = `did you mean ${m[2]}?`;
  } else if ((m = /^(?:required )?option '(-[-\w]+)[^']*' (?:not specified|argument missing)/.exec(message))) {
    e.field = m[1];
    e.hint = `give ${m[1]}`;
  } else if ((m = /^missing required argument '([^']+)'/.exec(message))) {
    e.field = m[1];
  }
  return { error: e };
}

/** Bad input oltron itself found: explicit details when the code gave them, else read from the message. */
export function badInputDocument(err: UserError, exitCode: number): ErrorDocument {
  const e: ErrorDocument["error"] = { kind: "bad-input", code: "bad-input", message: err.message, exitCode };
  let m: RegExpExecArray | null;
  if (err.details) {
    Object.assign(e, err.details);
  } else if ((m = /^invalid [\w.]+ \((--[\w-]+)\) = (.+?)(?: for [^:]+)?: (.+)$/s.exec(err.message))) {
    Object.assign(e, { field: m[1], value: m[2].replace(/^"(.*)"$/, "$1"), hint: m[3] });
  } else if ((m = /^(--[\w-]+)(?::| ) ?'?([^':]*?)'?: (.+)$/s.exec(err.message))) {
    Object.assign(e, { field: m[1], ...(m[2] ? { value: m[2] } : {}), hint: m[3] });
  }
  return { error: e };
}
