/**
 * Ownership of output folders (core/files.ts): a property test over generated folder layouts
 * (oltron folders with nested image folders, files recorded later and job folders; user
 * files anywhere, oltron files edited or copied, markers emptied, truncated, edited, made a
 * folder or a symbolic link, copied from another oltron folder; symbolic links and FIFOs) that
 * asserts no user byte is ever lost: replacing the folder either succeeds, and then every file
 * it removed held bytes oltron wrote, or is refused and leaves every byte where it was.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { OUTPUT_MARKER, claimKeptFolder, markJobFolder, recordOwned, writeDirAtomic, writeFileAtomic, writeOwnedFile } from "../src/core/files.js";
import { UserError } from "../src/core/errors.js";
import { tmpDir } from "./helpers/cosim.js";

/** Writes an oltron folder at `dir` the way the commands do. */
function oltronFolder(dir: string, o: { nested: boolean; jobs: boolean; recorded: boolean }, tag: string): void {
  writeDirAtomic(dir, (tmp) => {
    fs.writeFileSync(path.join(tmp, "manifest.json"), `{"format":"oltron-images","tag":"${tag}"}\n`);
    fs.mkdirSync(path.join(tmp, "rtl"));
    fs.writeFileSync(path.join(tmp, "rtl", "top.v"), `module top_${tag}; endmodule\n`);
    if (o.nested) writeDirAtomic(path.join(tmp, "images"), (t) => fs.writeFileSync(path.join(t, "x.hex"), `00 ${tag}\n`));
    if (o.jobs) {
      markJobFolder(path.join(tmp, "logs"));
      fs.writeFileSync(path.join(tmp, "logs", "0.log"), `job log ${tag}\n`);
    }
  });
  if (o.recorded) {
    fs.writeFileSync(path.join(dir, "expected.hex"), `ff ${tag}\n`);
    recordOwned(dir, ["expected.hex"]);
    if (o.nested) {
      fs.writeFileSync(path.join(dir, "images", "sim-result.json"), `{"tag":"${tag}"}\n`);
      recordOwned(path.join(dir, "images"), ["sim-result.json"]);
    }
  }
}

type Action =
  | { kind: "user"; at: string; text: string }
  | { kind: "edit"; at: string }
  | { kind: "marker"; how: "empty" | "truncate" | "append" | "older" | "folder" | "link" | "copy"; nested: boolean }
  | { kind: "copy"; name: string }
  | { kind: "symlink" }
  | { kind: "fifo" };

const userPaths = ["notes.txt", "manifest.json", "rtl/top.v", "rtl/mine.v", "images/x.hex", "images/main.c", "src/main.c", "logs/mine.log", OUTPUT_MARKER];
const action: fc.Arbitrary<Action> = fc.oneof(
  fc.record({ kind: fc.constant("user" as const), at: fc.constantFrom(...userPaths), text: fc.string({ minLength: 0, maxLength: 12 }) }),
  fc.record({ kind: fc.constant("edit" as const), at: fc.constantFrom("manifest.json", "rtl/top.v", "images/x.hex", "expected.hex", "images/sim-result.json") }),
  fc.record({ kind: fc.constant("marker" as const), how: fc.constantFrom("empty", "truncate", "append", "older", "folder", "link", "copy"), nested: fc.boolean() }),
  fc.record({ kind: fc.constant("copy" as const), name: fc.constantFrom("manifest.json", "rtl/top.v", OUTPUT_MARKER) }),
  fc.record({ kind: fc.constant("symlink" as const) }),
  fc.record({ kind: fc.constant("fifo" as const) }),
);

/** Every entry under `dir`: files by content, links by target, FIFOs and folders by kind. */
function snapshot(dir: string, rel = ""): Map<string, string> {
  const out = new Map<string, string>();
  if (!fs.existsSync(path.join(dir, rel))) return out;
  for (const e of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    const p = path.join(dir, r);
    if (e.isSymbolicLink()) out.set(r, `link:${fs.readlinkSync(p)}`);
    else if (e.isDirectory()) for (const [k, v] of snapshot(dir, r)) out.set(k, v);
    else if (e.isFile()) out.set(r, `file:${fs.readFileSync(p, "latin1")}`);
    else out.set(r, "other");
  }
  return out;
}

