/**
 * Progress on stderr: a plain line every PLAIN_INTERVAL_SECONDS when stderr is not a terminal
 * (the live bar on a terminal is exercised through a pseudo-terminal in cli.test.ts), and
 * nothing with --quiet.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { PLAIN_INTERVAL_SECONDS, progress, setVerbosity } from "../src/core/console.js";

afterEach(() => {
  vi.useRealTimers();
  setVerbosity("normal");
});

describe("progress without a terminal", () => {
  it("prints value, total, percentage and elapsed time every interval, from the timer and from updates", () => {
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval", "performance"] });
    const lines: string[] = [];
    const p = progress("sim: verilator", 2000, "cycles", (s) => lines.push(s));
    p.update(500);
    expect(lines).toEqual([]);
    vi.advanceTimersByTime(PLAIN_INTERVAL_SECONDS * 1000);
    expect(lines).toEqual([`sim: verilator: 500/2000 cycles (25%), ${PLAIN_INTERVAL_SECONDS} s`]);
    // A revised estimate is shown as given; synchronous work reports through update().
    vi.advanceTimersByTime(PLAIN_INTERVAL_SECONDS * 1000 - 1);
    p.update(2500, 3000);
    expect(lines).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(lines[1]).toBe(`sim: verilator: 2500/3000 cycles (83%), ${2 * PLAIN_INTERVAL_SECONDS} s`);
    p.stop();
    vi.advanceTimersByTime(10 * PLAIN_INTERVAL_SECONDS * 1000);
    expect(lines).toHaveLength(2);
  });

  it("says nothing with --quiet", () => {
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval", "performance"] });
    setVerbosity("quiet");
    const lines: string[] = [];
    const p = progress("bench: layer sweep", 4, "cases", (s) => lines.push(s));
    p.update(1);
    vi.advanceTimersByTime(5 * PLAIN_INTERVAL_SECONDS * 1000);
    p.stop();
    expect(lines).toEqual([]);
  });
});
