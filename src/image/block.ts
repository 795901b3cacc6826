/**
 * Memory images: blocks of memory words, written as $readmemh hex text (one word per line,
 * most significant digit first). Every field we store is a whole number of nibbles, so a
 * block is held as a flat little-endian nibble array: nibble i of the block is bits
 * [4i, 4i+4) of the concatenation word0 | word1 << W | ...
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { UserError } from "../core/errors.js";
import { sha256 } from "../core/files.js";

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
