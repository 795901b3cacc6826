/**
 * Files oltron writes: atomic single files, whole folders published by rename, and the
 * marker that tells oltron which folders it may replace. Both rivers write through here.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { trackTemp } from "./temps.js";
import { UserError } from "./errors.js";
import { alive, tryLock } from "./lock.js";

export function sha256(data: string | Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/** Writes a file atomically: a temporary sibling, then rename. */
export function writeFileAtomic(file: string, data: string | Uint8Array): void {
  const tmp = `${file}.tmp-${ownerTag()}`;
  removeDeadTemps(path.dirname(path.resolve(file)));
  try {
    fs.writeFileSync(tmp, data);
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}

/** Folders already swept of dead temporaries by this process (once each: results folders grow large). */
const swept = new Set<string>();

/** Removes `<file>.tmp-<host>.<pid>` files in `dir` whose owner, on this host, has exited (a killed run's). */
function removeDeadTemps(dir: string): void {
  if (swept.has(dir)) return;
  swept.add(dir);
  // hostTag holds only letters, digits, '_' and '-': nothing a pattern would read as syntax.
  const tag = new RegExp(`\\.tmp-${hostTag()}\\.(\\d+)$`);
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return;
  }
  for (const n of names) {
    const pid = Number(tag.exec(n)?.[1]);
    if (Number.isInteger(pid) && pid > 0 && !alive(pid)) fs.rmSync(path.join(dir, n), { force: true });
  }
}

/** Every folder oltron writes carries this file, so it knows what it may replace. */
export const OUTPUT_MARKER = ".oltron-output";

/**
 * The ownership marker (docs/formats.md, section 10): a header with its version, the sha256 of its own
 * list, then one line per file oltron wrote (`f <sha256 of the file> <name>`) and per job
 * folder whose every file is oltron's (`d <name>/`). A file counts as oltron's only when it is
 * listed and its bytes still match; a marker that is not a regular file, lacks the header, or
 * whose list does not match its checksum proves nothing. So neither oltron's file names nor a
 * copied or forged marker can make a user's file look like oltron's.
 */
const MARKER_MAGIC = "oltron-output 2";
const MARKER_NOTE = "written by oltron: a later run may replace this folder; only the files listed below (with their sha256) are oltron's, any other file stops it";
/** A job folder's own marker, its whole text (markJobFolder): honoured only through its parent's `d` entry. */
const JOB_FOLDER_MARKER = "written by oltron: every file in this folder is a job's output, replaced with it\n";

interface Marker {
  files: Map<string, string>;
  folders: Set<string>;
}

function markerText(m: Marker): string {
  const lines = [...[...m.files].map(([name, hash]) => `f ${hash} ${name}`), ...[...m.folders].map((d) => `d ${d}/`)].sort();
  const body = lines.map((l) => `${l}\n`).join("");
  return `${MARKER_MAGIC}\n${MARKER_NOTE}\nlist-sha256 ${sha256(body)}\n${body}`;
}

/** readMarker's answer for a marker an oltron before 0.3.1 wrote: a list of names without checksums. */
const OLDER_MARKER = `its ${OUTPUT_MARKER} is an older oltron's, without checksums`;

/** The valid marker of `dir`, or why there is none ("missing" when there is no marker at all). */
function readMarker(dir: string): Marker | string {
  const file = path.join(dir, OUTPUT_MARKER);
  let st: fs.Stats;
  try {
    st = fs.lstatSync(file);
  } catch {
    return "missing";
  }
  if (!st.isFile()) return `its ${OUTPUT_MARKER} is not a regular file`;
  const text = fs.readFileSync(file, "utf8");
  const lines = text.split("\n");
  if (lines[0] !== MARKER_MAGIC) {
    return text.startsWith("written by oltron; this folder may be replaced") ? OLDER_MARKER : `its ${OUTPUT_MARKER} is empty or not an oltron marker`;
  }
  const sum = /^list-sha256 ([0-9a-f]{64})$/.exec(lines[2] ?? "");
  const body = lines.slice(3).join("\n");
  if (!sum || !text.endsWith("\n") || sha256(body) !== sum[1]) return `its ${OUTPUT_MARKER} is truncated or edited (its checksum does not match)`;
  const m: Marker = { files: new Map(), folders: new Set() };
  for (const line of lines.slice(3, -1)) {
    const f = /^f ([0-9a-f]{64}) (.+)$/.exec(line);
    const d = /^d (.+)\/$/.exec(line);
    if (f) m.files.set(f[2], f[1]);
    else if (d) m.folders.add(d[1]);
    else return `its ${OUTPUT_MARKER} has a line oltron never writes`;
  }
  return m;
}

