/**
 * Memory images: blocks of memory words, written as $readmemh hex text (one word per line,
 * most significant digit first). Every field we store is a whole number of nibbles, so a
 * block is held as a flat little-endian nibble array: nibble i of the block is bits
 * [4i, 4i+4) of the concatenation word0 | word1 << W | ...
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { UserError } from "../core/errors.js";

export class Block {
  readonly nibblesPerWord: number;
  readonly nib: Uint8Array;

  constructor(readonly wordBits: number, readonly words: number) {
    this.nibblesPerWord = wordBits / 4;
    this.nib = new Uint8Array(words * this.nibblesPerWord);
  }

  static forBits(wordBits: number, bits: number): Block {
    return new Block(wordBits, Math.ceil(bits / wordBits));
  }

  /** Writes `count` nibbles of `value` (unsigned, little-endian) at nibble offset `at`. */
  put(at: number, count: number, value: number): void {
    let v = value;
    for (let i = 0; i < count; i++) {
      this.nib[at + i] = v & 0xf;
      v = Math.floor(v / 16);
    }
  }

  /** Reads `count` nibbles (count <= 8) at nibble offset `at` as an unsigned number. */
  get(at: number, count: number): number {
    let v = 0;
    for (let i = count - 1; i >= 0; i--) v = v * 16 + this.nib[at + i];
    return v;
  }

  toHex(): string {
    const n = this.nibblesPerWord;
    const lines: string[] = new Array(this.words);
    const digits = "0123456789abcdef";
    const buf = new Array<string>(n);
    for (let w = 0; w < this.words; w++) {
      const base = w * n;
      for (let i = 0; i < n; i++) buf[i] = digits[this.nib[base + n - 1 - i]];
      lines[w] = buf.join("");
    }
    return lines.join("\n") + (this.words ? "\n" : "");
  }

  static fromHex(text: string, wordBits: number, source: string): Block {
    const lines = text.split(/\r?\n/);
    const words: string[] = [];
    lines.forEach((raw, i) => {
      const line = raw.replace(/\/\/.*$/, "").trim();
      if (line === "") return;
      if (line.startsWith("@")) throw new UserError(`${source}:${i + 1}: address directives are not allowed in an image`);
      if (!/^[0-9a-fA-F]+$/.test(line)) throw new UserError(`${source}:${i + 1}: not a hex word: '${line.slice(0, 40)}'`);
      if (line.length > wordBits / 4) {
        throw new UserError(`${source}:${i + 1}: word has ${line.length} hex digits, more than ${wordBits / 4} for ${wordBits}-bit words`);
      }
      words.push(line);
    });
    const b = new Block(wordBits, words.length);
    const n = b.nibblesPerWord;
    words.forEach((w, wi) => {
      for (let i = 0; i < w.length; i++) b.nib[wi * n + (w.length - 1 - i)] = parseInt(w[i], 16);
    });
    return b;
  }
}

export function sha256(data: string | Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/** Writes a file atomically: a temporary sibling, then rename. */
export function writeFileAtomic(file: string, data: string | Uint8Array): void {
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    fs.writeFileSync(tmp, data);
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}

/** Every folder oltron writes carries this file, so it knows what it may replace. */
export const OUTPUT_MARKER = ".oltron-output";

/** A folder oltron wrote: the marker, or our own design.json / manifest.json (older runs). */
function isOltronOutput(dir: string, entries: string[]): boolean {
  if (entries.includes(OUTPUT_MARKER)) return true;
  const ours = (file: string, test: (j: Record<string, unknown>) => boolean) => {
    try {
      return entries.includes(file) && test(JSON.parse(fs.readFileSync(path.join(dir, file), "utf8")));
    } catch {
      return false;
    }
  };
  return ours("design.json", (j) => (j.generator as { name?: string } | undefined)?.name === "oltron-gen")
    || ours("manifest.json", (j) => j.format === "oltron-images");
}

/**
 * Writes a whole folder atomically: `fill` writes into a temporary sibling folder that
 * replaces `dir` only when complete, so a failure leaves nothing half-written. An existing
 * `dir` is replaced only if it is empty or was written by oltron: user data is never deleted.
 */
export function writeDirAtomic(dir: string, fill: (tmpDir: string) => void): void {
  const target = path.resolve(dir);
  if (fs.existsSync(target)) {
    if (!fs.statSync(target).isDirectory()) throw new UserError(`${dir} exists and is not a folder: choose another output folder`);
    const entries = fs.readdirSync(target);
    if (entries.length > 0 && !isOltronOutput(target, entries)) {
      throw new UserError(`${dir} exists and was not written by oltron (${entries.length} entries); refusing to replace it: choose another output folder or remove it`);
    }
    if (target === process.cwd()) throw new UserError(`${dir} is the current folder; choose a subfolder as output`);
  }
  const parent = path.dirname(target);
  fs.mkdirSync(parent, { recursive: true });
  const tmp = fs.mkdtempSync(path.join(parent, `.${path.basename(target)}.tmp-`));
  try {
    // mkdtemp makes the folder private (0700); outputs get the usual permissions.
    fs.chmodSync(tmp, 0o777 & ~process.umask());
    fill(tmp);
    fs.writeFileSync(path.join(tmp, OUTPUT_MARKER), "written by oltron; this folder may be replaced by a later run\n");
    const old = `${tmp}.old`;
    if (fs.existsSync(target)) fs.renameSync(target, old);
    fs.renameSync(tmp, target);
    fs.rmSync(old, { recursive: true, force: true });
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}

/** Writes a map of relative file names to contents under `dir`. */
export function writeFiles(dir: string, files: Record<string, string | Uint8Array>): void {
  for (const [name, data] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), data);
  }
}

/** Reads an image file and checks it against the manifest's sha256. */
export function readImage(dir: string, file: string, expectSha: string, wordBits: number, words?: number): Block {
  const p = path.join(dir, file);
  if (!fs.existsSync(p)) throw new UserError(`${p}: image file named in the manifest does not exist`);
  const text = fs.readFileSync(p);
  const got = sha256(text);
  if (got !== expectSha) {
    throw new UserError(`${p}: sha256 ${got.slice(0, 16)}... does not match the manifest's ${expectSha.slice(0, 16)}...: the image was modified or corrupted`);
  }
  const b = Block.fromHex(text.toString("utf8"), wordBits, p);
  if (words !== undefined && b.words !== words) {
    throw new UserError(`${p}: has ${b.words} words, the manifest says ${words}`);
  }
  return b;
}
