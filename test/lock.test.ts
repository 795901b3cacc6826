/**
 * Cache locks shared by the processes of one machine and the nodes of a cluster
 * (core/lock.ts): the owner's host and pid are recorded and the lock is touched while held; a
 * lock is taken over when its owner is known dead here, or when it has gone untouched for
 * STALE_MS (an owner on another node that died, a reused pid, no owner record at all); a live
 * owner, here or elsewhere, is waited for.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { processStart, STALE_MS, takeLock } from "../src/core/lock.js";
import { tmpDir } from "./helpers/cosim.js";

function fakeLock(lock: string, owner: { host?: string; pid?: string }, ageMs: number): void {
  fs.mkdirSync(lock);
  if (owner.pid !== undefined) fs.writeFileSync(path.join(lock, "pid"), owner.pid);
  if (owner.host !== undefined) fs.writeFileSync(path.join(lock, "host"), owner.host);
  const t = new Date(Date.now() - ageMs);
  for (const f of [lock, ...(owner.pid !== undefined ? [path.join(lock, "pid")] : [])]) fs.utimesSync(f, t, t);
}

/** Whether takeLock returns within `ms` (taking the lock), or is still waiting. */
async function takesWithin(lock: string, ms: number): Promise<{ took: boolean; logs: string[] }> {
  const logs: string[] = [];
  let done = false;
  const p = takeLock(lock, () => false, (s) => logs.push(s), "test").then((release) => {
    done = true;
    return release;
  });
  const t0 = Date.now();
  while (!done && Date.now() - t0 < ms) await new Promise((r) => setTimeout(r, 50));
  const took = done;
  if (took) {
    const release = await p;
    // The lock now names this process.
    expect(fs.readFileSync(path.join(lock, "host"), "utf8")).toBe(os.hostname());
    expect(Number(fs.readFileSync(path.join(lock, "pid"), "utf8"))).toBe(process.pid);
    release!();
    expect(fs.existsSync(lock)).toBe(false);
  } else {
    // Let the waiter through so it does not outlive the test.
    fs.rmSync(lock, { recursive: true, force: true });
    (await p)!();
  }
  return { took, logs };
}

describe("cache locks", () => {
  it("wait for a live owner, here or on another host, while it is fresh", async () => {
    const dir = tmpDir("lock");
    // pid 1 is alive and is not us: a live owner on this host.
    fakeLock(path.join(dir, "a.lock"), { host: os.hostname(), pid: "1" }, 0);
    const here = await takesWithin(path.join(dir, "a.lock"), 1500);
    expect(here.took).toBe(false);
    expect(here.logs.join("\n")).toMatch(/test: waiting for another oltron process \(pid 1\)/);
    fakeLock(path.join(dir, "b.lock"), { host: "node-17", pid: "4242" }, 0);
    const there = await takesWithin(path.join(dir, "b.lock"), 1500);
    expect(there.took).toBe(false);
    expect(there.logs.join("\n")).toMatch(/\(pid 4242 on node-17\)/);
  });

  it("take over a dead owner here at once, and any lock untouched for STALE_MS", async () => {
    const dir = tmpDir("lock-stale");
    // A pid that has exited: this process's child, reaped.
    const { execFileSync } = await import("node:child_process");
    const dead = execFileSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" });
    fakeLock(path.join(dir, "dead.lock"), { host: os.hostname(), pid: dead }, 0);
    const d = await takesWithin(path.join(dir, "dead.lock"), 3000);
    expect(d.took).toBe(true);
    expect(d.logs.join("\n")).toMatch(new RegExp(`its owner, pid ${dead}, has exited`));
    // A live pid (1) without a start time recorded, an owner on another node: stale by age.
    for (const [name, owner] of [["reused", { host: os.hostname(), pid: "1" }], ["remote", { host: "node-17", pid: "4242" }]] as const) {
      fakeLock(path.join(dir, `${name}.lock`), owner, STALE_MS + 5000);
      const r = await takesWithin(path.join(dir, `${name}.lock`), 3000);
      expect(r.took, name).toBe(true);
      expect(r.logs.join("\n"), name).toMatch(/untouched for \d+ s/);
    }
  });

  it("take over a malformed lock a few seconds after it was made, and a pid that now belongs to another process at once", async () => {
    const dir = tmpDir("lock-malformed");
    for (const [name, owner] of [["empty", {}], ["garbage", { pid: "abc" }], ["negative", { pid: "-5" }]] as const) {
      fakeLock(path.join(dir, `${name}.lock`), owner, 0);
      expect((await takesWithin(path.join(dir, `${name}.lock`), 1000)).took, `${name}, just made`).toBe(false);
      fakeLock(path.join(dir, `${name}.lock`), owner, 15_000);
      const r = await takesWithin(path.join(dir, `${name}.lock`), 3000);
      expect(r.took, name).toBe(true);
      expect(r.logs.join("\n"), name).toMatch(/it holds no valid owner record \(pid file missing or not a pid\) after \d+ s/);
    }
    // pid 1 is alive, but started long before the owner this lock records.
    const lock = path.join(dir, "reused.lock");
    fakeLock(lock, { host: os.hostname(), pid: "1" }, 0);
    fs.writeFileSync(path.join(lock, "start"), String(Number(processStart(1)) + 12345));
    const r = await takesWithin(lock, 3000);
    expect(r.took).toBe(true);
    expect(r.logs.join("\n")).toMatch(/pid 1 now belongs to another process/);
  });

  it("wait for a live owner on this host however long its lock goes untouched, and at most the wait limit, naming the lock", async () => {
    const dir = tmpDir("lock-bound");
    const owner = spawn("sleep", ["60"]);
    try {
      const lock = path.join(dir, "busy.lock");
      fakeLock(lock, { host: os.hostname(), pid: String(owner.pid) }, STALE_MS + 5000);
      fs.writeFileSync(path.join(lock, "start"), processStart(owner.pid!)!);
      const t0 = Date.now();
      const err = await takeLock(lock, () => false, () => {}, "sim", 1500).then(() => undefined, (e: Error) => e);
      expect(err?.message).toMatch(/^sim: waited \d+ s for another oltron process \(pid \d+\) holding .*busy\.lock; stopped at the wait limit \(--max-seconds\)/);
      expect(err?.message).toContain(`(pid ${owner.pid}) holding ${lock};`);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(1500);
      expect(fs.existsSync(lock)).toBe(true);
    } finally {
      owner.kill();
    }
  });
});