function hashFile(file: string): string | undefined {
  try {
    return fs.lstatSync(file).isFile() ? sha256(fs.readFileSync(file)) : undefined;
  } catch {
    return undefined;
  }
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
    if (target === process.cwd() && entries.length > 0) throw new UserError(`${dir} is the current folder; choose a subfolder as output`);
    if (entries.length > 0) {
      const marker = readMarker(target);
      if (typeof marker === "string") {
        if (marker === OLDER_MARKER) {
          throw new UserError(`${dir} was written by oltron before 0.3.1, whose ${OUTPUT_MARKER} has no checksums, so oltron cannot prove every file in it is its own; refusing to replace it: if you added nothing to it, remove it ('rm -r ${dir}') and run again, or choose another output folder`);
        }
        throw new UserError(`${dir} exists and is not provably oltron's (${entries.length} ${entries.length === 1 ? "entry" : "entries"}; ${marker === "missing" ? `no ${OUTPUT_MARKER} marker` : marker}); refusing to replace it: choose another output folder, or remove it yourself`);
      }
      const foreign = filesNotOurs(target, marker);
      if (foreign.length) {
        throw new UserError(`${dir} holds ${foreign.length} file(s) oltron did not write or that changed since (${foreign.slice(0, 3).join(", ")}${foreign.length > 3 ? ", ..." : ""}); refusing to replace it: move them, or choose another output folder`);
      }
    }
  }
  const parent = path.dirname(target);
  fs.mkdirSync(parent, { recursive: true });
  const releaseLock = lockDir(target);
  try {
    removeOrphans(parent, `.${path.basename(target)}.tmp-`);
    const tmp = fs.mkdtempSync(path.join(parent, `.${path.basename(target)}.tmp-${ownerTag()}-`));
    const untrackTmp = trackTemp(tmp);
    // mkdtemp makes the folder private (0700); outputs get the usual permissions.
    fs.chmodSync(tmp, 0o777 & ~process.umask());
    return { target, tmp, untrack: () => { untrackTmp(); releaseLock(); } };
  } catch (e) {
    releaseLock();
    throw e;
  }
}

/** This host in temporary names (characters a file name takes). */
function hostTag(): string {
  return os.hostname().replace(/[^\w-]/g, "_");
}

/** This process in temporary names: host and pid, so a later run can tell an orphan. */
function ownerTag(): string {
  return `${hostTag()}.${process.pid}`;
}

/**
 * Removes temporaries of `prefix` in `dir` left by killed runs. Called while holding the
 * output folder's lock, under which alone its temporaries are made: every one there is an
 * orphan (older versions' unnamed ones included), whatever its owner or age.
 */
function removeOrphans(dir: string, prefix: string): void {
  for (const e of fs.readdirSync(dir)) {
    if (e.startsWith(prefix)) fs.rmSync(path.join(dir, e), { recursive: true, force: true });
  }
}

/**
 * One writer per output folder: a lock folder beside it (core/lock.ts: owner's host, pid and
 * start time). A second run writing the same folder is refused, naming the first and the lock;
 * a lock whose owner is gone is taken over, with a message.
 */
function lockDir(target: string): () => void {
  const lock = path.join(path.dirname(target), `.${path.basename(target)}.lock`);
  const got = tryLock(lock, (line) => process.stderr.write(`${line}\n`));
  if ("release" in got) return got.release;
  throw new UserError(`${target} is being written by another oltron process (${got.holder}; lock ${lock}); wait for it to finish or choose another output folder (remove the lock only if no oltron process is running)`);
}

/** Every file under `dir`, relative, with '/' separators. */
function listFiles(dir: string, rel = ""): string[] {
  return fs.readdirSync(path.join(dir, rel), { withFileTypes: true }).flatMap((e) => {
    const r = rel ? `${rel}/${e.name}` : e.name;
    return e.isDirectory() ? listFiles(dir, r) : [r];
  });
}

/**
 * Entries under `dir` (a folder with a valid marker) that are not provably oltron's: not
 * listed, or listed but changed since, or not a regular file. A subfolder with its own valid
 * marker (an image folder inside a run folder) may also vouch for its files; a `d` entry
 * vouches for a whole job folder.
 */
function filesNotOurs(dir: string, marker: Marker): string[] {
  const walk = (rel: string, vouchers: { base: string; m: Marker }[]): string[] =>
    fs.readdirSync(path.join(dir, rel), { withFileTypes: true }).flatMap((e) => {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory() && !e.isSymbolicLink()) {
        if (rel === "" && marker.folders.has(e.name) && isJobFolder(path.join(dir, r))) return [];
        const own = readMarker(path.join(dir, r));
        return walk(r, typeof own === "string" ? vouchers : [...vouchers, { base: r, m: own }]);
      }
      if (e.name === OUTPUT_MARKER && e.isFile()) {
        // The top marker was read already; a nested one is oltron's only if valid.
        return rel === "" || typeof readMarker(path.join(dir, rel)) !== "string" ? [] : [r];
      }
      if (!e.isFile()) return [r];
      const listed = vouchers.map((v) => v.m.files.get(v.base ? r.slice(v.base.length + 1) : r)).filter((h) => h !== undefined);
      // Hashed only when some marker lists it: an unlisted file is foreign, however large.
      return listed.length && listed.includes(hashFile(path.join(dir, r))!) ? [] : [r];
    });
  return walk("", [{ base: "", m: marker }]);
}

