/**
 * A simulation result as JUnit XML, the test report CI systems read (GitLab, Jenkins, GitHub
 * test reporters): one test suite per run, one test case per layer; a layer whose outputs
 * mismatch is a failure, a run that did not finish (hang, accelerator error, protocol
 * violation) makes every layer an error. Every value is escaped: names come from files.
 */
import { escapeXml } from "../core/xml.js";
import { whyUnfinished, type SimResult } from "../flows/simulate.js";


export function junitXml(r: SimResult, command: string): string {
  const done = r.status === "done";
  const why = whyUnfinished(r);
  const failures = done ? r.layers.filter((l) => l.mismatches > 0).length : 0;
  const errors = done ? 0 : r.layers.length;
  const seconds = r.wallSeconds.toFixed(3);
  const suite = `${command} ${r.design} on ${r.simulator}`;
  const props: [string, string | number][] = [
    ["design", r.design], ["arch", r.arch], ["simulator", r.simulator], ["status", r.status],
    ["cycles.total", r.cycles.total], ["mismatches", r.mismatches], ["oltron", r.provenance.oltron],
  ];
  const cases = r.layers.map((l) => {
    const first = r.firstMismatches.filter((m) => m.layer === l.name)
      .map((m) => `token ${m.token} channel ${m.channel}: expected ${m.expected}, got ${m.actual}`).join("\n");
    const body = !done
      ? `      <error type="${escapeXml(r.status)}" message="${escapeXml(why)}"/>\n`
      : l.mismatches > 0
        ? `      <failure type="mismatch" message="${escapeXml(`${l.mismatches} output(s) differ from the golden model`)}">${escapeXml(first)}</failure>\n`
        : "";
    // The name stays the layer's, so CI tools track a test across runs; figures go to its output.
    const out = `${l.m}x${l.k}x${l.n}, ${l.mismatches} mismatch(es)${l.cycles ? `, ${l.cycles.total} cycles` : ""}`;
    return `    <testcase classname="${escapeXml(`oltron.${r.design}`)}" name="${escapeXml(l.name)}" time="0">\n${body}      <system-out>${escapeXml(out)}</system-out>\n    </testcase>\n`;
  });
  return `<?xml version="1.0" encoding="UTF-8"?>\n` +
    `<testsuites name="oltron" tests="${r.layers.length}" failures="${failures}" errors="${errors}" time="${seconds}">\n` +
    `  <testsuite name="${escapeXml(suite)}" tests="${r.layers.length}" failures="${failures}" errors="${errors}" skipped="0" time="${seconds}" timestamp="${escapeXml(r.provenance.startedAt)}">\n` +
    `    <properties>\n${props.map(([k, v]) => `      <property name="${escapeXml(k)}" value="${escapeXml(v)}"/>\n`).join("")}    </properties>\n` +
    cases.join("") +
    `  </testsuite>\n</testsuites>\n`;
}

