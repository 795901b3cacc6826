/**
 * Files oltron writes: atomic single files, whole folders published by rename, and the
 * marker that tells oltron which folders it may replace. Both rivers write through here.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { trackTemp } from "./children.js";
import { UserError } from "./errors.js";

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
  // A run folder of an earlier version (design/, images/ and the result it wrote).
  const olderRun = () => ours("sim-result.json", (j) => typeof j.design === "string" && typeof j.cycles === "object" && typeof j.simulator === "string")
    && entries.every((e) => ["design", "images", "sim-result.json"].includes(e));
  return ours("design.json", (j) => (j.generator as { name?: string } | undefined)?.name === "oltron-gen")
    || ours("manifest.json", (j) => j.format === "oltron-images")
    || olderRun();
}

/**
 * Writes a whole folder atomically: `fill` writes into a temporary sibling folder that
 * replaces `dir` only when complete, so a failure or an interrupt leaves nothing half-written
 * (the temporary folder is removed). An existing `dir` is replaced only if it is empty or was
 * written by oltron: user data is never deleted.
 */
export function writeDirAtomic(dir: string, fill: (tmpDir: string) => void): void {
  const { target, tmp, untrack } = prepareDir(dir);
  try {
    fill(tmp);
    publishDir(tmp, target);
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  } finally {
    untrack();
  }
}

/** writeDirAtomic for work that is asynchronous (a whole verify run). */
export async function writeDirAtomicAsync(dir: string, fill: (tmpDir: string) => Promise<void>): Promise<void> {
  const { target, tmp, untrack } = prepareDir(dir);
  try {
    await fill(tmp);
    publishDir(tmp, target);
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  } finally {
    untrack();
  }
}

/** A folder name under `base` that does not exist yet: <name>-<date>-<time>[-n]. */
export function freshDir(base: string, name: string, now = new Date()): string {
  const stamp = now.toISOString().slice(0, 19).replace(/[:T]/g, (c) => (c === "T" ? "-" : ""));
  let dir = path.join(base, `${name}-${stamp}`);
  for (let n = 2; fs.existsSync(dir); n++) dir = path.join(base, `${name}-${stamp}-${n}`);
  return dir;
}

function prepareDir(dir: string): { target: string; tmp: string; untrack: () => void } {
  const target = path.resolve(dir);
  let link: fs.Stats | undefined;
  try {
    link = fs.lstatSync(target);
  } catch {
    link = undefined;
  }
  // A symbolic link (dangling or not) is the user's: never replaced, never followed.
  if (link?.isSymbolicLink()) throw new UserError(`${dir} is a symbolic link (to ${fs.readlinkSync(target)}); give a real folder as output`);
  if (fs.existsSync(target)) {
    if (!fs.statSync(target).isDirectory()) throw new UserError(`${dir} exists and is not a folder: choose another output folder`);
    const entries = fs.readdirSync(target);
    if (entries.length > 0 && !isOltronOutput(target, entries)) {
      throw new UserError(`${dir} exists and was not written by oltron (${entries.length} entries); refusing to replace it: choose another output folder or remove it`);
    }
    if (target === process.cwd()) throw new UserError(`${dir} is the current folder; choose a subfolder as output`);
    const foreign = filesNotOurs(target);
    if (foreign.length) {
      throw new UserError(`${dir} holds ${foreign.length} file(s) oltron did not write (${foreign.slice(0, 3).join(", ")}${foreign.length > 3 ? ", ..." : ""}); refusing to replace it: move them, or choose another output folder`);
    }
  }
  const parent = path.dirname(target);
  fs.mkdirSync(parent, { recursive: true });
  const releaseLock = lockDir(target);
  try {
    const tmp = fs.mkdtempSync(path.join(parent, `.${path.basename(target)}.tmp-`));
    const untrackTmp = trackTemp(tmp);
    // mkdtemp makes the folder private (0700); outputs get the usual permissions.
    fs.chmodSync(tmp, 0o777 & ~process.umask());
    return { target, tmp, untrack: () => { untrackTmp(); releaseLock(); } };
  } catch (e) {
    releaseLock();
    throw e;
  }
}

/**
 * One writer per output folder: a lock folder beside it (made atomically, holding the owner's
 * pid). A second run writing the same folder is refused, naming the first; a lock whose owner
 * has died is taken over.
 */
function lockDir(target: string): () => void {
  const lock = path.join(path.dirname(target), `.${path.basename(target)}.lock`);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.mkdirSync(lock);
      fs.writeFileSync(path.join(lock, "pid"), String(process.pid));
      const untrack = trackTemp(lock);
      return () => {
        fs.rmSync(lock, { recursive: true, force: true });
        untrack();
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
    let owner = NaN;
    try {
      owner = Number(fs.readFileSync(path.join(lock, "pid"), "utf8"));
    } catch {
      // Being created right now: treated as held.
    }
    let alive = true;
    if (Number.isInteger(owner) && owner > 0) {
      try {
        process.kill(owner, 0);
      } catch (err) {
        alive = (err as NodeJS.ErrnoException).code === "EPERM";
      }
    }
    if (alive) throw new UserError(`${target} is being written by another oltron process (pid ${Number.isNaN(owner) ? "?" : owner}); wait for it to finish or choose another output folder`);
    fs.rmSync(lock, { recursive: true, force: true });
  }
  throw new UserError(`${target}: could not take its lock ${lock}; remove it if no oltron process is running`);
}

/** Every file under `dir`, relative, with '/' separators. */
function listFiles(dir: string, rel = ""): string[] {
  return fs.readdirSync(path.join(dir, rel), { withFileTypes: true }).flatMap((e) => {
    const r = rel ? `${rel}/${e.name}` : e.name;
    return e.isDirectory() ? listFiles(dir, r) : [r];
  });
}