/**
 * Marks a subfolder of an oltron folder whose every file oltron's jobs write while it stands
 * (results, logs, markers of a plan of jobs, flows/jobs.ts): the enclosing folder's marker
 * lists it as a job folder, so the whole subfolder counts as oltron's when the folder is
 * replaced. Jobs on several nodes add files there at once, which one shared file list could
 * not record safely. (Made inside the folder before it is published.)
 */
export function markJobFolder(dir: string): void {
  fs.mkdirSync(dir, { recursive: true });
  const marker = path.join(dir, OUTPUT_MARKER);
  if (!fs.existsSync(marker)) fs.writeFileSync(marker, JOB_FOLDER_MARKER);
}

/** A job folder: its own marker is the job folder marker, byte for byte (honoured only through a valid parent marker's `d` entry). */
function isJobFolder(dir: string): boolean {
  try {
    return fs.lstatSync(path.join(dir, OUTPUT_MARKER)).isFile() && fs.readFileSync(path.join(dir, OUTPUT_MARKER), "utf8") === JOB_FOLDER_MARKER;
  } catch {
    return false;
  }
}

/**
 * Takes `dir` as a folder oltron keeps and adds to across runs (an explore results folder):
 * a new or empty folder gets a marker (with `jobFolders` as job folders); an existing one must
 * carry a valid marker. Files are then written with writeOwnedFile, which never overwrites a
 * file the marker does not vouch for.
 */
export function claimKeptFolder(flag: string, dir: string, jobFolders: string[]): void {
  checkOutputFolder(flag, dir);
  fs.mkdirSync(dir, { recursive: true });
  const entries = fs.readdirSync(dir);
  let m = readMarker(dir);
  if (typeof m === "string") {
    if (entries.length > 0) throw new UserError(`${flag} ${dir} holds files and is not provably oltron's (${m === "missing" ? `no ${OUTPUT_MARKER} marker` : m}); give an empty or new folder, or an earlier run's results folder`);
    m = { files: new Map(), folders: new Set() };
  }
  for (const j of jobFolders) {
    if (!m.folders.has(j) && fs.existsSync(path.join(dir, j))) throw new UserError(`${flag} ${dir}: ${j} is there but is not one of oltron's job folders; move it, or give another folder`);
    markJobFolder(path.join(dir, j));
    m.folders.add(j);
  }
  writeFileAtomic(path.join(dir, OUTPUT_MARKER), markerText(m));
}

/** Writes `name` in a folder oltron keeps (claimKeptFolder) atomically, refusing to overwrite a file oltron did not write, and records it. */
export function writeOwnedFile(dir: string, name: string, data: string | Uint8Array): void {
  const file = path.join(dir, name);
  const m = readMarker(dir);
  if (typeof m === "string") throw new UserError(`${dir}: ${m}; refusing to write ${name} there`);
  if (fs.lstatSync(file, { throwIfNoEntry: false })) {
    if (m.files.get(name) !== hashFile(file)) throw new UserError(`${file} exists and oltron did not write it (or it changed since); refusing to overwrite it: move it, or give another folder`);
  }
  writeFileAtomic(file, data);
  recordOwned(dir, [name]);
}

/**
 * Records files oltron adds later to one of its folders (expected and simulated outputs), with
 * their bytes' checksums, so a later run may replace them; a folder without a valid marker is
 * left as it is. Call it after the files are written.
 */
export function recordOwned(dir: string, names: string[]): void {
  const m = readMarker(dir);
  if (typeof m === "string") return;
  for (const n of names) {
    const hash = hashFile(path.join(dir, n));
    if (hash !== undefined) m.files.set(n, hash);
  }
  writeFileAtomic(path.join(dir, OUTPUT_MARKER), markerText(m));
}

function publishDir(tmp: string, target: string): void {
  const m: Marker = { files: new Map(), folders: new Set() };
  for (const e of fs.readdirSync(tmp, { withFileTypes: true })) {
    if (e.isDirectory() && isJobFolder(path.join(tmp, e.name))) m.folders.add(e.name);
  }
  for (const f of listFiles(tmp)) {
    // Markers are never listed (each vouches for itself); nor are job folders' files.
    if (path.basename(f) === OUTPUT_MARKER || m.folders.has(f.split("/")[0])) continue;
    m.files.set(f, hashFile(path.join(tmp, f)) ?? "");
  }
  fs.writeFileSync(path.join(tmp, OUTPUT_MARKER), markerText(m));
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