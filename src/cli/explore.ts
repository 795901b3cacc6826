/**
 * `oltron explore`: the design-space sweep (flows/explore.ts) with progress, resumable results
 * and the report (report/explore.ts).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type { Command } from "commander";
import { progress } from "../core/console.js";
import { UserError } from "../core/errors.js";
import { checkOutputFolder, writeFileAtomic } from "../core/files.js";
import { GENERATOR_VERSION, type ElaboratedDesign } from "../hw/design.js";
import { CONTROL_ACTIVITY, DRAM_SOURCE } from "../flows/energy.js";
import { blockResults, evaluatePoint, explorePoints, pointDesign, pointKey, storePoint, storedPoint, sweepSilicon, type PointResult } from "../flows/explore.js";
import { exploreConfigSchema, loadExploreConfig } from "../flows/explore-config.js";
import { blocksCsv, energyRanking, exploreHtml, pointsCsv, sensitivityStudy, type ExploreReport } from "../report/explore.js";
import { RAM_TABLE } from "../hw/ramcost.js";
import { log } from "./options.js";

/** The file that marks a folder as an explore results folder (written before anything else). */
const MARKER = "explore-config.json";

function checkResultsFolder(out: string): void {
  checkOutputFolder("--out", out);
  if (!fs.existsSync(out)) return;
  const entries = fs.readdirSync(out);
  if (entries.length > 0 && !entries.includes(MARKER)) {
    throw new UserError(`--out ${out} holds files oltron explore did not write (no ${MARKER}); give an empty or new folder, or an earlier explore's results folder`);
  }
}

export function registerExploreCommand(program: Command): void {
  program
    .command("explore")
    .description(
      "design-space sweep: architectures x sizes x flexible lines x salient types x bit budgets x layers, each priced for accuracy (held-out SQNR), cycles (cycle model), " +
        "area and Fmax (Yosys + OpenSTA), energy (OpenSTA power, RAM table, DRAM pJ/bit); writes JSON, CSV and an HTML report with Pareto plots; resumable (docs/ppa.md)",
    )
    .option("--config <file>", `sweep configuration (JSON or YAML; keys ${Object.keys(exploreConfigSchema.shape).join(", ")}); default: the four architectures at 16x16 and 64x64 on LLaMA-7B layers`)
    .option("--out <dir>", "results folder (kept: a later run with it recomputes nothing finished)", "explore-results")
    .option("--rtl-sample", "also co-simulate every point's accuracy sample with Verilator and report its cycles and activity beside the model's (slow: one simulator build per design)")
    .option("--json", "print the report data (explore.json) on stdout")
    .action(async (o: { config?: string; out: string; json?: boolean; rtlSample?: boolean }) => {
      const cfg = loadExploreConfig(o.config);
      checkResultsFolder(o.out);
      fs.mkdirSync(o.out, { recursive: true });
      writeFileAtomic(path.join(o.out, MARKER), JSON.stringify(cfg, null, 1) + "\n");
      const points = explorePoints(cfg);
      const designs = new Map<string, ElaboratedDesign>();
      const designOf = points.map((p) => {
        const d = pointDesign(p);
        if (!designs.has(d.name)) designs.set(d.name, d);
        return designs.get(d.name)!;
      });
      log(`explore: ${points.length} points on ${designs.size} designs; results in ${o.out}`);
      const si = await sweepSilicon([...designs.values()], log);
      const results: PointResult[] = [];
      let reused = 0;
      const bar = progress("explore", points.length, "points");
      for (const [i, p] of points.entries()) {
        const d = designOf[i];
        const key = pointKey(p, cfg, d, o.rtlSample === true);
        let r = storedPoint(o.out, key);
        if (r) reused++;
        else {
          r = await evaluatePoint(p, cfg, d, si.get(d.name)!, { rtl: o.rtlSample === true, log });
          storePoint(o.out, r);
        }
        results.push(r);
        bar.update(i + 1);
      }
      bar.stop();
      const blocks = blockResults(results, si, cfg.tokens);
      const report: ExploreReport = {
        generator: GENERATOR_VERSION, config: cfg, blocks, points: results,
        sensitivity: sensitivityStudy(blocks), ranking: energyRanking(blocks),
        sources: {
          accuracy: `each architecture's quantizer on synthetic LLaMA-like layers (${cfg.calibTokens} calibration tokens, ${cfg.evalTokens} held-out tokens, ${cfg.sampleN} sampled output channels), scored by the golden model (bit-exact with the RTL) against the float product`,
          cycles: "cycle model (image/cycles.ts), exact against RTL co-simulation at fixed memory latency on its validation set (test/cyclemodel.test.ts)",
          events: "array activity read from the sample's images (image/activity.ts, equal to the RTL's monitors: test/events.test.ts), scaled to the full layer; RAM and DRAM accesses from the layout",
          area: "Yosys mapping to the OSU 0.18 um liberty (cell areas); RAMs from the RAM table",
          fmax: "OpenSTA on the mapped netlist, no wire load",
          energy: `OpenSTA report_power per module (quiet cycle + input groups at the measured activities; control inputs at ${CONTROL_ACTIVITY}); RAM table (${RAM_TABLE.source}); DRAM ${DRAM_SOURCE}`,
        },
      };
      writeFileAtomic(path.join(o.out, "explore.json"), JSON.stringify(report, null, 1) + "\n");
      writeFileAtomic(path.join(o.out, "points.csv"), pointsCsv(results));
      writeFileAtomic(path.join(o.out, "blocks.csv"), blocksCsv(blocks));
      writeFileAtomic(path.join(o.out, "explore.html"), exploreHtml(report));
      if (o.json) console.log(JSON.stringify(report, null, 1));
      (o.json ? log : console.log)(
        `explore: ${results.length} points (${reused} from earlier runs), ${blocks.length} design points; wrote explore.html (Pareto plots), explore.json, points.csv, blocks.csv in ${o.out}\n` +
          `energy per token, best first: ${report.ranking.join(" < ")}`,
      );
    });
}
