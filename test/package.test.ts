/**
 * The npm package as a user gets it: `npm pack` builds and ships the compiled CLI, the
 * templates, the C driver and the declarations (and no tests); installed into an empty
 * project, `npx oltron` runs a co-simulation and the library imports from an ESM script.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { tmpDir } from "./helpers/cosim.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

describe("npm package", () => {
  it("packs dist/, installs into an empty project, runs `npx oltron` and imports the API", async () => {
    const work = tmpDir("pkg");
    // Packed from a copy of the project: `npm pack` compiles dist/ (prepack), and the shared
    // dist/ must not be rewritten while other test files run the command.
    const src = path.join(work, "project");
    fs.mkdirSync(src);
    for (const f of ["package.json", "package-lock.json", "tsconfig.json", "README.md", "bin", "src", "templates", "examples", "docs"]) {
      fs.cpSync(path.join(ROOT, f), path.join(src, f), { recursive: true });
    }
    fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(src, "node_modules"), "dir");
    const pack = await execa("npm", ["pack", "--json", "--pack-destination", work], { cwd: src, reject: false, all: true });
    expect(pack.exitCode, pack.all).toBe(0);
    const [info] = JSON.parse(pack.stdout.slice(pack.stdout.indexOf("["))) as { filename: string; files: { path: string }[] }[];
    const files = info.files.map((f) => f.path);
    for (const f of ["bin/oltron.js", "dist/cli/main.js", "dist/index.js", "dist/index.d.ts", "templates/top.v.hbs", "examples/driver/oltron_driver.c", "src/bench/bare_array.v"]) {
      expect(files, f).toContain(f);
    }
    expect(files.filter((f) => f.startsWith("test/") || f.startsWith(".ci/") || f.startsWith("src/cli/"))).toEqual([]);

    const app = path.join(work, "app");
    fs.mkdirSync(app);
    fs.writeFileSync(path.join(app, "package.json"), JSON.stringify({ name: "app", version: "1.0.0", type: "module", private: true }));
    const install = await execa("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", path.join(work, info.filename)], { cwd: app, reject: false, all: true });
    expect(install.exitCode, install.all).toBe(0);
    const env = { OLTRON_CACHE: process.env.OLTRON_CACHE ?? path.join(ROOT, ".cache") };
    const version = await execa("npx", ["oltron", "--version"], { cwd: app, reject: false, all: true, env });
    expect(version.stdout.trim()).toBe(JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")).version);
    const verify = await execa("npx", ["oltron", "verify", "--preset", "tiny", "--layer", "qkv:6x10x5", "--out", "run"], { cwd: app, reject: false, all: true, env });
    expect(verify.exitCode, verify.all).toBe(0);
    expect(verify.stdout).toContain("PASS (bit-exact)");
    fs.writeFileSync(path.join(app, "use.mjs"), [
      'import { elaborate, resolveConfig, generateRtl, encode, decode } from "oltron";',
      'const d = elaborate(resolveConfig({}, "tiny"));',
      'console.log(JSON.stringify({ name: d.name, top: generateRtl(d).top, fp8: decode("fp8", encode("fp8", 3)) }));',
    ].join("\n"));
    const use = await execa("node", ["use.mjs"], { cwd: app, reject: false, all: true });
    expect(use.exitCode, use.all).toBe(0);
    const out = JSON.parse(use.stdout);
    expect(out.top).toMatch(/^oltron_r4c4f2_[0-9a-f]{6}_top$/);
    expect(out.fp8).toBe(3);
    expect(fs.existsSync(path.join(app, "node_modules", "oltron", "dist", "index.d.ts"))).toBe(true);

    // docs/api.md's example, type-checked against the installed declarations, then run.
    const doc = fs.readFileSync(path.join(ROOT, "docs", "api.md"), "utf8");
    const example = /<!-- example:begin -->\s*```ts\n([\s\S]*?)```\s*<!-- example:end -->/.exec(doc)?.[1];
    expect(example, "docs/api.md has no example block").toBeDefined();
    fs.writeFileSync(path.join(app, "example.ts"), example!);
    const tsc = path.join(ROOT, "node_modules", ".bin", "tsc");
    const types = await execa(tsc, ["--strict", "--noEmitOnError", "--module", "nodenext", "--moduleResolution", "nodenext", "--target", "es2022",
      "--types", "node", "--typeRoots", path.join(ROOT, "node_modules", "@types"), "--skipLibCheck", "example.ts"], { cwd: app, reject: false, all: true });
    expect(types.exitCode, types.all).toBe(0);
    fs.renameSync(path.join(app, "example.js"), path.join(app, "example.mjs"));
    const ran = await execa("node", ["example.mjs"], { cwd: app, reject: false, all: true, env });
    expect(ran.exitCode, ran.all).toBe(0);
    expect(ran.stdout).toMatch(/SQNR \d+\.\d+ dB/);
    expect(ran.stdout).toMatch(/PASS \(bit-exact\)/);
    expect(JSON.parse(fs.readFileSync(path.join(app, "api-run", "result.json"), "utf8")).pass).toBe(true);
  });

  it("the bin says what to do when the compiled CLI is missing, without a stack trace", async () => {
    const copy = path.join(tmpDir("nobuild"), "oltron");
    fs.mkdirSync(path.join(copy, "bin"), { recursive: true });
    fs.copyFileSync(path.join(ROOT, "bin", "oltron.js"), path.join(copy, "bin", "oltron.js"));
    fs.writeFileSync(path.join(copy, "package.json"), JSON.stringify({ type: "module" }));
    const r = await execa("node", [path.join(copy, "bin", "oltron.js"), "--version"], { reject: false, all: true });
    expect(r.exitCode).toBe(70);
    expect(r.stderr).toContain("the compiled CLI (dist/cli/main.js) is missing: run 'npm run build'");
    expect(r.stderr).not.toContain("    at ");
  });
});

describe("make deps", () => {
  it("compiles the TypeScript only when a source changed", async () => {
    const work = tmpDir("make");
    const src = path.join(work, "project");
    fs.mkdirSync(src);
    // Timestamps kept, so the copy's package.json is as old as the installed packages' stamp.
    for (const f of ["Makefile", "package.json", "package-lock.json", "tsconfig.json", "src", "templates"]) {
      fs.cpSync(path.join(ROOT, f), path.join(src, f), { recursive: true, preserveTimestamps: true });
    }
    fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(src, "node_modules"), "dir");
    const dry = async () => (await execa("make", ["-n", "build"], { cwd: src, reject: false, all: true })).all ?? "";
    const first = await dry();
    // Never reinstall the shared packages from a test.
    expect(first).not.toMatch(/npm ci/);
    expect(first).toMatch(/tsc -p tsconfig\.json/);
    const build = await execa("make", ["build"], { cwd: src, reject: false, all: true });
    expect(build.exitCode, build.all).toBe(0);
    expect(fs.existsSync(path.join(src, "dist", "cli", "main.js"))).toBe(true);
    expect(await dry()).not.toMatch(/tsc/);
    const later = new Date(Date.now() + 5000);
    fs.utimesSync(path.join(src, "src", "golden.ts"), later, later);
    expect(await dry()).toMatch(/tsc -p tsconfig\.json/);
  });
});
