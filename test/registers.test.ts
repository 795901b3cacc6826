/**
 * One list (src/hw/registers.ts) makes the control slave's read mux, the C header and the
 * documentation: the three agree, and the registers read back over AXI4-Lite in simulation.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { generateRtl } from "../src/hw/generate.js";
import { ERROR_CODES, errorCodesMarkdown, REG_MAGIC, registerMapMarkdown, registers } from "../src/hw/registers.js";
import { design, tmpDir } from "./helpers/cosim.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

describe("register map", () => {
  const d = design({});

  it("has unique, word-aligned offsets inside the 8-bit address space", () => {
    const regs = registers(d);
    const offsets = regs.map((r) => r.offset);
    expect(new Set(offsets).size).toBe(regs.length);
    for (const o of offsets) {
      expect(o % 4).toBe(0);
      expect(o).toBeLessThan(256);
    }
    expect(new Set(ERROR_CODES.map((e) => e.code)).size).toBe(ERROR_CODES.length);
  });

  it("docs/architecture.md carries the generated register map and error codes", () => {
    const doc = fs.readFileSync(path.join(ROOT, "docs/architecture.md"), "utf8");
    const section = (tag: string) => new RegExp(`<!-- ${tag}:begin -->\\n([\\s\\S]*?)\\n<!-- ${tag}:end -->`).exec(doc)?.[1];
    expect(section("registers")).toBe(registerMapMarkdown(d));
    expect(section("errors")).toBe(errorCodesMarkdown());
  });

  it("the C header defines every register and error code with the generated values", async () => {
    const rtl = generateRtl(d);
    const dir = tmpDir("regs");
    try {
      const [hName, hText] = Object.entries(rtl.header)[0];
      fs.writeFileSync(path.join(dir, hName), hText);
      const regs = registers(d);
      const checks = [
        ...regs.map((r) => `if (OLTRON_REG_${r.name} != ${r.offset}u) return 1;`),
        ...ERROR_CODES.map((e) => `if (OLTRON_ERR_${e.name} != ${e.code}u) return 2;`),
        `if (OLTRON_ID_MAGIC != ${REG_MAGIC}u) return 3;`,
      ];
      fs.writeFileSync(path.join(dir, "check.c"), `#include "${hName}"\nint main(void) {\n${checks.join("\n")}\nreturn 0;\n}\n`);
      const cc = await execa("cc", ["-Wall", "-Werror", "-o", path.join(dir, "check"), path.join(dir, "check.c")], { reject: false, all: true });
      expect(cc.all).toBe("");
      const run = await execa(path.join(dir, "check"), [], { reject: false });
      expect(run.exitCode).toBe(0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("the control slave's read mux decodes exactly the readable registers", () => {
    const ctrl = Object.entries(generateRtl(d).sources).find(([n]) => n.endsWith("_ctrl.v"))![1];
    for (const r of registers(d)) {
      const decoded = ctrl.includes(`A_${r.name}: rd_mux =`);
      expect(decoded, r.name).toBe(r.read !== undefined);
    }
  });
});