describe("output folder ownership", () => {
  it("never loses a user byte, over generated folder layouts", () => {
    const root = tmpDir("own");
    const other = path.join(root, "other");
    oltronFolder(other, { nested: true, jobs: true, recorded: true }, "other");
    const outside = path.join(root, "outside.txt");
    fs.writeFileSync(outside, "the user's file outside the folder");
    // Bytes oltron wrote anywhere (this case's folder and the other one): losing these loses nothing.
    let n = 0;
    let replaced = 0;
    let refused = 0;
    fc.assert(
      fc.property(
        fc.record({ oltron: fc.boolean(), nested: fc.boolean(), jobs: fc.boolean(), recorded: fc.boolean(), actions: fc.array(action, { maxLength: 4 }) }),
        (c) => {
          const parent = path.join(root, `case-${n++}`);
          fs.mkdirSync(parent);
          const dir = path.join(parent, "out");
          if (c.oltron) oltronFolder(dir, c, "mine");
          else fs.mkdirSync(dir);
          const oltronBytes = new Set([...snapshot(dir).values(), ...snapshot(other).values()]);
          const userEntries = new Set<string>();
          for (const a of c.actions) {
            if (a.kind === "user") {
              // A job folder is wholly oltron's (docs/files.md): user files there are out of scope.
              if (a.at.startsWith("logs/") && c.oltron && c.jobs) continue;
              const p = path.join(dir, a.at);
              if (fs.existsSync(p) && !fs.lstatSync(p).isFile()) continue;
              fs.mkdirSync(path.dirname(p), { recursive: true });
              fs.writeFileSync(p, `USER ${a.text}`);
              userEntries.add(a.at);
            } else if (a.kind === "edit") {
              const p = path.join(dir, a.at);
              if (!fs.existsSync(p) || !fs.lstatSync(p).isFile()) continue;
              fs.appendFileSync(p, "user edit\n");
              userEntries.add(a.at);
            } else if (a.kind === "marker") {
              const sub = a.nested ? path.join(dir, "images") : dir;
              if (!fs.existsSync(sub)) continue;
              const m = path.join(sub, OUTPUT_MARKER);
              const text = fs.existsSync(m) && fs.lstatSync(m).isFile() ? fs.readFileSync(m, "utf8") : "";
              fs.rmSync(m, { recursive: true, force: true });
              userEntries.delete(path.relative(dir, m));
              if (a.how === "empty") fs.writeFileSync(m, "");
              else if (a.how === "truncate") fs.writeFileSync(m, text.slice(0, Math.floor(text.length / 2)));
              else if (a.how === "append") fs.writeFileSync(m, `${text}f ${"0".repeat(64)} notes.txt\n`);
              else if (a.how === "older") fs.writeFileSync(m, "written by oltron; this folder may be replaced by a later run. Files oltron wrote:\nnotes.txt\nsrc/main.c\n");
              else if (a.how === "folder") fs.mkdirSync(m);
              else if (a.how === "link") fs.symlinkSync(path.join(other, OUTPUT_MARKER), m);
              else fs.copyFileSync(path.join(other, OUTPUT_MARKER), m);
            } else if (a.kind === "copy") {
              const p = path.join(dir, a.name);
              if (fs.existsSync(p) && !fs.lstatSync(p).isFile()) continue;
              fs.mkdirSync(path.dirname(p), { recursive: true });
              fs.copyFileSync(path.join(other, a.name), p);
              userEntries.delete(a.name);
            } else if (a.kind === "symlink") {
              if (fs.existsSync(path.join(dir, "link.txt")) || fs.lstatSync(dir, { throwIfNoEntry: false }) === undefined) continue;
              fs.symlinkSync(outside, path.join(dir, "link.txt"));
              userEntries.add("link.txt");
            } else {
              if (fs.existsSync(path.join(dir, "pipe"))) continue;
              execFileSync("mkfifo", [path.join(dir, "pipe")]);
              userEntries.add("pipe");
            }
          }
          const before = snapshot(dir);
          // User bytes: what the user wrote or changed, and anything not byte-identical to an oltron file.
          const userBytes = [...before].filter(([k, v]) => userEntries.has(k) || (!oltronBytes.has(v) && !k.endsWith(OUTPUT_MARKER)));
          let ok = true;
          try {
            writeDirAtomic(dir, (tmp) => fs.writeFileSync(path.join(tmp, "new.txt"), "new run\n"));
          } catch (e) {
            expect(e, String(e)).toBeInstanceOf(UserError);
            ok = false;
          }
          if (ok) {
            replaced++;
            // Replaced: nothing that was the user's can have been there.
            expect(userBytes.map(([k]) => k), JSON.stringify(c)).toEqual([]);
            expect(fs.readFileSync(path.join(dir, "new.txt"), "utf8")).toBe("new run\n");
          } else {
            refused++;
            expect(snapshot(dir)).toEqual(before);
          }
          expect(fs.readFileSync(outside, "utf8")).toBe("the user's file outside the folder");
          // Neither a lock nor a temporary left beside it.
          expect(fs.readdirSync(parent)).toEqual(["out"]);
        },
      ),
      { seed: 20261205, numRuns: 300 },
    );
    // The generator reaches both outcomes often.
    expect(replaced).toBeGreaterThan(30);
    expect(refused).toBeGreaterThan(30);
  });

  it("replaces its own folder, and one with files recorded later or job folders", () => {
    const dir = path.join(tmpDir("own-ok"), "out");
    oltronFolder(dir, { nested: true, jobs: true, recorded: true }, "a");
    fs.writeFileSync(path.join(dir, "logs", "1.log"), "a later job's log\n");
    writeDirAtomic(dir, (tmp) => fs.writeFileSync(path.join(tmp, "b.txt"), "b"));
    expect(fs.readdirSync(dir).sort()).toEqual([OUTPUT_MARKER, "b.txt"]);
  });

  it("removes temporaries a killed run left beside the folder, and only those", () => {
    const parent = tmpDir("own-orphans");
    const dir = path.join(parent, "out");
    oltronFolder(dir, { nested: false, jobs: false, recorded: false }, "a");
    // A killed run's temporary folder (any owner: only the lock holder makes them), an older
    // version's unnamed one, a half-renamed old folder.
    for (const t of [".out.tmp-otherhost.123-abcdef", ".out.tmp-Xy12Zq", ".out.tmp-host.1-abcdef.old"]) {
      fs.mkdirSync(path.join(parent, t));
      fs.writeFileSync(path.join(parent, t, "big.hex"), "00\n".repeat(1000));
    }
    const dead = execFileSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" });
    const host = os.hostname().replace(/[^\w-]/g, "_");
    fs.writeFileSync(path.join(parent, "keep.txt"), "the user's");
    writeDirAtomic(dir, (tmp) => fs.writeFileSync(path.join(tmp, "manifest.json"), "{}"));
    expect(fs.readdirSync(parent).sort()).toEqual(["keep.txt", "out"]);
    // A dead process's temporary file goes when the same file is written atomically again.
    fs.writeFileSync(path.join(dir, `manifest.json.tmp-${host}.${dead}`), "half");
    writeFileAtomic(path.join(dir, "manifest.json"), "{}");
    expect(fs.readdirSync(dir).sort()).toEqual([OUTPUT_MARKER, "manifest.json"]);
  });

  it("names why a folder is not provably oltron's", () => {
    const root = tmpDir("own-why");
    const cases: [string, (dir: string) => void, RegExp][] = [
      ["no marker", (d) => fs.rmSync(path.join(d, OUTPUT_MARKER)), /no \.oltron-output marker/],
      ["empty", (d) => fs.writeFileSync(path.join(d, OUTPUT_MARKER), ""), /empty or not an oltron marker/],
      ["older", (d) => fs.writeFileSync(path.join(d, OUTPUT_MARKER), "written by oltron; this folder may be replaced by a later run. Files oltron wrote:\na\n"), /written by oltron before 0\.3\.1, whose \.oltron-output has no checksums.*if you added nothing to it, remove it \('rm -r .*older'\) and run again/],
      ["folder", (d) => { fs.rmSync(path.join(d, OUTPUT_MARKER)); fs.mkdirSync(path.join(d, OUTPUT_MARKER)); }, /is not a regular file/],
      ["edited", (d) => fs.appendFileSync(path.join(d, OUTPUT_MARKER), `f ${"0".repeat(64)} thesis.tex\n`), /truncated or edited/],
      ["changed", (d) => fs.appendFileSync(path.join(d, "manifest.json"), " "), /1 file\(s\) oltron did not write or that changed since \(manifest\.json\)/],
    ];
    for (const [name, spoil, msg] of cases) {
      const dir = path.join(root, name);
      oltronFolder(dir, { nested: false, jobs: false, recorded: false }, name);
      spoil(dir);
      expect(() => writeDirAtomic(dir, () => {}), name).toThrow(msg);
    }
  });

  it("a kept folder (explore results) overwrites only files it wrote", () => {
    const dir = path.join(tmpDir("own-kept"), "res");
    claimKeptFolder("--out", dir, ["points"]);
    writeOwnedFile(dir, "explore.json", "{}\n");
    writeOwnedFile(dir, "explore.json", '{"again":1}\n');
    fs.writeFileSync(path.join(dir, "notes.txt"), "mine");
    claimKeptFolder("--out", dir, ["points"]);
    fs.writeFileSync(path.join(dir, "explore.html"), "my own page");
    expect(() => writeOwnedFile(dir, "explore.html", "<html>")).toThrow(/explore\.html exists and oltron did not write it/);
    expect(fs.readFileSync(path.join(dir, "explore.html"), "utf8")).toBe("my own page");
    fs.appendFileSync(path.join(dir, "explore.json"), "edited");
    expect(() => writeOwnedFile(dir, "explore.json", "{}")).toThrow(/explore\.json exists and oltron did not write it \(or it changed since\)/);
    const foreign = path.join(tmpDir("own-kept2"), "res");
    fs.mkdirSync(foreign);
    fs.writeFileSync(path.join(foreign, "explore-config.json"), "{}");
    expect(() => claimKeptFolder("--out", foreign, ["points"])).toThrow(/not provably oltron's \(no \.oltron-output marker\)/);
    const userPoints = path.join(tmpDir("own-kept3"), "res");
    claimKeptFolder("--out", userPoints, []);
    fs.mkdirSync(path.join(userPoints, "points"));
    expect(() => claimKeptFolder("--out", userPoints, ["points"])).toThrow(/points is there but is not one of oltron's job folders/);
  });
});
