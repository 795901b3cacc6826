/**
 * The `--json` contract as a script sees it: a command's stdout, read with an independent
 * JSON Schema validator (ajv) against the schema published in docs/schemas/cli/.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import Ajv from "ajv";
import { expect } from "vitest";

const ROOT = path.resolve(__dirname, "..", "..");
const ajv = new Ajv({ strict: false, allErrors: true });
// ISO 8601 timestamps (provenance); the rest of ajv-formats is not needed.
ajv.addFormat("date-time", /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/);
const compiled = new Map<string, ReturnType<typeof ajv.compile>>();

export function publishedSchema(name: string): object {
  return JSON.parse(fs.readFileSync(path.join(ROOT, "docs", "schemas", "cli", `${name}.schema.json`), "utf8"));
}

/** Parses a command's stdout as one JSON document and checks it against its published schema. */
export function expectJsonOutput(name: string, stdout: string): any {
  let validate = compiled.get(name);
  if (!validate) {
    validate = ajv.compile(publishedSchema(name));
    compiled.set(name, validate);
  }
  const doc = JSON.parse(stdout);
  expect(validate(doc), `${name}: ${JSON.stringify(validate.errors?.slice(0, 3))}`).toBe(true);
  return doc;
}