const MARKER_HEAD = "written by oltron; this folder may be replaced by a later run. Files oltron wrote:";

/** Files in an oltron folder that its marker does not list (none when the marker has no list). */
function filesNotOurs(dir: string): string[] {
  let text: string;
  try {
    text = fs.readFileSync(path.join(dir, OUTPUT_MARKER), "utf8");
  } catch {
    return [];
  }
  if (!text.startsWith(MARKER_HEAD)) return [];
  const listed = new Set(text.split("\n").slice(1).filter(Boolean));
  // A subfolder with its own marker (an image folder inside a run folder) answers for itself.
  const walk = (rel: string): string[] => fs.readdirSync(path.join(dir, rel), { withFileTypes: true }).flatMap((e) => {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (!e.isDirectory()) return r === OUTPUT_MARKER || listed.has(r) ? [] : [r];
    if (fs.existsSync(path.join(dir, r, OUTPUT_MARKER))) return filesNotOurs(path.join(dir, r)).map((f) => `${r}/${f}`);
    return walk(r);
  });
  return walk("");
}

/**
 * Marks a subfolder of an oltron folder whose every file oltron's jobs write while it stands
 * (results, logs, markers of a plan of jobs, flows/jobs.ts): its marker lists no files, so the
 * whole subfolder counts as oltron's when the folder is replaced. Jobs on several nodes add
 * files there at once, which one shared file list could not record safely.
 */
export function markJobFolder(dir: string): void {
  fs.mkdirSync(dir, { recursive: true });
  const marker = path.join(dir, OUTPUT_MARKER);
  if (!fs.existsSync(marker)) fs.writeFileSync(marker, "written by oltron: every file in this folder is a job's output, replaced with it\n");
}

/**
 * Records files oltron adds later to one of its folders (expected and simulated outputs), so
 * a later run may replace them; a folder without a marker is left as it is.
 */
export function recordOwned(dir: string, names: string[]): void {
  const marker = path.join(dir, OUTPUT_MARKER);
  let text: string;
  try {
    text = fs.readFileSync(marker, "utf8");
  } catch {
    return;
  }
  if (!text.startsWith(MARKER_HEAD)) return;
  const listed = new Set(text.split("\n").slice(1).filter(Boolean));
  const add = names.filter((n) => !listed.has(n));
  if (add.length) writeFileAtomic(marker, text + add.map((n) => `${n}\n`).join(""));
}

function publishDir(tmp: string, target: string): void {
  const files = listFiles(tmp).filter((f) => f !== OUTPUT_MARKER).sort();
  fs.writeFileSync(path.join(tmp, OUTPUT_MARKER), `${MARKER_HEAD}\n${files.map((f) => `${f}\n`).join("")}`);
  const old = `${tmp}.old`;
  if (fs.existsSync(target)) fs.renameSync(target, old);
  fs.renameSync(tmp, target);
  fs.rmSync(old, { recursive: true, force: true });
}

/** Writes a map of relative file names to contents under `dir`. */
export function writeFiles(dir: string, files: Record<string, string | Uint8Array>): void {
  for (const [name, data] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), data);
  }
}

/**
 * Refuses an output folder that is an input, lies inside one, or contains one: writing it
 * would replace or bury what the run reads (e.g. `quantize --out` naming its own --design).
 */
export function checkOutputApart(out: { flag: string; path: string }, inputs: { flag: string; path: string }[]): void {
  const real = (p: string) => {
    let r = path.resolve(p);
    try {
      r = fs.realpathSync(r);
    } catch {
      // Not there yet: its resolved name is what it will be.
    }
    return r;
  };
  const o = real(out.path);
  const within = (a: string, b: string) => a === b || a.startsWith(b.endsWith(path.sep) ? b : b + path.sep);
  for (const i of inputs) {
    const p = real(i.path);
    if (within(o, p)) throw new UserError(`${out.flag} ${out.path} is ${o === p ? "the same folder as" : "inside"} ${i.flag} ${i.path}: the output would overwrite the input; choose another ${out.flag}`);
    if (within(p, o)) throw new UserError(`${out.flag} ${out.path} contains ${i.flag} ${i.path}: writing it would replace the input; choose another ${out.flag}`);
  }
}

/** Refuses early when the folder for temporary files (TMPDIR) is missing or not writable. */
export function checkTmpDir(): void {
  const dir = os.tmpdir();
  let ok = false;
  try {
    ok = fs.statSync(dir).isDirectory();
    fs.accessSync(dir, fs.constants.W_OK);
  } catch {
    ok = false;
  }
  if (!ok) throw new UserError(`the folder for temporary files, ${dir} (TMPDIR), is missing or not writable: set TMPDIR to a writable folder`);
}

/**
 * Refuses, before any work, an output folder that cannot be one: an existing file, a path
 * through a file, or a symbolic link. (A missing folder is fine: it is created.)
 */
export function checkOutputFolder(flag: string, dir: string): void {
  let p = path.resolve(dir);
  for (;;) {
    let st: fs.Stats | undefined;
    try {
      st = fs.lstatSync(p);
    } catch {
      st = undefined;
    }
    if (st) {
      if (st.isSymbolicLink() && p === path.resolve(dir)) throw new UserError(`${flag} ${dir} is a symbolic link; give a real folder`);
      if (!st.isDirectory() && !st.isSymbolicLink()) throw new UserError(`${flag} ${dir}: ${p} is a file, not a folder; choose another ${flag}`);
      return;
    }
    const up = path.dirname(p);
    if (up === p) return;
    p = up;
  }
}